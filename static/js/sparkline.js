// Sparklines for the ops console: a room's last 30 minutes (online viewers, chat per minute,
// GMV) as a small inline SVG line. The geometry and the spoken label are pure functions
// (tested under node); `sparkline()` builds the SVG with createElementNS, no HTML.

const SVG = "http://www.w3.org/2000/svg";

// The line's path ("M x,y L x,y ..."): one point per slot, left to right over `width`, the
// lowest value at the bottom and the highest at the top (a flat series lies on the bottom
// line), `pad` pixels kept clear at the top and bottom for the stroke. A slot nobody sampled
// (null) breaks the line: the next point starts a new "M". Coordinates are rounded to 0.1 px.
export function sparkPath(values, width, height, pad = 1) {
  const list = Array.isArray(values) ? values : [];
  const known = list.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (!known.length) return "";
  const lo = Math.min(...known);
  const hi = Math.max(...known);
  const span = hi - lo;
  const step = list.length > 1 ? width / (list.length - 1) : 0;
  const r = (n) => Math.round(n * 10) / 10;
  let path = "";
  let drawing = false;
  list.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      drawing = false;
      return;
    }
    const x = list.length > 1 ? i * step : width / 2;
    const y = span > 0 ? height - pad - ((v - lo) / span) * (height - 2 * pad) : height - pad;
    path += `${path ? " " : ""}${drawing ? "L" : "M"}${r(x)},${r(y)}`;
    drawing = true;
  });
  return path;
}

// Where the newest known value lies (a dot marks it, so a room with one point so far shows
// something): [x, y] as in sparkPath, or null when nothing is known.
export function sparkLast(values, width, height, pad = 1) {
  const path = sparkPath(values, width, height, pad);
  const last = path.split(" ").pop();
  return last ? last.slice(1).split(",").map(Number) : null;
}

// What a screen reader says: "online viewers, last 30 min: 12 → 48" (first and last known
// values, through `format`, e.g. the money formatter for GMV); "no data yet" when empty.
export function sparkLabel(name, values, intervalMs, format = String) {
  const list = Array.isArray(values) ? values : [];
  const known = list.filter((v) => typeof v === "number" && Number.isFinite(v));
  const minutes = Math.max(1, Math.round((list.length * (Number(intervalMs) || 0)) / 60000));
  if (!known.length) return `${name}: no data yet`;
  return `${name}, last ${minutes} min: ${format(known[0])} → ${format(known[known.length - 1])}`;
}

// An <svg role="img"> with the line and its label (also its <title>, shown on hover).
export function sparkline(values, { name, intervalMs, format, width = 96, height = 24, className = "sparkline" } = {}) {
  const label = sparkLabel(name, values, intervalMs, format);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", className);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const title = document.createElementNS(SVG, "title");
  title.textContent = label;
  svg.append(title);
  const d = sparkPath(values, width, height, 2);
  if (d) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "1.5");
    path.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(path);
    const [cx, cy] = sparkLast(values, width, height, 2);
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", String(cx));
    dot.setAttribute("cy", String(cy));
    dot.setAttribute("r", "2");
    dot.setAttribute("fill", "currentColor");
    svg.append(dot);
  }
  return svg;
}
