// A stacked bar chart of jobs per second, drawn as SVG by hand.
import { s, time } from "./ui.js";
import { clockParts } from "./zone.js";

const MIN_LABEL_GAP_PX = 64;

/**
 * Draw buckets [{start_at, succeeded, failed}] spanning `spanS` seconds up to `endMs`,
 * each `bucketS` seconds wide, as bars of jobs per second, `width` pixels wide (drawn at
 * its real size, so its labels keep their shape on a phone as on a desktop).
 */
export function throughputChart({ buckets, spanS, bucketS, endMs, width = 900 }) {
  width = Math.max(240, Math.round(width));
  const height = 220, left = 44, bottom = 22, top = 10, right = 8;
  const count = Math.round(spanS / bucketS);
  const endBucket = Math.floor(endMs / 1000 / bucketS) * bucketS;
  const firstBucket = endBucket - (count - 1) * bucketS;
  const byStart = new Map(buckets.map((b) => [Math.round(Date.parse(b.start_at) / 1000), b]));
  const rows = [];
  for (let i = 0; i < count; i += 1) {
    const start = firstBucket + i * bucketS;
    const b = byStart.get(start) || { succeeded: 0, failed: 0 };
    rows.push({ start, ok: b.succeeded / bucketS, bad: b.failed / bucketS });
  }
  const peak = Math.max(0.01, ...rows.map((r) => r.ok + r.bad));
  const scale = niceCeiling(peak);
  const plotW = width - left - right, plotH = height - top - bottom;
  const barW = plotW / count;
  const y = (v) => top + plotH - (v / scale) * plotH;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "jobs per second over the last hour" });
  for (const tick of [0, 0.5, 1]) {
    const value = scale * tick;
    svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    svg.append(s("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, formatRate(value)));
  }
  rows.forEach((r, i) => {
    const x = left + i * barW + 1, w = Math.max(1, barW - 2);
    if (r.ok > 0) svg.append(s("rect", { class: "ok", x, width: w, y: y(r.ok), height: y(0) - y(r.ok), rx: 1 },
      s("title", {}, `${time(new Date(r.start * 1000).toISOString())}: ${formatRate(r.ok)}/s succeeded`)));
    if (r.bad > 0) svg.append(s("rect", { class: "bad", x, width: w, y: y(r.ok + r.bad), height: y(r.ok) - y(r.ok + r.bad), rx: 1 },
      s("title", {}, `${time(new Date(r.start * 1000).toISOString())}: ${formatRate(r.bad)}/s failed`)));
  });
  // Labels at whole multiples of a step, as many as fit without touching, none over "now".
  const steps = [5, 10, 15, 20, 30, 60].filter((n) => n < count);
  const every = steps.find((n) => n * barW >= MIN_LABEL_GAP_PX) || count;
  const zone = clockParts(new Date(endMs).toISOString()).label;
  for (let i = 0; i < count; i += every) {
    if ((count - i) * barW < MIN_LABEL_GAP_PX + 24) break;  // leave room for "now (UTC)"
    const label = clockParts(new Date((firstBucket + i * bucketS) * 1000).toISOString()).hm;
    svg.append(s("text", { x: left + i * barW, y: height - 6, class: "tick" }, label));
  }
  svg.append(s("text", { x: width - right, y: height - 6, "text-anchor": "end", class: "tick" }, `now (${zone})`));
  return svg;
}

function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function formatRate(value) {
  if (value === 0) return "0";
  if (value < 0.1) return value.toFixed(3);
  if (value < 10) return value.toFixed(2).replace(/\.?0+$/, "");
  return Math.round(value).toString();
}
