// Small DOM and formatting helpers shared by every view.
import { refusal } from "./session.js";
import { clockParts, formatInstant } from "./zone.js";

/** Build an element: h("td", {class: "num"}, "3"). Children may be nodes, text or arrays.
 * `needs: "write"` (or "admin") marks a control that changes things: for a role that may
 * not, it is disabled, with a tooltip saying why. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let refused = null;
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "needs") refused = refusal(value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  if (refused) refuse(el, refused);
  return el;
}

/** Turn a control off, saying why on hover (a link too: it keeps its look but goes nowhere). */
function refuse(el, why) {
  el.title = why;
  el.dataset.refused = "";
  if ("disabled" in el) el.disabled = true;
  else {
    el.setAttribute("aria-disabled", "true");
    el.classList.add("disabled");
    el.addEventListener("click", (event) => { event.preventDefault(); event.stopPropagation(); });
  }
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** Build an SVG element. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

export function badge(state) {
  return h("span", { class: `badge ${state}` }, state);
}

export function link(href, text, attrs = {}) {
  return h("a", { href, "data-link": true, ...attrs }, text);
}

/** The last 12 hex digits of an id: its random part. (Ids are UUIDv7, whose first digits
 * are the creation time: jobs submitted together share them.) */
export function shortId(id) {
  return id ? id.slice(-12) : "";
}

export function ageSeconds(iso, now = Date.now()) {
  return iso ? Math.max(0, (now - Date.parse(iso)) / 1000) : null;
}

/** Format a span of seconds compactly: 850 ms, 12 s, 4 min, 3 h, 2 d. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const abs = Math.abs(seconds);
  if (abs < 1) return `${Math.round(seconds * 1000)} ms`;
  if (abs < 60) return `${seconds.toFixed(abs < 10 ? 1 : 0)} s`;
  // Round to the smaller unit first, so 1 h 59.9 min reads "2 h 0 min", never "1 h 60 min".
  const [big, small] = abs < 3600 ? [60, 1] : abs < 86400 ? [3600, 60] : [86400, 3600];
  const units = Math.round(abs / small), per = big / small, sign = seconds < 0 ? "-" : "";
  const names = abs < 3600 ? ["min", "s"] : abs < 86400 ? ["h", "min"] : ["d", "h"];
  return `${sign}${Math.floor(units / per)} ${names[0]} ${units % per} ${names[1]}`;
}

export function ago(iso) {
  const seconds = ageSeconds(iso);
  return seconds === null ? "–" : `${duration(seconds)} ago`;
}

/** Say when a moment is relative to now: "in 4.0 s" ahead, "12 s ago" behind. */
export function relative(iso) {
  if (!iso) return "–";
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  return seconds > 0 ? `in ${duration(seconds)}` : `${duration(-seconds)} ago`;
}

/** An instant as a clock time with its zone label ("08:10:18 UTC"); see zone.js. */
export function time(iso, options = {}) {
  return formatInstant(iso, options);
}

/** An element showing an instant with its zone, and the full date and ISO text on hover. */
export function when(iso, options = {}) {
  if (!iso) return "–";
  return h("time", { datetime: iso, title: `${formatInstant(iso, { ...options, date: "always", ms: true })} · ${iso}` },
    formatInstant(iso, options));
}

/** The browser's own zone label right now ("CET"), for inputs read in that zone. */
export function localZoneLabel() {
  return clockParts(new Date().toISOString(), Intl.DateTimeFormat().resolvedOptions().timeZone).label;
}

/** The value of a datetime-local input showing an instant in the browser's zone, at the
 * offset of that instant (not of today: the two differ across a daylight saving change). */
export function localInput(iso) {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}

/** The instant a datetime-local value names in the browser's zone, by the rule schedules
 * and the CLI follow: a wall time the clock skips means the first instant after the gap
 * (a wall time the clock repeats already means its first pass). */
export function fromLocalInput(value) {
  const d = new Date(value);
  const wall = value.length === 16 ? `${value}:00` : value.slice(0, 19);
  if (localInput(d.toISOString()) === wall) return d;
  // Skipped: the browser moved it by the gap; find the change of offset near it.
  const offset = (t) => new Date(t).getTimezoneOffset();
  let low = d.getTime() - 6 * 3600e3, high = d.getTime() + 6 * 3600e3;
  while (high - low > 1000) {
    const middle = Math.floor((low + high) / 2000) * 1000;
    if (offset(middle) === offset(low)) low = middle; else high = middle;
  }
  return new Date(high);
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

export function percent(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value)}%`;
}

export function meter(fraction, label) {
  const width = Math.max(0, Math.min(1, fraction || 0)) * 100;
  return h("div", { class: "meter" },
    h("div", { class: "progress" }, h("div", { style: `width:${width}%` })),
    h("span", {}, label ?? `${Math.round(width)}%`));
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: "status" }, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 7000 : 3500);
}

export function empty(text) {
  return h("div", { class: "empty" }, text);
}

const sortOrders = new Map();  // a table's sort survives the redraws of live updates

/**
 * A table that reads on a phone as well as on a desktop: each cell carries its column's
 * label (the narrow layout shows it beside the value), clicking a header sorts the rows
 * by that column, and a row with `data-href` opens that page when clicked anywhere.
 *
 * columns: [{label, num?, sort?: false, key?: (tr) => value}]; rows: <tr> elements.
 * attrs.id names the table's sort order, so it outlives redraws. With `server`
 * ({index, sign, onSort(index, sign)}) the server sorts: the rows are drawn as given, and
 * a click on a header asks onSort for them in the new order.
 */
export function dataTable(attrs, columns, rows, server = null) {
  const name = attrs.id || attrs["data-testid"] || columns.map((c) => c.label).join("|");
  const order = server ? (server.index === null ? null : server) : sortOrders.get(name);
  const cells = (tr) => [...tr.children];
  for (const tr of rows) {
    cells(tr).forEach((td, i) => {
      const column = columns[i];
      if (column && column.label && !td.hasAttribute("data-label")) td.setAttribute("data-label", column.label);
      if (column && column.num) td.classList.add("num");
    });
  }
  if (order && !server) {
    const column = columns[order.index];
    const key = column.key || ((tr) => sortKey(cells(tr)[order.index]));
    const keyed = rows.map((tr, i) => [key(tr), i, tr]);
    keyed.sort((a, b) => compare(a[0], b[0]) * order.sign || a[1] - b[1]);
    rows = keyed.map((k) => k[2]);
  }
  const tbody = h("tbody", {}, rows);
  const table = h("table", { ...attrs, class: `data ${attrs.class || ""}`.trim(), id: undefined },
    h("thead", {}, h("tr", {}, columns.map((column, i) => {
      const sorted = order && order.index === i;
      const label = column.label;
      if (column.sort === false || !label) return h("th", { class: column.num ? "num" : null }, column.header ?? label);
      return h("th", { class: column.num ? "num" : null, "aria-sort": sorted ? (order.sign > 0 ? "ascending" : "descending") : "none" },
        h("button", { class: "sort", type: "button", title: `Sort by ${label.toLowerCase()}`, onclick: () => {
          const sign = sorted && order.sign > 0 ? -1 : 1;
          if (server) { server.onSort(i, sign); return; }
          sortOrders.set(name, { index: i, sign });
          const again = dataTable(attrs, columns, [...tbody.children]);
          table.replaceWith(again);
        } }, label, h("span", { class: "arrow", "aria-hidden": "true" }, sorted ? (order.sign > 0 ? " ▲" : " ▼") : "")));
    }))),
    tbody);
  return table;
}

function sortKey(td) {
  if (!td) return "";
  if (td.dataset.sort !== undefined) {
    const number = Number(td.dataset.sort);
    return td.dataset.sort !== "" && !Number.isNaN(number) ? number : td.dataset.sort;
  }
  return td.textContent.trim();
}

function compare(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** A row that opens `href` when clicked anywhere (links, buttons and boxes in it keep theirs). */
export function rowLink(href, attrs, ...cells) {
  return h("tr", { ...attrs, class: `clickable ${attrs.class || ""}`.trim(), "data-href": href }, ...cells);
}

/** Progress of a running job: bar, percent, its last message, and how long it has run. */
export function progressLine({ progress, message, startedAt, testid }) {
  const elapsed = startedAt ? duration(ageSeconds(startedAt)) : null;
  return h("div", { class: "progress-line", "data-testid": testid },
    meter(progress ?? 0, progress === null || progress === undefined ? "–" : `${Math.round(progress * 100)}%`),
    h("div", { class: "progress-text" },
      message ? h("span", { class: "progress-message", "data-testid": testid ? `${testid}-message` : null }, message) : null,
      elapsed ? h("span", { class: "muted", "data-running-since": startedAt, "data-testid": testid ? `${testid}-elapsed` : null }, `running ${elapsed}`) : null));
}

/** A label for a field, from its wire name: "max_attempts" reads "Max attempts". */
export function label(name) {
  const text = name.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Move every "running 12 s" on the page on by the time passed (called each second). */
export function tickElapsed() {
  for (const el of document.querySelectorAll("[data-running-since]")) {
    el.textContent = `running ${duration(ageSeconds(el.dataset.runningSince))}`;
  }
}
