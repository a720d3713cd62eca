// Jobs: filters, search, sorting by the server, cursor pagination, bulk cancel / retry of
// the selection, and "retry all failed of a task".
import { api, get, query } from "../api.js";
import { may } from "../session.js";
import { ageSeconds, ago, badge, dataTable, duration, empty, fromLocalInput, h, link, localInput, localZoneLabel, progressLine, relative, rowLink, shortId, time, toast } from "../ui.js";

const STATES = ["", "pending", "running", "succeeded", "failed", "cancelled", "expired"];
const FILTERS = ["search", "state", "queue", "task", "worker", "schedule", "created_after", "created_before"];
const SORTS = ["task", "state", "duration", "run_at", "created_at"];
const SIZES = [25, 50, 100, 200, 500];
// The sort choices a phone offers in place of the column headers it hides: [sort, order, words].
const SORT_CHOICES = [
  ["", "", "Sort: newest first"],
  ["created_at", "desc", "Created, newest first"], ["created_at", "asc", "Created, oldest first"],
  ["run_at", "desc", "Run at, latest first"], ["run_at", "asc", "Run at, earliest first"],
  ["duration", "desc", "Duration, longest first"], ["duration", "asc", "Duration, shortest first"],
  ["task", "asc", "Task, A to Z"], ["task", "desc", "Task, Z to A"],
  ["state", "asc", "State, A to Z"], ["state", "desc", "State, Z to A"],
];
const CANCELLABLE = new Set(["pending", "running"]);
const RETRYABLE = new Set(["failed", "cancelled", "expired"]);
// A job whose last attempt's code is still stopping cannot run again until it has stopped.
const retryable = (j) => RETRYABLE.has(j.state) && !j.stopping;

