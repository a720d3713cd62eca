// Times for people: every clock time carries its zone, in one 24-hour format everywhere.
//
// The reader picks UTC or their browser's zone with the header's toggle (kept in
// localStorage); a schedule's times are shown in the schedule's own zone instead.

const KEY = "rota.zone";

/** "utc" or "local": the zone the reader chose for times that belong to no schedule. */
export function zoneMode() {
  try { return localStorage.getItem(KEY) === "utc" ? "utc" : "local"; } catch { return "local"; }
}

export function setZoneMode(mode) {
  try { localStorage.setItem(KEY, mode === "utc" ? "utc" : "local"); } catch { /* private mode */ }
}

/** The IANA zone times are shown in: `zone` if given, else the reader's choice. */
export function shownZone(zone) {
  if (zone) return zone;
  return zoneMode() === "utc" ? "UTC" : Intl.DateTimeFormat().resolvedOptions().timeZone;
}

const formatters = new Map();
function formatter(timeZone) {
  let made = formatters.get(timeZone);
  if (!made) {
    made = new Intl.DateTimeFormat("en-GB", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, timeZoneName: "short",
    });
    formatters.set(timeZone, made);
  }
  return made;
}

/** The parts of an instant on the clocks of `zone`: {date: "2026-11-30", hm, hms, ms, label}. */
export function clockParts(iso, zone) {
  const timeZone = shownZone(zone);
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  const label = timeZone === "UTC" || timeZone === "Etc/UTC" ? "UTC" : parts.timeZoneName;
  const hm = `${parts.hour}:${parts.minute}`;
  return { date: `${parts.year}-${parts.month}-${parts.day}`, hm, hms: `${hm}:${parts.second}`,
    ms: parts.fractionalSecond, label };
}

/**
 * Format an instant as "08:10:18 CET" (today in that zone) or "2026-11-29 08:10:18 CET".
 * Options: zone (IANA; default the reader's choice), ms (add milliseconds), date
 * ("auto", "always"), seconds (false: "08:10").
 */
export function formatInstant(iso, { zone, ms = false, date = "auto", seconds = true } = {}) {
  if (!iso) return "–";
  const p = clockParts(iso, zone);
  const today = clockParts(new Date().toISOString(), zone).date;
  const clock = (seconds ? p.hms : p.hm) + (ms ? `.${p.ms}` : "");
  const day = date === "always" || p.date !== today ? `${p.date} ` : "";
  return `${day}${clock} ${p.label}`;
}

/** The value of a datetime-local input showing an instant on the clocks of `zone` (IANA):
 * "2030-01-01T03:00:00". Throws RangeError for a zone the browser does not know. */
export function zoneInput(iso, zone) {
  const p = clockParts(iso, zone);
  return `${p.date}T${p.hms}`;
}

/** The instant a datetime-local value names on the clocks of `zone` (IANA), by the rule
 * schedules and the CLI follow: a wall time the clock repeats means its first pass, one it
 * skips means the first instant after the gap. Throws RangeError for an unknown zone. */
export function fromZoneInput(value, zone) {
  const wall = value.length === 16 ? `${value}:00` : value.slice(0, 19);
  const asUtc = Date.parse(`${wall}Z`);  // the wall time read as if it were UTC
  const offset = (t) => Date.parse(`${zoneInput(new Date(t).toISOString(), zone)}Z`) - t;
  // The zone's offsets a day either side of it bound every instant that can show this wall.
  const candidates = [...new Set([offset(asUtc - 864e5), offset(asUtc), offset(asUtc + 864e5)])]
    .map((o) => asUtc - o).sort((a, b) => a - b);
  const exact = candidates.find((t) => zoneInput(new Date(t).toISOString(), zone) === wall);
  if (exact !== undefined) return new Date(exact);
  // Skipped: find the change of offset next to it; its first instant is the answer.
  let low = asUtc - offset(asUtc - 864e5) - 864e5 / 2, high = asUtc - offset(asUtc + 864e5) + 864e5 / 2;
  const before = offset(low);
  while (high - low > 1000) {
    const middle = Math.floor((low + high) / 2000) * 1000;
    if (offset(middle) === before) low = middle; else high = middle;
  }
  return new Date(high);
}
