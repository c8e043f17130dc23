// Inline SVG line charts (no chart library: the page must work without internet access).
const NS = "http://www.w3.org/2000/svg";
const W = 320, H = 140, PAD = { l: 34, r: 6, t: 8, b: 18 };

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

// series: [{cls, points: [{ts, value}]}]; limit: a horizontal line or null.
export function lineChart(series, { from, to, limit = null, label = (d) => d.toISOString() }) {
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  const values = series.flatMap((s) => s.points.map((p) => p.value));
  if (limit != null) values.push(limit);
  const top = niceMax(Math.max(0, ...values));
  const x = (ts) => PAD.l + ((ts - from) / (to - from)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  svg.append(el("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: y(0), y2: y(0) }));
  for (const v of [0, top / 2, top]) {
    svg.append(el("text", { x: PAD.l - 3, y: y(v) + 3, "text-anchor": "end" }, String(v)));
  }
  for (const ts of [from, (from + to) / 2, to]) {
    const anchor = ts === from ? "start" : ts === to ? "end" : "middle";
    svg.append(el("text", { x: x(ts), y: H - 4, "text-anchor": anchor }, label(new Date(ts))));
  }
  if (limit != null) {
    svg.append(el("line", { class: "limit", x1: PAD.l, x2: W - PAD.r, y1: y(limit), y2: y(limit) }));
  }
  for (const s of series) {
    const d = s.points
      .map((p, i) => `${i ? "L" : "M"}${x(Date.parse(p.ts)).toFixed(1)},${y(p.value).toFixed(1)}`)
      .join("");
    if (d) svg.append(el("path", { class: s.cls, d, "vector-effect": "non-scaling-stroke" }));
  }
  return svg;
}

// A rate bar with markers at the policy targets (80 % by 2025, 95 % by 2030).
export function rateBar(rate, targets = [0.8, 0.95]) {
  const bar = document.createElement("div");
  bar.className = "rate";
  const fill = document.createElement("div");
  const shown = Math.max(0, Math.min(1, rate ?? 0));
  fill.className = `fill${rate != null && rate >= targets[0] ? " met" : ""}`;
  fill.style.width = `${(shown * 100).toFixed(1)}%`;
  bar.append(fill);
  for (const target of targets) {
    const mark = document.createElement("div");
    mark.className = `target t${Math.round(target * 100)}`;
    mark.style.left = `${target * 100}%`;
    mark.title = `${Math.round(target * 100)} %`;
    bar.append(mark);
  }
  return bar;
}
