// Overview: throughput over the last hour, queues, lateness and workers.
import { get } from "../api.js";
import { throughputChart } from "../chart.js";
import { dataTable, duration, empty, h, link, rowLink } from "../ui.js";

export default {
  title: "Overview",
  async mount(container) {
    const body = h("div");
    container.append(h("h1", {}, "Overview"), body);
    let data = null;
    const draw = () => {
      const [cards, chartPanel, queues] = drawParts(data);
      body.replaceChildren(cards, chartPanel, queues);
      // Drawn at its real width once placed, so its text is never stretched or squashed.
      const plot = chartPanel.querySelector(".plot");
      plot.append(throughputChart({ buckets: data.throughput, spanS: data.span_s, bucketS: data.bucket_s,
        endMs: Date.parse(data.at), width: plot.clientWidth }));
    };
    const refresh = async () => {
      data = await get("/overview");
      draw();
    };
    await refresh();
    let lastWidth = body.clientWidth;
    const resized = () => { if (data && body.clientWidth !== lastWidth) { lastWidth = body.clientWidth; draw(); } };
    window.addEventListener("resize", resized);
    const timer = setInterval(refresh, 10_000);  // the chart's window slides even when idle
    return { refresh, destroy: () => { clearInterval(timer); window.removeEventListener("resize", resized); } };
  },
};

/** The newest bucket that has ended by `at`: the bucket under way is only part counted. */
export function lastCompleteBucket(throughput, atMs, bucketS) {
  const done = throughput.filter((b) => Date.parse(b.start_at) + bucketS * 1000 <= atMs);
  const newest = done.length ? done[done.length - 1] : null;
  // A minute with no job has no bucket: it counts as zero only if it is the last complete one.
  const lastStart = Math.floor(atMs / 1000 / bucketS) * bucketS * 1000 - bucketS * 1000;
  return newest && Date.parse(newest.start_at) === lastStart ? newest : { succeeded: 0, failed: 0 };
}

function drawParts(data) {
  const { throughput, lateness, queues, workers } = data;
  const last = lastCompleteBucket(throughput, Date.parse(data.at), data.bucket_s);
  const hourOk = throughput.reduce((sum, b) => sum + b.succeeded, 0);
  const hourBad = throughput.reduce((sum, b) => sum + b.failed, 0);
  const pending = queues.reduce((sum, q) => sum + q.pending, 0);
  const due = queues.reduce((sum, q) => sum + q.due, 0);
  const running = queues.reduce((sum, q) => sum + q.running, 0);
  const card = (label, value, sub, testid) =>
    h("div", { class: "card", "data-testid": testid }, h("div", { class: "label" }, label),
      h("div", { class: "value" }, value), h("div", { class: "sub" }, sub));
  const cards = h("div", { class: "cards" },
    card("Succeeded / s", rate(last.succeeded, data.bucket_s), `last full minute · ${hourOk} in the last hour`, "succeeded-rate"),
    card("Failed / s", rate(last.failed, data.bucket_s), `last full minute · ${hourBad} in the last hour`, "failed-rate"),
    card("Pending", pending, `${due} due now`, "pending"),
    card("Running", running, `${workers.running}/${workers.capacity} slots busy`, "running"),
    card("Lateness p50", duration(lateness.p50_s), `p99 ${duration(lateness.p99_s)} · ${lateness.samples} jobs`, "lateness"),
    card("Workers online", workers.online, `of ${workers.total} known`, "workers-online"));
  const chart = h("div", { class: "panel chart" },
    h("div", { class: "toolbar" }, h("h2", { style: "margin:0" }, "Jobs per second, last hour"),
      h("span", { class: "spacer" }),
      h("div", { class: "legend" }, h("span", {}, h("i", { style: "background:var(--succeeded)" }), "succeeded"),
        h("span", {}, h("i", { style: "background:var(--failed)" }), "failed"))),
    h("div", { class: "plot" }));
  const table = queues.length === 0 ? empty("No pending or running jobs.") : dataTable({ "data-testid": "queues-table" },
    [{ label: "Queue" }, { label: "Pending", num: true }, { label: "Due", num: true }, { label: "Running", num: true },
      { label: "Oldest due", num: true, key: (tr) => Number(tr.dataset.oldest) }],
    queues.map((q) => rowLink(`/jobs?queue=${encodeURIComponent(q.queue)}`, { "data-oldest": q.oldest_due_age_s ?? -1 },
      h("td", {}, link(`/jobs?queue=${encodeURIComponent(q.queue)}`, q.queue)),
      h("td", {}, q.pending), h("td", {}, q.due),
      h("td", {}, q.running), h("td", {}, q.oldest_due_age_s === null ? "–" : duration(q.oldest_due_age_s)))));
  return [cards, chart, h("div", { class: "panel" }, h("h2", {}, "Queues"), table)];
}

function rate(count, bucketS) {
  const value = count / bucketS;
  return value === 0 ? "0" : value < 10 ? value.toFixed(2) : Math.round(value).toString();
}