/** Seconds the job's last attempt ran, or has run so far; null if it never started. */
function ranFor(j) {
  if (!j.started_at) return null;
  return j.finished_at ? (Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000 : ageSeconds(j.started_at);
}

/** The job's arguments in one line: `1, "a", k=2`. */
function argsText(j) {
  const parts = (j.args || []).map((a) => JSON.stringify(a));
  for (const [key, value] of Object.entries(j.kwargs || {})) parts.push(`${key}=${JSON.stringify(value)}`);
  return parts.join(", ");
}

export default {
  title: "Jobs",
  async mount(container, _params, app) {
    const url = new URL(location.href);
    const filters = Object.fromEntries(FILTERS.map((k) => [k, url.searchParams.get(k) || ""]));
    if (!filters.search && url.searchParams.get("q")) filters.search = url.searchParams.get("q");  // older links
    let limit = Number(url.searchParams.get("limit")) || 50;
    let sort = SORTS.includes(url.searchParams.get("sort")) ? url.searchParams.get("sort") : "";
    let order = url.searchParams.get("order") === "asc" ? "asc" : "desc";
    let cursors = [null];  // the cursor of each page visited, for "previous"
    let page = null;
    const selected = new Set();
    const rows = h("div");
    const position = h("span", { class: "muted", "data-testid": "page-info" });
    const prev = h("button", { onclick: () => go(-1), "data-testid": "prev" }, "← Previous");
    const next = h("button", { onclick: () => go(1), "data-testid": "next" }, "Next →");
    const cancelButton = h("button", { class: "danger", onclick: () => bulk("cancel"), "data-testid": "bulk-cancel", needs: "write" }, "Cancel selected");
    const retryButton = h("button", { onclick: () => bulk("retry"), "data-testid": "bulk-retry", needs: "write" }, "Retry selected");
    const retryAllButton = h("button", { onclick: () => retryAll(), "data-testid": "retry-all", needs: "write" });
    const count = h("span", { class: "muted" });

    const input = (name, placeholder, attrs = {}) => h("input", { name, placeholder, "aria-label": placeholder, value: filters[name], size: 14,
      onchange: (e) => { filters[name] = e.target.value.trim(); restart(); }, ...attrs });
    // Moments are typed on the reader's clocks and sent as instants.
    const moment = (name, text) => h("label", { class: "inline" }, h("span", { class: "muted" }, text),
      h("input", { name, type: "datetime-local", step: 1, "aria-label": `${text} (your zone, ${localZoneLabel()})`,
        value: filters[name] ? localInput(filters[name]) : "",
        onchange: (e) => { filters[name] = e.target.value ? fromLocalInput(e.target.value).toISOString() : ""; restart(); } }));
    const stateSelect = h("select", { name: "state", "aria-label": "state", onchange: (e) => { filters.state = e.target.value; restart(); } },
      STATES.map((st) => h("option", { value: st, selected: st === filters.state }, st || "any state")));
    const sizeSelect = h("select", { name: "limit", "aria-label": "page size", onchange: (e) => { limit = Number(e.target.value); restart(); } },
      SIZES.map((n) => h("option", { value: n, selected: n === limit }, `${n} per page`)));
    // On a phone the table's headers are hidden, so the sort is chosen here instead.
    const sortValue = () => (sort ? `${sort}:${order}` : "");
    const sortSelect = h("select", { name: "sort", class: "phone-only", "aria-label": "sort jobs by", "data-testid": "sort",
      onchange: (e) => { [sort, order] = e.target.value ? e.target.value.split(":") : ["", "desc"]; restart(); } },
      SORT_CHOICES.map(([by, dir, words]) => h("option", { value: by ? `${by}:${dir}` : "", selected: (by ? `${by}:${dir}` : "") === sortValue() }, words)));
    container.append(h("h1", {}, "Jobs", filters.schedule ? h("span", { class: "muted", style: "font-weight:400;font-size:14px" },
      "of schedule ", link(`/schedules/${encodeURIComponent(filters.schedule)}`, filters.schedule), " · ", link("/jobs", "all jobs")) : null),
      h("div", { class: "toolbar" }, input("search", "id, short id, key, task or text", { type: "search", size: 28, "data-testid": "search" }),
        stateSelect, input("queue", "queue"), input("task", "task (or its start)"), input("worker", "worker"),
        moment("created_after", "created from"), moment("created_before", "to"), h("span", { class: "spacer" }), sortSelect, sizeSelect),
      h("div", { class: "toolbar" }, cancelButton, retryButton, retryAllButton, count),
      h("div", { class: "panel flush" }, rows),
      h("div", { class: "pager" }, position, prev, next));

    function params() {
      return { ...filters, sort, order: sort ? order : "", limit, cursor: cursors[cursors.length - 1] };
    }
    function syncSort() {
      const value = sortValue();
      sortSelect.value = value;
    }
    function keepAddress() {
      const search = query({ ...filters, sort, order: sort ? order : "", limit: limit === 50 ? "" : limit });
      history.replaceState({}, "", `/jobs${search}`);
    }
    let latest = 0;
    async function load() {
      // A live refresh and a click can overlap: only the newest request may draw.
      const ticket = ++latest;
      const fetched = await get(`/jobs${query(params())}`);
      if (ticket !== latest) return;
      page = fetched;
      draw();
    }
    async function restart() {
      cursors = [null];
      selected.clear();
      keepAddress();
      await load();
    }
    async function go(step) {
      if (step > 0 && page.next_cursor) cursors.push(page.next_cursor);
      else if (step < 0 && cursors.length > 1) cursors.pop();
      else return;
      selected.clear();
      await load();
    }
    function draw() {
      const jobs = page.jobs;
      syncSort();
      const allBox = h("input", { type: "checkbox", "aria-label": "select all on this page",
        checked: jobs.length > 0 && jobs.every((j) => selected.has(j.id)),
        onchange: (e) => { for (const j of jobs) e.target.checked ? selected.add(j.id) : selected.delete(j.id); draw(); } });
      const columns = [{ label: "", header: allBox, sort: false }, { label: "Job", sort: false }, { label: "Task", by: "task" },
        { label: "State", by: "state" }, { label: "Queue", sort: false }, { label: "Attempt", num: true, sort: false },
        { label: "Worker", sort: false }, { label: "Args", sort: false }, { label: "Duration", num: true, by: "duration" },
        { label: "Run at", by: "run_at" }, { label: "Created", by: "created_at" }];
      const index = columns.findIndex((c) => c.by && c.by === sort);
      const server = { index: index < 0 ? null : index, sign: order === "asc" ? 1 : -1,
        onSort: (i, sign) => { sort = columns[i].by; order = sign > 0 ? "asc" : "desc"; restart(); } };
      rows.replaceChildren(jobs.length === 0 ? empty("No jobs match.") : dataTable({ "data-testid": "jobs-table", id: "jobs" }, columns,
        jobs.map((j) => rowLink(`/jobs/${j.id}`, { "data-job": j.id, "data-attempt": j.attempt, "data-duration": ranFor(j) ?? -1,
        },
          h("td", {}, h("input", { type: "checkbox", "aria-label": `select ${j.id}`, checked: selected.has(j.id),
            onchange: (e) => { e.target.checked ? selected.add(j.id) : selected.delete(j.id); drawSelection(); } })),
          h("td", { class: "mono" }, link(`/jobs/${j.id}`, shortId(j.id), { title: j.id })),
          h("td", {}, j.task, j.schedule_name ? h("div", { class: "muted" }, "from ", link(`/schedules/${encodeURIComponent(j.schedule_name)}`, j.schedule_name)) : null),
          h("td", {}, h("div", {}, badge(j.state), j.stopping ? [" ", badge("stopping")] : null),
            j.state === "running" ? progressLine({ progress: j.progress, message: j.progress_message, startedAt: j.started_at, testid: `progress-${j.id}` }) : null,
            j.warning ? h("div", { class: "warning", "data-testid": "warning" }, j.warning) : null),
          h("td", {}, j.queue),
          h("td", {}, `${j.attempt}/${(j.prior_attempts || 0) + j.max_attempts}`), h("td", {}, j.worker || "–"),
          h("td", { class: "args mono", title: argsText(j) }, argsText(j)),
          h("td", {}, duration(ranFor(j))),
          h("td", { title: time(j.run_at, { date: "always" }) }, relative(j.run_at)),
          h("td", { title: time(j.created_at, { date: "always" }) }, ago(j.created_at)))), server));
      const first = (cursors.length - 1) * limit + 1;
      position.textContent = jobs.length ? `page ${cursors.length} · jobs ${first}–${first + jobs.length - 1}` : `page ${cursors.length}`;
      prev.disabled = cursors.length <= 1;
      next.disabled = !page.next_cursor;
      drawSelection();
    }
    function drawSelection() {
      const chosen = page ? page.jobs.filter((j) => selected.has(j.id)) : [];
      count.textContent = selected.size ? `${selected.size} selected` : "";
      cancelButton.disabled = !may("write") || !chosen.some((j) => CANCELLABLE.has(j.state));
      retryButton.disabled = !may("write") || !chosen.some(retryable);
      // Every failed job of one task (since the "created from" moment, if given), on every page.
      const task = filters.task;
      retryAllButton.hidden = !(filters.state === "failed" && task);
      retryAllButton.textContent = `Retry all failed ${task}${filters.created_after ? ` since ${time(filters.created_after)}` : ""}`;
    }
    async function bulk(action) {
      const eligible = page.jobs.filter((j) => selected.has(j.id) && (action === "cancel" ? CANCELLABLE.has(j.state) : retryable(j)));
      let done = 0, failed = 0, why = "";
      const queue = [...eligible];
      const worker = async () => {
        for (let j = queue.shift(); j; j = queue.shift()) {
          try {
            await (action === "cancel" ? api("DELETE", `/jobs/${j.id}`) : api("POST", `/jobs/${j.id}/retry`));
            done += 1;
          } catch (error) { failed += 1; why ||= error.message; }
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      toast(`${action === "cancel" ? "Cancelled" : "Retried"} ${done} job(s)${failed ? `, ${failed} refused: ${why}` : ""}`, failed ? "error" : "info");
      selected.clear();
      await load();
    }
    async function retryAll() {
      const body = { task: filters.task, state: "failed" };
      if (filters.created_after) body.since = filters.created_after;
      try {
        const answer = await api("POST", "/jobs/retry", body);
        toast(`Retried ${answer.retried} job(s)${answer.skipped ? `, ${answer.skipped} still stopping` : ""}`);
      } catch (error) { toast(error.message, "error"); }
      await restart();
    }
    await load();
    return {
      refresh: load,
      // Update a visible row in place; anything else waits for the debounced refresh.
      notice(kind, data) {
        if ((kind !== "job" && kind !== "progress") || !page) return false;
        const row = page.jobs.find((j) => j.id === data.id);
        if (!row) return kind === "progress";  // progress of a job not shown changes nothing here
        if (kind === "progress") {
          row.progress = data.progress;
          row.progress_message = data.message ?? null;  // a report without words clears the old ones
          draw();
          return true;
        }
        const moved = row.state !== data.state;
        Object.assign(row, { state: data.state, stopping: data.stopping, worker: data.worker, attempt: data.attempt,
          progress: data.progress, updated_at: data.updated_at });
        if (moved) row.progress_message = null;  // a new attempt, or no longer running
        draw();
        // A new state brings new start and finish times, and with a filter the row may leave.
        return !moved;
      },
    };
  },
};
