// Jobs: filters, search, cursor pagination and bulk cancel / retry of the selection.
import { api, get, query } from "../api.js";
import { ago, badge, empty, h, link, relative, shortId, toast } from "../ui.js";

const STATES = ["", "pending", "running", "succeeded", "failed", "cancelled", "expired"];
const SIZES = [25, 50, 100, 200, 500];
const CANCELLABLE = new Set(["pending", "running"]);
const RETRYABLE = new Set(["failed", "cancelled", "expired"]);
// A job whose last attempt's code is still stopping cannot run again until it has stopped.
const retryable = (j) => RETRYABLE.has(j.state) && !j.stopping;

export default {
  title: "Jobs",
  async mount(container, _params, app) {
    const url = new URL(location.href);
    const filters = Object.fromEntries(["state", "queue", "task", "worker", "q"].map((k) => [k, url.searchParams.get(k) || ""]));
    let limit = Number(url.searchParams.get("limit")) || 50;
    let cursors = [null];  // the cursor of each page visited, for "previous"
    let page = null;
    const selected = new Set();
    const rows = h("div");
    const position = h("span", { class: "muted", "data-testid": "page-info" });
    const prev = h("button", { onclick: () => go(-1), "data-testid": "prev" }, "← Newer");
    const next = h("button", { onclick: () => go(1), "data-testid": "next" }, "Older →");
    const cancelButton = h("button", { class: "danger", onclick: () => bulk("cancel"), "data-testid": "bulk-cancel" }, "Cancel selected");
    const retryButton = h("button", { onclick: () => bulk("retry"), "data-testid": "bulk-retry" }, "Retry selected");
    const count = h("span", { class: "muted" });

    const input = (name, placeholder) => h("input", { name, placeholder, value: filters[name], size: 14,
      onchange: (e) => { filters[name] = e.target.value.trim(); restart(); } });
    const stateSelect = h("select", { name: "state", onchange: (e) => { filters.state = e.target.value; restart(); } },
      STATES.map((st) => h("option", { value: st, selected: st === filters.state }, st || "any state")));
    const sizeSelect = h("select", { name: "limit", onchange: (e) => { limit = Number(e.target.value); restart(); } },
      SIZES.map((n) => h("option", { value: n, selected: n === limit }, `${n} per page`)));
    container.append(h("h1", {}, "Jobs"),
      h("div", { class: "toolbar" }, input("q", "id or idempotency key"), stateSelect, input("queue", "queue"),
        input("task", "task"), input("worker", "worker"), h("span", { class: "spacer" }), sizeSelect),
      h("div", { class: "toolbar" }, cancelButton, retryButton, count),
      h("div", { class: "panel", style: "padding:0" }, rows),
      h("div", { class: "pager" }, position, prev, next));

    function params() {
      return { ...filters, limit, cursor: cursors[cursors.length - 1] };
    }
    function keepAddress() {
      const search = query({ ...filters, limit: limit === 50 ? "" : limit });
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
      const allBox = h("input", { type: "checkbox", "aria-label": "select all on this page",
        checked: jobs.length > 0 && jobs.every((j) => selected.has(j.id)),
        onchange: (e) => { for (const j of jobs) e.target.checked ? selected.add(j.id) : selected.delete(j.id); draw(); } });
      rows.replaceChildren(jobs.length === 0 ? empty("No jobs match.") : h("table", { "data-testid": "jobs-table" },
        h("thead", {}, h("tr", {}, h("th", {}, allBox), h("th", {}, "Job"), h("th", {}, "Task"), h("th", {}, "State"),
          h("th", {}, "Queue"), h("th", { class: "num" }, "Attempt"), h("th", {}, "Worker"), h("th", {}, "Run at"), h("th", {}, "Updated"))),
        h("tbody", {}, jobs.map((j) => h("tr", { "data-job": j.id },
          h("td", {}, h("input", { type: "checkbox", "aria-label": `select ${j.id}`, checked: selected.has(j.id),
            onchange: (e) => { e.target.checked ? selected.add(j.id) : selected.delete(j.id); drawSelection(); } })),
          h("td", { class: "mono" }, link(`/jobs/${j.id}`, shortId(j.id), { title: j.id })),
          h("td", {}, j.task), h("td", {}, badge(j.state), j.stopping ? [" ", badge("stopping")] : null), h("td", {}, j.queue),
          h("td", { class: "num" }, `${j.attempt}/${(j.prior_attempts || 0) + j.max_attempts}`), h("td", {}, j.worker || "–"),
          h("td", {}, relative(j.run_at)),
          h("td", {}, ago(j.updated_at)))))));
      const first = (cursors.length - 1) * limit + 1;
      position.textContent = jobs.length ? `page ${cursors.length} · jobs ${first}–${first + jobs.length - 1}` : `page ${cursors.length}`;
      prev.disabled = cursors.length <= 1;
      next.disabled = !page.next_cursor;
      drawSelection();
    }
    function drawSelection() {
      const chosen = page ? page.jobs.filter((j) => selected.has(j.id)) : [];
      count.textContent = selected.size ? `${selected.size} selected` : "";
      cancelButton.disabled = !chosen.some((j) => CANCELLABLE.has(j.state));
      retryButton.disabled = !chosen.some(retryable);
    }
    async function bulk(action) {
      const eligible = page.jobs.filter((j) => selected.has(j.id) && (action === "cancel" ? CANCELLABLE.has(j.state) : retryable(j)));
      let done = 0, failed = 0;
      const queue = [...eligible];
      const worker = async () => {
        for (let j = queue.shift(); j; j = queue.shift()) {
          try {
            await (action === "cancel" ? api("DELETE", `/jobs/${j.id}`) : api("POST", `/jobs/${j.id}/retry`));
            done += 1;
          } catch { failed += 1; }
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      toast(`${action === "cancel" ? "Cancelled" : "Retried"} ${done} job(s)${failed ? `, ${failed} refused` : ""}`, failed ? "error" : "info");
      selected.clear();
      await load();
    }
    await load();
    return {
      refresh: load,
      // Update a visible row in place; anything else waits for the debounced refresh.
      notice(kind, data) {
        if (kind !== "job" || !page) return false;
        const row = page.jobs.find((j) => j.id === data.id);
        if (!row) return false;
        Object.assign(row, { state: data.state, stopping: data.stopping, worker: data.worker, attempt: data.attempt, updated_at: data.updated_at });
        draw();
        return !filters.state;  // with a state filter the row may have to leave the page
      },
    };
  },
};
