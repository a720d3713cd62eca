// Tasks: per-task figures over a chosen window, read from the store (every server answers
// the same): counts by state, failure rate, p50/p95 of run time and of lateness.
import { api, get } from "../api.js";
import { dataTable, duration, empty, h, link, rowLink, time, toast } from "../ui.js";

const WINDOWS = [["15m", "15 minutes"], ["1h", "hour"], ["24h", "24 hours"], ["7d", "7 days"]];
const STATES = ["pending", "running", "succeeded", "failed", "cancelled", "expired"];

export default {
  title: "Tasks",
  async mount(container) {
    const url = new URL(location.href);
    let window = WINDOWS.some(([w]) => w === url.searchParams.get("window")) ? url.searchParams.get("window") : "1h";
    const body = h("div", { class: "panel flush" });
    const since = h("span", { class: "muted", "data-testid": "since" });
    const choose = h("select", { "aria-label": "window", "data-testid": "window", onchange: (e) => {
      window = e.target.value;
      history.replaceState({}, "", window === "1h" ? "/tasks" : `/tasks?window=${window}`);
      refresh();
    } }, WINDOWS.map(([w, text]) => h("option", { value: w, selected: w === window }, `last ${text}`)));
    container.append(h("h1", {}, "Tasks"), h("div", { class: "toolbar" }, choose, since), body);
    let data = null;
    const retryFailed = async (task) => {
      try {
        const answer = await api("POST", "/jobs/retry", { task, since: data.since });
        toast(`Retried ${answer.retried} failed ${task} job(s)${answer.skipped ? `, ${answer.skipped} still stopping` : ""}`);
      } catch (error) { toast(error.message, "error"); }
      await refresh();
    };
    const draw = () => {
      since.textContent = `finished since ${time(data.since)}; pending and running: now`;
      const jobsOf = (task, state) => `/jobs?task=${encodeURIComponent(task)}${state ? `&state=${state}` : ""}`;
      body.replaceChildren(data.tasks.length === 0 ? empty("No jobs in this window.") : dataTable({ "data-testid": "tasks-table", id: "tasks" },
        [{ label: "Task" }, ...STATES.map((st) => ({ label: st.charAt(0).toUpperCase() + st.slice(1), num: true, key: (tr) => Number(tr.dataset[st]) })),
          { label: "Failure rate", num: true, key: (tr) => Number(tr.dataset.rate) },
          { label: "Run p50", num: true, key: (tr) => Number(tr.dataset.run50) }, { label: "Run p95", num: true, key: (tr) => Number(tr.dataset.run95) },
          { label: "Late p50", num: true, key: (tr) => Number(tr.dataset.late50) }, { label: "Late p95", num: true, key: (tr) => Number(tr.dataset.late95) },
          { label: "", sort: false }],
        data.tasks.map((t) => rowLink(jobsOf(t.task), { "data-task": t.task, "data-rate": t.failure_rate ?? -1,
          "data-run50": t.run_p50_s ?? -1, "data-run95": t.run_p95_s ?? -1, "data-late50": t.lateness_p50_s ?? -1,
          "data-late95": t.lateness_p95_s ?? -1, ...Object.fromEntries(STATES.map((st) => [`data-${st}`, t.counts[st] || 0])) },
          h("td", {}, link(jobsOf(t.task), t.task)),
          ...STATES.map((st) => h("td", {}, t.counts[st] ? link(jobsOf(t.task, st), String(t.counts[st])) : "0")),
          h("td", { class: t.failure_rate ? "bad" : null }, t.failure_rate === null ? "–" : `${(t.failure_rate * 100).toFixed(1)}%`),
          h("td", {}, duration(t.run_p50_s)), h("td", {}, duration(t.run_p95_s)),
          h("td", {}, duration(t.lateness_p50_s)), h("td", {}, duration(t.lateness_p95_s)),
          h("td", { "data-label": "" }, t.counts.failed ? h("button", { "data-testid": `retry-failed-${t.task}`, needs: "write",
            title: "Retry every job of this task that failed in the window", onclick: () => retryFailed(t.task) }, "Retry failed") : null)))));
    };
    const refresh = async () => {
      data = await get(`/stats/tasks?window=${window}`);
      draw();
    };
    await refresh();
    const timer = setInterval(refresh, 15_000);
    return { refresh, notice: (kind) => kind === "progress" || kind === "worker", destroy: () => clearInterval(timer) };
  },
};
