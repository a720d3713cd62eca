// Job detail: fields, args, outcome, progress, attempts, execution log and actions.
import { api, get } from "../api.js";
import { ago, badge, dataTable, duration, empty, fromLocalInput, h, json, link, localInput, localZoneLabel, progressLine, time, toast, when } from "../ui.js";

export default {
  title: "Job",
  async mount(container, [id], app) {
    const body = h("div");
    container.append(body);
    let job = null, events = [], schedule = null, tried = null, drawn = null;
    const expanded = new Set();  // the runs of progress events the reader opened
    const refresh = async () => {
      [job, { events }, tried] = await Promise.all([get(`/jobs/${id}`), get(`/jobs/${id}/events`),
        get(`/jobs/${id}/attempts`).then((answer) => answer.attempts, () => null)]);
      // Drawn again only when something changed: a redraw would close what the reader opened
      // and take the button under their pointer away.
      const seen = JSON.stringify([job, events, tried]);
      if (seen === drawn) return;
      drawn = seen;
      if (job.schedule_name) schedule = { id: job.schedule_id, name: job.schedule_name };
      else if (job.schedule_id && (!schedule || schedule.id !== job.schedule_id)) {
        // Shown by its name; a schedule removed since keeps only its id.
        try { schedule = await get(`/schedules/${encodeURIComponent(job.schedule_id)}`); } catch { schedule = { id: job.schedule_id, name: null }; }
      }
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
          h("button", { class: "danger", "data-testid": "cancel", needs: "write", onclick: () => act("Cancel", "DELETE", `/jobs/${id}`) }, "Cancel"),
        ["failed", "cancelled", "expired"].includes(job.state) &&
          h("button", { class: "primary", "data-testid": "retry", needs: "write", disabled: job.stopping,
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
        ...pair("Run at", [when(job.run_at), ` (${ago(job.run_at)})`]),
        ...pair("Created", when(job.created_at)), ...pair("Started", when(job.started_at)),
        ...pair("Finished", when(job.finished_at)),
        ...(job.started_at && job.finished_at ? pair("Ran for", duration((Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000)) : []),
        ...(job.target ? pair("Target", job.target) : []), ...(job.timeout_s ? pair("Timeout", duration(job.timeout_s)) : []),
        ...(job.deadline_at ? pair("Deadline", when(job.deadline_at)) : []),
        ...(job.idempotency_key ? pair("Key", h("span", { class: "mono" }, job.idempotency_key)) : []),
        ...(job.schedule_id ? pair("Schedule", h("span", { "data-testid": "schedule" }, schedule && schedule.name
          ? link(`/schedules/${encodeURIComponent(schedule.name)}`, schedule.name)
          : h("span", { class: "muted" }, `${job.schedule_id} (removed)`))) : []));
      const outcome = h("div", { class: "panel" }, h("h2", {}, "Outcome"), h("div", { "data-testid": "outcome" }, ...outcomeOf(job, events)));
      const inputs = h("div", { class: "panel" }, h("h2", {}, "Arguments"), h("pre", {}, json({ args: job.args, kwargs: job.kwargs })));
      body.replaceChildren(...[
        h("h1", {}, `Job`, h("span", { class: "mono muted", style: "font-weight:400" }, job.id), h("span", { "data-testid": "state" }, badge(job.state)),
          job.stopping ? h("span", { "data-testid": "stopping" }, badge("stopping")) : null),
        actions, stopping,
        h("div", { class: "grid2" }, h("div", { class: "panel" }, fields), h("div", {}, outcome, inputs)),
        ...(job.state === "pending" ? [editor()] : []),
        ...(["failed", "cancelled", "expired"].includes(job.state) && !job.stopping ? [retryEditor()] : []),
        attempts(), log()].filter(Boolean));
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
        } }, h("label", {}, `Run at (your zone, ${localZoneLabel()})`), runAt, h("label", {}, "Priority"), priority,
          h("span"), h("div", {}, h("button", { class: "primary", type: "submit", "data-testid": "save", needs: "write" }, "Save"))));
    }
    function retryEditor() {
      const args = h("textarea", { id: "retry-args", name: "args", rows: 2 }, JSON.stringify(job.args));
      const kwargs = h("textarea", { id: "retry-kwargs", name: "kwargs", rows: 2 }, JSON.stringify(job.kwargs));
      const problem = h("div", { role: "alert", style: "color:var(--failed)" });
      return h("details", { class: "panel", "data-testid": "retry-edited" }, h("summary", {}, h("strong", {}, "Retry with other arguments")),
        h("form", { class: "form", style: "margin-top:12px", onsubmit: (e) => {
          e.preventDefault();
          let body;
          try { body = { args: JSON.parse(args.value || "[]"), kwargs: JSON.parse(kwargs.value || "{}") }; } catch (error) {
            problem.textContent = `Not valid JSON: ${error.message}`;
            return;
          }
          act("Retry", "POST", `/jobs/${id}/retry`, body);
        } }, h("label", { for: "retry-args" }, "Args (JSON list)"), args, h("label", { for: "retry-kwargs" }, "Kwargs (JSON object)"), kwargs,
          h("span"), problem, h("span"), h("div", {}, h("button", { class: "primary", type: "submit", "data-testid": "retry-with-args", needs: "write" }, "Retry with these"))));
    }
    /** Attempts as the server keeps them: each with its own worker, times, error and traceback. */
    function attemptHistory(list) {
      return h("div", { class: "panel" }, h("h2", {}, "Attempts"), list.length === 0 ? empty("Not started yet.") : dataTable({ "data-testid": "attempts" },
        [{ label: "#", num: true, key: (tr) => Number(tr.dataset.attempt) }, { label: "Worker" }, { label: "Started", key: (tr) => tr.dataset.started || "" },
          { label: "Ended", sort: false }, { label: "Took", num: true, key: (tr) => Number(tr.dataset.took) }, { label: "Outcome" }],
        list.map((a) => h("tr", { "data-attempt": a.attempt, "data-started": a.started_at, "data-took": a.duration_s ?? -1 },
          h("td", {}, a.attempt), h("td", {}, a.worker || "–"), h("td", {}, when(a.started_at)), h("td", {}, when(a.ended_at)),
          h("td", {}, duration(a.duration_s)),
          h("td", {}, h("div", {}, a.outcome), a.error ? h("details", { "data-testid": "attempt-error" }, h("summary", {}, a.error.split("\n")[0].slice(0, 120)),
            h("pre", { class: "error" }, a.error), a.traceback ? h("pre", { class: "error", style: "margin-top:6px" }, a.traceback) : null) : null)))));
    }
    function attempts() {
      if (tried) return attemptHistory(tried);
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
      return h("div", { class: "panel" }, h("h2", {}, "Attempts"), list.length === 0 ? empty("Not started yet.") : dataTable({ "data-testid": "attempts" },
        [{ label: "#", num: true, key: (tr) => Number(tr.dataset.attempt) }, { label: "Worker" }, { label: "Started", key: (tr) => tr.dataset.started },
          { label: "Ended" }, { label: "Took", num: true, key: (tr) => Number(tr.dataset.took) }, { label: "Outcome" }],
        list.map((a) => {
          const took = a.ended ? (Date.parse(a.ended) - Date.parse(a.started)) / 1000 : null;
          return h("tr", { "data-attempt": a.attempt, "data-started": a.started, "data-took": took ?? -1 },
            h("td", {}, a.attempt), h("td", {}, a.worker || "–"), h("td", {}, when(a.started)),
            h("td", {}, when(a.ended)), h("td", {}, duration(took)), h("td", {}, a.outcome));
        })));
    }
    function log() {
      // A run of progress events reads as its newest one; the reader may open the rest.
      const rows = [];
      for (let i = 0; i < events.length; i += 1) {
        const e = events[i];
        if (e.kind !== "progress") { rows.push(logRow(e)); continue; }
        let end = i;
        while (end + 1 < events.length && events[end + 1].kind === "progress" && events[end + 1].attempt === e.attempt) end += 1;
        const run = events.slice(i, end + 1);
        const key = run[0].id ?? `${e.attempt}:${e.at}`;
        if (run.length > 1 && !expanded.has(key)) {
          const toggle = h("button", { type: "button", class: "link", "data-testid": "expand-progress",
            onclick: () => { expanded.add(key); draw(); } }, `+${run.length - 1} earlier`);
          rows.push(logRow(run[run.length - 1], toggle));
        } else rows.push(...run.map((p) => logRow(p)));
        i = end;
      }
      return h("div", { class: "panel" }, h("h2", {}, "Execution log"), events.length === 0 ? empty("No events.") : dataTable(
        { class: "log", "data-testid": "log" },
        [{ label: "Time", sort: false }, { label: "Attempt", sort: false }, { label: "Kind", sort: false }, { label: "Worker", sort: false }, { label: "Message", sort: false }],
        rows));
    }
    function logRow(e, extra = null) {
      return h("tr", { class: `kind-${e.kind}` }, h("td", {}, when(e.at, { ms: true })),
        h("td", {}, e.attempt), h("td", { class: "kind" }, e.kind), h("td", {}, e.worker || ""),
        h("td", { class: "msg" }, e.message || "", extra ? [" ", extra] : null));
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

/** What the Outcome panel says: progress while it runs, else how it ended. */
function outcomeOf(job, events) {
  const progress = [...events].reverse().find((e) => e.kind === "progress" && e.attempt === job.attempt);
  switch (job.state) {
    case "running":
      // The job carries its last report's own words; the log is the fallback for a server
      // that does not send them.
      return [progressLine({ progress: job.progress,
        message: "progress_message" in job ? job.progress_message : progress ? progress.message : null,
        startedAt: job.started_at, testid: "progress" })];
    case "succeeded":
      return [h("pre", { "data-testid": "result" }, json(job.result))];
    case "failed":
      return [h("pre", { class: "error", "data-testid": "error" }, job.error || "failed"), traceback(job)];
    case "cancelled":
      return [h("p", {}, "Cancelled ", when(job.finished_at || job.updated_at), job.started_at ? " while it ran." : " before it ran.",
        " No result."), job.error ? h("pre", { class: "error", "data-testid": "error" }, job.error) : null, traceback(job)];
    case "expired":
      return [h("p", {}, "Expired ", when(job.finished_at || job.updated_at), ": it had not started by its deadline. No result.")];
    default:  // pending
      return [h("p", { class: "muted" }, job.attempt > 0 ? `Waiting to run again (attempt ${job.attempt + 1} next).` : "Waiting to run; no result yet."),
        job.error ? h("pre", { class: "error", "data-testid": "error" }, job.error) : null, traceback(job),
        job.warning ? h("p", { class: "warning", "data-testid": "warning" }, job.warning) : null];
  }
}

function traceback(job) {
  return job.traceback ? h("details", { style: "margin-top:8px" }, h("summary", {}, "Traceback"), h("pre", { class: "error" }, job.traceback)) : null;
}

function pair(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}
