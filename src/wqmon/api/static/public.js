// The public page (docs/accounting.md §6): each region's yearly progress and the lagging regions
// and parks, from approved accounts only. No key: it calls /api/v1/public/* only.
import { currentLang, toggleLang } from "/static/i18n.js";

const L = {
  zh: {
    title: "COD 集中收集进展公开", year: "年度", lang: "English", all: "全部年度",
    intro: "数据来自经市级审核通过的年度平衡核算；目标：2025 年集中收集率 ≥ 80 %，2030 年 ≥ 95 %。",
    progress: "各区域年度进展", lagging: "未达目标的区域和园区", regions: "区县", parks: "园区",
    region: "区域", kind: "类型", produced: "产生量 (t)", collected: "收集量 (t)",
    rate: "集中收集率", reduction: "集中收集削减率", target: "目标", actions: "整治方向",
    version: "核算版本", none: "无", county: "区县", park: "园区", city: "市",
    fix_network: "完善管网", build_capacity: "新建处理能力", upgrade_treatment: "提标改造",
    insufficient_data: "数据不足", empty: "该年度尚无审核通过的核算。",
  },
  en: {
    title: "Progress of COD collection", year: "Year", lang: "中文", all: "all years",
    intro: "From annual balance accounts approved by the city; targets: collection rate ≥ 80 % by 2025, ≥ 95 % by 2030.",
    progress: "Yearly progress per region", lagging: "Regions and parks short of the target",
    regions: "Counties", parks: "Parks", region: "Region", kind: "Kind",
    produced: "Produced (t)", collected: "Collected (t)", rate: "Collection rate",
    reduction: "Collection-reduction rate", target: "Target", actions: "Actions",
    version: "Account version", none: "none", county: "county", park: "park", city: "city",
    fix_network: "fix the sewer network", build_capacity: "build capacity",
    upgrade_treatment: "upgrade treatment", insufficient_data: "insufficient data",
    empty: "No approved account for this year yet.",
  },
};
const $ = (id) => document.getElementById(id);
const t = (key) => L[currentLang()][key] ?? key;
const params = new URLSearchParams(location.search);
let year = params.get("year") ? Number(params.get("year")) : new Date().getFullYear() - 1;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (v != null) node.setAttribute(k, v);
  }
  node.append(...children.flat().filter((c) => c != null));
  return node;
}
const pct = (v) => (v == null ? "—" : `${(v * 100).toFixed(1)} %`);
const tonnes = (kg) => (kg == null ? "—" : (kg / 1000).toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB", { maximumFractionDigits: 1, minimumFractionDigits: 1 }));

function bar(rate, target) {
  const width = Math.max(0, Math.min(1, rate ?? 0)) * 100;
  return h("div", { class: "rate", title: pct(rate) },
    h("div", { class: `fill${rate != null && rate >= target ? " met" : ""}`, style: `width:${width}%` }),
    h("div", { class: "target", style: "left:80%" }), h("div", { class: "target t95", style: "left:95%" }));
}

function render(body) {
  for (const [id, key] of [["title", "title"], ["year-label", "year"], ["lang", "lang"],
    ["intro", "intro"], ["progress-title", "progress"], ["lagging-title", "lagging"]]) $(id).textContent = t(key);
  document.title = t("title");
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  const head = h("tr", {}, ...["year", "region", "kind", "produced", "collected", "rate", "", "reduction", "target", "actions", "version"]
    .map((k) => h("th", {}, k ? t(k) : "")));
  const rows = body.regions.map((r) => h("tr", { class: r.lagging ? "lagging" : "" },
    h("td", {}, r.year), h("td", {}, `${r.name} (${r.region})`), h("td", {}, t(r.kind)),
    h("td", { class: "num" }, tonnes(r.produced_kg)), h("td", { class: "num" }, tonnes(r.collected_kg)),
    h("td", { class: `num${r.lagging ? " late" : ""}` }, pct(r.collection_rate)), h("td", {}, bar(r.collection_rate, r.target_rate)),
    h("td", { class: "num" }, pct(r.collection_reduction_rate)), h("td", { class: "num" }, `≥ ${pct(r.target_rate)}`),
    h("td", {}, r.actions.map((a) => h("span", { class: "action-tag" }, t(a)))), h("td", { class: "num" }, `v${r.version}`)));
  $("progress").replaceChildren(h("thead", {}, head), h("tbody", {}, rows.length ? rows : [h("tr", {}, h("td", { colspan: 11 }, t("empty")))]));
  const list = (items) => (items.length ? h("ul", {}, items.map((r) => h("li", {},
    `${r.year} · ${r.name} (${r.region}): ${pct(r.collection_rate)} < ${pct(r.target_rate)}`))) : h("p", { class: "muted" }, t("none")));
  $("lagging").replaceChildren(h("h3", {}, t("regions")), list(body.lagging_regions), h("h3", {}, t("parks")), list(body.lagging_parks));
}

async function load() {
  const url = new URL("/api/v1/public/progress", location.origin);
  if (year) url.searchParams.set("year", year);
  $("csv").href = `/api/v1/public/progress.csv${year ? `?year=${year}` : ""}`;
  const resp = await fetch(url);
  render(await resp.json());
}

const now = new Date().getFullYear();
$("year").replaceChildren(h("option", { value: "" }, t("all")),
  ...Array.from({ length: 8 }, (_, i) => now - i).map((y) => { const o = h("option", { value: y }, y); o.selected = y === year; return o; }));
$("year").addEventListener("change", () => { year = Number($("year").value) || null; load(); });
$("lang").addEventListener("click", () => { toggleLang(); load(); });
load();
