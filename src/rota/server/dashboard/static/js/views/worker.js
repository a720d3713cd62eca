// One worker: what it is, what it runs now, what it ran, the tasks it announced, its
// machine's figures over time, and draining.
import { ApiError, get, post } from "../api.js";
import { ago, badge, bytes, dataTable, empty, h, link, meter, percent, progressLine, rowLink, s, shortId, toast, when } from "../ui.js";

export default {
  title: "Worker",
  async mount(container, [name]) {
    name = decodeURIComponent(name);
    const body = h("div");
    container.append(body);
    let data = null;
    const refresh = async () => {
      data = await get(`/workers/${encodeURIComponent(name)}`);
      draw();
    };
    const drain = async () => {
      try {
        await post(`/workers/${encodeURIComponent(name)}/drain`);
        toast(`${name} is draining`);
      } catch (error) { toast(error instanceof ApiError ? error.message : String(error), "error"); }
      await refresh();
    };
    function draw() {
      const r = data.resources || {};
      const fields = h("dl", { class: "fields" },
        ...pair("State", badge(data.state)), ...pair("Host", r.host || "–"), ...pair("Server", data.server || "–"),
        ...pair("Queues", data.queues.join(", ") || "–"), ...pair("Tags", data.tags.join(", ") || "–"),
        ...pair("Slots", meter(data.capacity ? data.running / data.capacity : 0, `${data.running}/${data.capacity}`)),
        ...pair("Process CPU / RSS", h("span", { "data-testid": "process" },
          r.process_rss_bytes === undefined ? "–" : `${percent(r.process_cpu_percent)} / ${bytes(r.process_rss_bytes)}`,
          h("span", { class: "muted" }, ` (host ${percent(r.cpu_percent)} / ${bytes(r.memory_used_bytes)})`))),
        ...pair("Connected", when(data.connected_at)), ...pair("Last heartbeat", data.last_seen_at ? [when(data.last_seen_at), ` (${ago(data.last_seen_at)})`] : "–"));
      const tasks = h("div", { class: "panel" }, h("h2", {}, `Tasks it announced (${data.tasks.length})`),
        data.tasks.length === 0 ? empty("None.") : h("div", { class: "chips", "data-testid": "worker-tasks" },
          data.tasks.map((t) => link(`/jobs?task=${encodeURIComponent(t)}`, t, { class: "chip" }))));
      const machine = h("div", { class: "panel" }, h("h2", {}, `Host ${r.host || ""}: figures over the last hour`),
        h("p", { class: "muted", style: "margin-top:0" }, "What the worker's machine reports (shared by every worker on it), and the worker process's own CPU (with its task processes)."),
        h("div", { class: "sparks", "data-testid": "resources" },
          spark("CPU", data.samples.map((x) => x.resources.cpu_percent), percent),
          spark("Memory", data.samples.map((x) => x.resources.memory_percent), percent),
          spark("Process CPU", data.samples.map((x) => x.resources.process_cpu_percent), percent),
          spark("Busy slots", data.samples.map((x) => data.capacity ? (100 * x.running) / data.capacity : 0),
            () => `${data.running}/${data.capacity}`)),
        h("p", { class: "muted" }, `memory ${bytes(r.memory_used_bytes)} of ${bytes(r.memory_total_bytes)} · disk ${bytes(r.disk_used_bytes)} of ${bytes(r.disk_total_bytes)}`));
      const jobsTable = (jobs, testid, running) => jobs.length === 0 ? empty(running ? "Nothing running." : "No jobs yet.") : dataTable({ "data-testid": testid, id: testid },
        [{ label: "Job", sort: false }, { label: "Task" }, { label: "State" }, { label: "Started", key: (tr) => tr.dataset.started || "" }],
        jobs.map((j) => rowLink(`/jobs/${j.id}`, { "data-job": j.id, "data-started": j.started_at },
          h("td", { class: "mono" }, link(`/jobs/${j.id}`, shortId(j.id), { title: j.id })), h("td", {}, j.task),
          h("td", {}, badge(j.state), j.state === "running" ? progressLine({ progress: j.progress, message: j.progress_message, startedAt: j.started_at }) : null),
          h("td", {}, when(j.started_at)))));
      body.replaceChildren(
        h("h1", {}, "Worker", h("span", { class: "mono" }, name), h("span", { "data-testid": "state" }, badge(data.state)), h("span", { class: "spacer" }),
          data.state === "online" ? h("button", { "data-testid": "drain", needs: "admin", onclick: drain }, "Drain") : null),
        h("div", { class: "grid2" }, h("div", { class: "panel" }, fields), machine),
        h("div", { class: "panel" }, h("h2", {}, "Running now"), jobsTable(data.running_jobs, "running-jobs", true)),
        h("div", { class: "panel" }, h("h2", {}, "Recent jobs"), jobsTable(data.recent_jobs, "recent-jobs", false)),
        tasks);
    }
    await refresh();
    const poller = setInterval(refresh, 5000);
    return {
      refresh,
      notice: (kind, notice) => kind === "worker" ? notice.name !== name : false,
      destroy: () => clearInterval(poller),
    };
  },
};

/** A small line of percentages over time, with its newest value. */
function spark(label, values, show) {
  const width = 240, height = 40;
  const points = values.map((v, i) => [values.length < 2 ? width : (i * width) / (values.length - 1), height - (Math.max(0, Math.min(100, v ?? 0)) / 100) * height]);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "spark", role: "img", "aria-label": `${label} over the last hour` },
    s("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "var(--running)", "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" }));
  const newest = values.length ? values[values.length - 1] : null;
  return h("div", { class: "spark-row" }, h("span", { class: "muted" }, label), values.length ? svg : h("span", { class: "muted" }, "no samples"),
    h("span", {}, newest === null ? "–" : show(newest)));
}

function pair(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}
