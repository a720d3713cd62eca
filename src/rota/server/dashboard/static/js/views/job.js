// Job detail: fields, args, outcome, progress, attempts, execution log and actions.
import { api, get } from "../api.js";
import { ago, badge, duration, empty, fromLocalInput, h, json, link, localInput, meter, time, toast } from "../ui.js";

export default {
  title: "Job",
  async mount(container, [id], app) {
    const body = h("div");
    container.append(body);
    let job = null, events = [];
    const refresh = async () => {
      [job, { events }] = await Promise.all([get(`/jobs/${id}`), get(`/jobs/${id}/events`)]);
      draw();
    };
    const act = async (label, method, path, payload) => {
      try {
        await api(method, path, payload);
        toast(`${label}: done`);
      } catch (error) {
        toast(`${label}: ${error.message}`, "error");
      }
      await refresh();
    };
    function draw() {
      const actions = h("div", { class: "toolbar" },
        ["pending", "running"].includes(job.state) &&
          h("button", { class: "danger", "data-testid": "cancel", onclick: () => act("Cancel", "DELETE", `/jobs/${id}`) }, "Cancel"),
        ["failed", "cancelled", "expired"].includes(job.state) &&
          h("button", { class: "primary", "data-testid": "retry", disabled: job.stopping,
            title: job.stopping ? `Its last attempt is still stopping on ${job.worker}` : null,
            onclick: () => act("Retry", "POST", `/jobs/${id}/retry`) }, "Retry"));
      // Asked to stop, its code still runs: it keeps its worker's slot and its lease until then.
      const stopping = job.stopping ? h("div", { class: "panel stopping", "data-testid": "stopping-note" },
        h("strong", {}, "Stopping. "), `The code of attempt ${job.attempt} is still running on worker ${job.worker || "–"}; `,
        `it was asked to stop ${ago(job.stop_requested_at)}. It keeps its slot and its lease until it has stopped, `,
        "and the job cannot run again before that.") : null;
      const fields = h("dl", { class: "fields" },
        ...pair("Id", h("span", { class: "mono" }, job.id)),
        ...pair("Task", job.task), ...pair("Queue", job.queue), ...pair("Priority", job.priority),
        ...pair("Attempt", h("span", { "data-testid": "attempt" }, `${job.attempt} of ${(job.prior_attempts || 0) + job.max_attempts}`)), ...pair("Worker", job.worker || "–"),
        ...pair("Run at", `${time(job.run_at)} (${ago(job.run_at)})`),
        ...pair("Created", time(job.created_at)), ...pair("Started", time(job.started_at)),
        ...pair("Finished", time(job.finished_at)),
        ...(job.started_at && job.finished_at ? pair("Ran for", duration((Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000)) : []),
        ...(job.target ? pair("Target", job.target) : []), ...(job.timeout_s ? pair("Timeout", duration(job.timeout_s)) : []),
        ...(job.deadline_at ? pair("Deadline", time(job.deadline_at)) : []),
        ...(job.idempotency_key ? pair("Key", h("span", { class: "mono" }, job.idempotency_key)) : []),
        ...(job.schedule_id ? pair("Schedule", link(`/schedules/${job.schedule_id}`, job.schedule_id)) : []));
      const outcome = h("div", { class: "panel" }, h("h2", {}, "Outcome"),
        job.state === "running" || job.progress !== null ? h("div", { style: "margin-bottom:10px", "data-testid": "progress" },
          meter(job.progress ?? 0, job.progress === null ? "–" : `${Math.round(job.progress * 100)}%`)) : null,
        job.error ? [h("pre", { class: "error", "data-testid": "error" }, job.error), job.traceback ? h("details", { style: "margin-top:8px" },
          h("summary", {}, "Traceback"), h("pre", { class: "error" }, job.traceback)) : null] : null,
        job.state === "succeeded" ? h("pre", { "data-testid": "result" }, json(job.result)) : null,
        !job.error && job.state !== "succeeded" ? h("p", { class: "muted" }, "No outcome yet.") : null);
      const inputs = h("div", { class: "panel" }, h("h2", {}, "Arguments"), h("pre", {}, json({ args: job.args, kwargs: job.kwargs })));
      body.replaceChildren(
        h("h1", {}, `Job`, h("span", { class: "mono muted", style: "font-weight:400" }, job.id), h("span", { "data-testid": "state" }, badge(job.state)),
          job.stopping ? h("span", { "data-testid": "stopping" }, badge("stopping")) : null),
        actions, stopping,
        h("div", { class: "grid2" }, h("div", { class: "panel" }, fields), h("div", {}, outcome, inputs)),
        ...(job.state === "pending" ? [editor()] : []),
        attempts(), log());
    }
    function editor() {
      const runAt = h("input", { type: "datetime-local", step: 1, name: "run_at", value: localInput(job.run_at) });
      const priority = h("input", { type: "number", name: "priority", value: job.priority, min: -1000, max: 1000 });
      return h("div", { class: "panel" }, h("h2", {}, "Change this pending job"),
        h("form", { class: "form", onsubmit: (e) => {
          e.preventDefault();
          const changes = { priority: Number(priority.value) };
          if (runAt.value) changes.run_at = fromLocalInput(runAt.value).toISOString();
          act("Change", "PATCH", `/jobs/${id}`, changes);
        } }, h("label", {}, "Run at (local time)"), runAt, h("label", {}, "Priority"), priority,
          h("span"), h("div", {}, h("button", { class: "primary", type: "submit", "data-testid": "save" }, "Save"))));
    }
    function attempts() {
      const byAttempt = new Map();
      for (const e of events) {
        if (e.attempt < 1) continue;
        const a = byAttempt.get(e.attempt) || { attempt: e.attempt, worker: null, started: null, ended: null, outcome: "running" };
        if (e.kind === "started") Object.assign(a, { worker: e.worker, started: e.at, ended: null, outcome: "running" });
        if (e.kind === "stopping" && !a.ended) a.outcome = "stopping";
        if (["succeeded", "failed", "retrying", "cancelled", "released", "reaped"].includes(e.kind)) Object.assign(a, { ended: e.at, outcome: e.kind });
        if (e.kind === "stopped") Object.assign(a, { ended: e.at, outcome: "cancelled, code stopped" });
        byAttempt.set(e.attempt, a);
      }
      const list = [...byAttempt.values()].filter((a) => a.started);
      return h("div", { class: "panel" }, h("h2", {}, "Attempts"), list.length === 0 ? empty("Not started yet.") : h("table", { "data-testid": "attempts" },
        h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Worker"), h("th", {}, "Started"), h("th", {}, "Ended"), h("th", {}, "Took"), h("th", {}, "Outcome"))),
        h("tbody", {}, list.map((a) => h("tr", {}, h("td", {}, a.attempt), h("td", {}, a.worker || "–"), h("td", {}, time(a.started)),
          h("td", {}, time(a.ended)), h("td", {}, a.ended ? duration((Date.parse(a.ended) - Date.parse(a.started)) / 1000) : "–"),
          h("td", {}, a.outcome))))));
    }
    function log() {
      return h("div", { class: "panel" }, h("h2", {}, "Execution log"), events.length === 0 ? empty("No events.") : h("table", { class: "log", "data-testid": "log" },
        h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Attempt"), h("th", {}, "Kind"), h("th", {}, "Worker"), h("th", {}, "Message"))),
        h("tbody", {}, events.map((e) => h("tr", { class: e.kind }, h("td", {}, new Date(e.at).toLocaleTimeString([], { hour12: false }) + `.${String(new Date(e.at).getMilliseconds()).padStart(3, "0")}`),
          h("td", {}, e.attempt), h("td", { class: "kind" }, e.kind), h("td", {}, e.worker || ""), h("td", { class: "msg" }, e.message || ""))))));
    }
    await refresh();
    return {
      refresh,
      notice(kind, data) {
        if ((kind === "job" || kind === "progress") && data.id !== id) return true;  // another job
        if (kind === "worker") return true;
        return false;
      },
    };
  },
};

function pair(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}
