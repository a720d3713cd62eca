// Overview: throughput over the last hour, queues, lateness and workers.
import { get } from "../api.js";
import { throughputChart } from "../chart.js";
import { duration, empty, h, link } from "../ui.js";

export default {
  title: "Overview",
  async mount(container) {
    const body = h("div");
    container.append(h("h1", {}, "Overview"), body);
    const refresh = async () => {
      const data = await get("/overview");
      body.replaceChildren(...draw(data));
    };
    await refresh();
    const timer = setInterval(refresh, 10_000);  // the chart's window slides even when idle
    return { refresh, destroy: () => clearInterval(timer) };
  },
};

function draw(data) {
  const { throughput, lateness, queues, workers } = data;
  const lastMinute = throughput.filter((b) => Date.parse(b.start_at) >= Date.parse(data.at) - 60_000 - data.bucket_s * 1000);
  const newest = lastMinute.length ? lastMinute[lastMinute.length - 1] : { succeeded: 0, failed: 0 };
  const hourOk = throughput.reduce((sum, b) => sum + b.succeeded, 0);
  const hourBad = throughput.reduce((sum, b) => sum + b.failed, 0);
  const pending = queues.reduce((sum, q) => sum + q.pending, 0);
  const running = queues.reduce((sum, q) => sum + q.running, 0);
  const card = (label, value, sub, testid) =>
    h("div", { class: "card", "data-testid": testid }, h("div", { class: "label" }, label),
      h("div", { class: "value" }, value), h("div", { class: "sub" }, sub));
  const cards = h("div", { class: "cards" },
    card("Succeeded / s", rate(newest.succeeded, data.bucket_s), `${hourOk} in the last hour`, "succeeded-rate"),
    card("Failed / s", rate(newest.failed, data.bucket_s), `${hourBad} in the last hour`, "failed-rate"),
    card("Pending", pending, `${running} running`, "pending"),
    card("Lateness p50", duration(lateness.p50_s), `p99 ${duration(lateness.p99_s)} · ${lateness.samples} jobs`, "lateness"),
    card("Workers online", workers.online, `${workers.running}/${workers.capacity} slots busy`, "workers-online"));
  const chart = h("div", { class: "panel chart" },
    h("div", { class: "toolbar" }, h("h2", { style: "margin:0" }, "Jobs per second, last hour"),
      h("span", { class: "spacer" }),
      h("div", { class: "legend" }, h("span", {}, h("i", { style: "background:var(--succeeded)" }), "succeeded"),
        h("span", {}, h("i", { style: "background:var(--failed)" }), "failed"))),
    throughputChart({ buckets: throughput, spanS: data.span_s, bucketS: data.bucket_s, endMs: Date.parse(data.at) }));
  const table = queues.length === 0 ? empty("No pending or running jobs.") : h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Queue"), h("th", { class: "num" }, "Pending"),
      h("th", { class: "num" }, "Due"), h("th", { class: "num" }, "Running"), h("th", { class: "num" }, "Oldest due"))),
    h("tbody", {}, queues.map((q) => h("tr", {},
      h("td", {}, link(`/jobs?queue=${encodeURIComponent(q.queue)}`, q.queue)),
      h("td", { class: "num" }, q.pending), h("td", { class: "num" }, q.due),
      h("td", { class: "num" }, q.running), h("td", { class: "num" }, q.oldest_due_age_s === null ? "–" : duration(q.oldest_due_age_s))))));
  return [cards, chart, h("div", { class: "panel" }, h("h2", {}, "Queues"), table)];
}

function rate(count, bucketS) {
  const value = count / bucketS;
  return value === 0 ? "0" : value < 10 ? value.toFixed(2) : Math.round(value).toString();
}
