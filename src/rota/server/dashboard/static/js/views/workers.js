// Workers and devices: heartbeat age, load, machine figures, and draining.
import { ApiError, post, get } from "../api.js";
import { badge, bytes, duration, empty, h, meter, percent, toast } from "../ui.js";

export default {
  title: "Workers",
  async mount(container) {
    const totals = h("div", { class: "cards" });
    const table = h("div", { class: "panel", style: "padding:0" });
    container.append(h("h1", {}, "Workers and devices"), totals, table);
    let data = null, fetchedAt = 0;
    const refresh = async () => {
      data = await get("/system");
      fetchedAt = Date.now();
      draw();
    };
    const drain = async (name) => {
      try {
        await post(`/workers/${encodeURIComponent(name)}/drain`);
        toast(`${name} is draining`);
      } catch (error) {
        toast(error instanceof ApiError ? error.message : String(error), "error");
      }
      await refresh();
    };
    function draw() {
      const t = data.totals;
      const card = (label, value, sub) => h("div", { class: "card" }, h("div", { class: "label" }, label),
        h("div", { class: "value" }, value), h("div", { class: "sub" }, sub));
      totals.replaceChildren(
        card("Workers online", t.workers_online, `${t.machines} machine(s)`),
        card("CPU", percent(t.cpu_percent), `${t.cpu_count || "–"} cores`),
        card("Memory", bytes(t.memory_used_bytes), `of ${bytes(t.memory_total_bytes)}`),
        card("Disk", bytes(t.disk_used_bytes), `of ${bytes(t.disk_total_bytes)}`),
        card("GPUs", t.gpu_count, t.gpu_count ? `${bytes(t.gpu_memory_used_bytes)} of ${bytes(t.gpu_memory_total_bytes)}` : "none reported"));
      const since = (Date.now() - fetchedAt) / 1000;
      table.replaceChildren(data.workers.length === 0 ? empty("No worker has connected yet. Start one with `rota worker --server URL`.") : h("table", { "data-testid": "workers-table" },
        h("thead", {}, h("tr", {}, ...["Name", "State", "Tags", "Queues", "Heartbeat", "Running", "CPU", "Memory", "Disk", "GPU", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, data.workers.map((w) => {
          const r = w.resources || {};
          const gpus = r.gpus || [];
          return h("tr", { "data-worker": w.name },
            h("td", {}, h("strong", {}, w.name), r.host ? h("div", { class: "muted" }, r.host) : null),
            h("td", {}, badge(w.state)),
            h("td", {}, h("div", { class: "chips" }, w.tags.map((t) => h("span", { class: "chip" }, t)))),
            h("td", {}, w.queues.join(", ")),
            h("td", {}, w.heartbeat_age_s === null ? "–" : `${duration(w.heartbeat_age_s + (w.state === "offline" ? 0 : since))} ago`),
            h("td", {}, meter(w.capacity ? w.running / w.capacity : 0, `${w.running}/${w.capacity}`)),
            h("td", {}, r.cpu_percent === undefined ? "–" : meter(r.cpu_percent / 100)),
            h("td", {}, r.memory_percent === undefined ? "–" : meter(r.memory_percent / 100)),
            h("td", {}, r.disk_percent === undefined || r.disk_percent === null ? "–" : meter(r.disk_percent / 100)),
            h("td", {}, gpus.length === 0 ? "–" : gpus.map((g) => h("div", {}, `${g.name}: ${percent(g.utilization_percent)}, ${bytes(g.memory_used_bytes)}/${bytes(g.memory_total_bytes)}`))),
            h("td", {}, w.state === "online" ? h("button", { onclick: () => drain(w.name), "data-testid": `drain-${w.name}` }, "Drain") : null));
        }))));
    }
    await refresh();
    const ticker = setInterval(draw, 1000);      // heartbeat ages move every second
    const poller = setInterval(refresh, 5000);   // heartbeats of workers on other servers
    return {
      refresh,
      notice: (kind) => kind !== "worker",  // only worker changes matter here
      destroy: () => { clearInterval(ticker); clearInterval(poller); },
    };
  },
};
