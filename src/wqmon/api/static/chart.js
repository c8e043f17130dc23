// Charts of the operator page, drawn by Apache ECharts (vendor/echarts, loaded by index.html as
// the global `echarts`; served from the package, nothing fetched from the internet).
const VALID_FLAGS = new Set(["N", "T"]); // as the server's DEFAULT_VALID_FLAGS (src/wqmon/flags.py)
const COLOURS = { inlet: "#1565c0", outlet: "#1f8a4c", limit: "#c62828" };
export const FONT = getComputedStyle(document.documentElement).fontFamily;

// A point is drawn only when every flag of it (a raw reading's, or a bucket's distinct flags)
// is valid; a gap longer than `gapMs` between drawn points breaks the line as well. ECharts
// leaves a null out and does not join across it (connectNulls: false).
export function withGaps(points, gapMs) {
  const data = [];
  let last = null;
  for (const p of points) {
    const ts = Date.parse(p.ts);
    const valid = [...(p.flag || "N")].every((f) => VALID_FLAGS.has(f));
    if (last !== null && ts - last > gapMs) data.push([last + 1, null]);
    if (!valid) {
      data.push([ts, null]);
      last = null;
      continue;
    }
    data.push([ts, p.value]);
    last = ts;
  }
  return data;
}

// series: [{name, role: "inlet"|"outlet", data: [[ms, value|null]]}]; limit: {value, label}.
export function lineChart(el, { series, from, to, limit = null, label, unit, empty }) {
  const chart = echarts.getInstanceByDom(el) ?? echarts.init(el, null, { renderer: "svg" });
  const hasData = series.some((s) => s.data.some(([, v]) => v != null));
  chart.setOption({
    animation: false,
    textStyle: { fontFamily: FONT },
    // The legend on the right of the top line, the unit on its left: nothing overlaps.
    grid: { left: 8, right: 16, top: 30, bottom: 4, containLabel: true },
    legend: { top: 0, right: 0, itemWidth: 16, itemHeight: 8, textStyle: { fontSize: 11 } },
    tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "—" : `${+v.toFixed(2)} ${unit}`) },
    xAxis: {
      type: "time", min: from, max: to, splitNumber: 4,
      axisLabel: {
        formatter: (ms) => label(new Date(ms)), hideOverlap: true, fontSize: 10,
        alignMinLabel: "left", alignMaxLabel: "right", // the end labels stay inside the chart
      },
    },
    yAxis: {
      type: "value", name: unit, nameGap: 12, nameTextStyle: { fontSize: 10, align: "left" },
      min: 0, axisLabel: { fontSize: 10 }, splitLine: { lineStyle: { color: "#e6e9ee" } },
    },
    series: series.map((s) => ({
      name: s.name, type: "line", data: s.data, showSymbol: false, connectNulls: false,
      lineStyle: { width: 1.5, color: COLOURS[s.role] }, itemStyle: { color: COLOURS[s.role] },
      markLine: s === series[0] && limit ? {
        symbol: "none", silent: true,
        lineStyle: { color: COLOURS.limit, type: "dashed" },
        label: { formatter: limit.label, position: "insideEndTop", color: COLOURS.limit, fontSize: 10 },
        data: [{ yAxis: limit.value }],
      } : undefined,
    })),
    graphic: hasData ? [] : [{
      type: "text", left: "center", top: "middle",
      style: { text: empty, fill: "#6b7785", fontSize: 12, fontFamily: FONT },
    }],
  }, true);
  return chart;
}

export function resizeCharts() {
  for (const el of document.querySelectorAll(".plot")) echarts.getInstanceByDom(el)?.resize();
}

// Before cards are replaced: a chart whose element is gone would otherwise stay in memory.
export function disposeCharts(root) {
  for (const el of root.querySelectorAll(".plot")) echarts.getInstanceByDom(el)?.dispose();
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
