// Workers and devices: heartbeat age, load, machine figures, and draining.
import { ApiError, post, get } from "../api.js";
import { badge, bytes, dataTable, duration, empty, h, link, meter, percent, relative, rowLink, toast } from "../ui.js";

/** A device's clock minus the server's: "+0.120 s", "−1.5 s"; "–" before its first heartbeat. */
function offsetText(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return `${seconds >= 0 ? "+" : "−"}${duration(Math.abs(seconds))}`;
}

export default {
  title: "Workers",
  async mount(container) {
    const totals = h("div", { class: "cards" });
    const table = h("div", { class: "panel flush" });
    const devicesPanel = h("div", { "data-testid": "devices" });
    container.append(h("h1", {}, "Workers and devices"), totals, devicesPanel, table);
    let data = null, devices = [], fetchedAt = 0;
    const refresh = async () => {
      [data, devices] = await Promise.all([get("/system"), get("/devices").then((body) => body.devices)]);
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
      // Devices (workers tagged `device`) hold reminders ahead of their time and ring them by
      // their own clock: what each holds, its next one, and how far its clock is off.
      devicesPanel.replaceChildren(...(devices.length === 0 ? [] : [h("h2", {}, "Devices"), h("div", { class: "panel flush" },
        dataTable({ "data-testid": "devices-table", id: "devices" },
          [{ label: "Device" }, { label: "State" }, { label: "Last seen", key: (tr) => Number(tr.dataset.age) },
            { label: "Held", num: true }, { label: "Waiting", num: true }, { label: "Next", key: (tr) => tr.dataset.next },
            { label: "Clock offset", num: true, key: (tr) => Number(tr.dataset.offset) }],
          devices.map((d) => {
            const age = d.last_seen_at ? Math.max(0, (fetchedAt - Date.parse(d.last_seen_at)) / 1000) : null;
            return rowLink(`/workers/${encodeURIComponent(d.name)}`, { "data-device": d.name, "data-age": age ?? 1e12,
              "data-next": d.next ? d.next.due_at : "~", "data-offset": d.clock_offset_s ?? 0 },
              h("td", {}, link(`/workers/${encodeURIComponent(d.name)}`, h("strong", {}, d.name))),
              h("td", {}, badge(d.state)),
              h("td", {}, age === null ? "–" : `${duration(age + (d.online ? since : 0))} ago`),
              h("td", { "data-testid": `held-${d.name}` }, String(d.held)),
              h("td", {}, String(d.waiting)),
              h("td", { "data-testid": `next-${d.name}` }, d.next ? [h("div", {}, d.next.text), h("div", { class: "muted" }, relative(d.next.due_at))] : "–"),
              h("td", { "data-testid": `offset-${d.name}`, title: "its clock minus the server's, from its last heartbeat" }, offsetText(d.clock_offset_s)));
          })))]));
      // A heartbeat reports the machine's figures (shared by the workers on one host, so those
      // columns say "host") and the worker process's own (itself and its task processes).
      table.replaceChildren(data.workers.length === 0 ? empty("No worker has connected yet. Start one with `rota worker --server URL`.") : dataTable({ "data-testid": "workers-table", id: "workers" },
        [{ label: "Name" }, { label: "State" }, { label: "Tags" }, { label: "Queues" },
          { label: "Heartbeat", key: (tr) => Number(tr.dataset.age) }, { label: "Running", key: (tr) => Number(tr.dataset.load) },
          { label: "Host CPU", key: (tr) => Number(tr.dataset.cpu) }, { label: "Host memory", key: (tr) => Number(tr.dataset.memory) },
          { label: "Host disk", key: (tr) => Number(tr.dataset.disk) },
          { label: "Process CPU / RSS", key: (tr) => Number(tr.dataset.pcpu) }, { label: "GPU" }, { label: "", sort: false }],
        data.workers.map((w) => {
          const r = w.resources || {};
          const gpus = r.gpus || [];
          return rowLink(`/workers/${encodeURIComponent(w.name)}`, { "data-worker": w.name, "data-age": w.heartbeat_age_s ?? 1e12, "data-load": w.capacity ? w.running / w.capacity : 0,
            "data-cpu": r.cpu_percent ?? -1, "data-memory": r.memory_percent ?? -1, "data-disk": r.disk_percent ?? -1, "data-pcpu": r.process_cpu_percent ?? -1 },
            h("td", {}, h("div", {}, link(`/workers/${encodeURIComponent(w.name)}`, h("strong", {}, w.name)),
              w.tags.includes("device") ? h("div", {}, h("span", { class: "chip device", "data-testid": `device-badge-${w.name}` }, "device")) : null,
              r.host ? h("div", { class: "muted" }, `on ${r.host}`) : null)),
            h("td", {}, badge(w.state)),
            // A device's own tags (`device`, `device:<name>`) are said by its badge.
            h("td", {}, h("div", { class: "chips" }, w.tags.filter((t) => t !== "device" && t !== `device:${w.name}`)
              .map((t) => h("span", { class: "chip" }, t)))),
            h("td", {}, w.queues.join(", ")),
            h("td", {}, w.heartbeat_age_s === null ? "–" : `${duration(w.heartbeat_age_s + (w.state === "offline" ? 0 : since))} ago`),
            h("td", {}, meter(w.capacity ? w.running / w.capacity : 0, `${w.running}/${w.capacity}`)),
            h("td", {}, r.cpu_percent === undefined ? "–" : meter(r.cpu_percent / 100)),
            h("td", {}, r.memory_percent === undefined ? "–" : meter(r.memory_percent / 100)),
            h("td", {}, r.disk_percent === undefined || r.disk_percent === null ? "–" : meter(r.disk_percent / 100)),
            h("td", { "data-testid": `process-${w.name}` }, r.process_rss_bytes === undefined ? "–"
              : [r.process_cpu_percent === null || r.process_cpu_percent === undefined ? "–" : meter(r.process_cpu_percent / 100),
                h("div", { class: "muted" }, `RSS ${bytes(r.process_rss_bytes)}`)]),
            h("td", {}, gpus.length === 0 ? "–" : gpus.map((g) => h("div", {}, `${g.name}: ${percent(g.utilization_percent)}, ${bytes(g.memory_used_bytes)}/${bytes(g.memory_total_bytes)}`))),
            h("td", { "data-label": "" }, w.state === "online" ? h("button", { onclick: () => drain(w.name), "data-testid": `drain-${w.name}`, needs: "admin" }, "Drain") : null));
        })));
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
