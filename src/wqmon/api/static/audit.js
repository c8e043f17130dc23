// The data-audit section of the operator page (docs/audit.md): mark a range invalid or valid,
// revoke a mark, and the coverage list (联网全覆盖) with CSV/XLSX downloads. A module of its own,
// with its own labels, so the page's other modules stay as they are.
import { apiKey, call } from "/static/api.js";
import { currentLang, formatTime } from "/static/i18n.js";

const LABELS = {
  zh: {
    title: "数据审核与联网覆盖", site: "站点", point: "监测点", parameter: "参数（空 = 整个监测点）",
    start: "开始", end: "结束", validity: "判定", invalid: "无效", valid: "有效", reason: "原因",
    comment: "说明", mark: "标记", marks: "最近的审核标记", by: "标记人", revoke: "撤销",
    revoked: "已撤销", coverage: "联网覆盖检查", region: "区域（空 = 全部）", date: "日期",
    check: "检查", facility: "设施", missing: "缺失", since: "自", ok: "无缺失",
    maintenance: "维护", calibration: "校准", instrument_fault: "仪器故障",
    sampling_fault: "采样故障", power_cut: "停电", network_fault: "网络故障",
    shutdown: "停产/停运", lab_result: "手工/实验室数据", other: "其他", saved: "已记录标记 ",
  },
  en: {
    title: "Data audit and coverage", site: "Site", point: "Point",
    parameter: "Parameter (empty = whole point)", start: "Start", end: "End",
    validity: "Judged", invalid: "invalid", valid: "valid", reason: "Reason", comment: "Comment",
    mark: "Mark", marks: "Recent audit marks", by: "By", revoke: "Revoke", revoked: "revoked",
    coverage: "Coverage check", region: "Region (empty = all)", date: "Date", check: "Check",
    facility: "Facility", missing: "Missing", since: "since", ok: "nothing missing",
    maintenance: "maintenance", calibration: "calibration", instrument_fault: "instrument fault",
    sampling_fault: "sampling fault", power_cut: "power cut", network_fault: "network fault",
    shutdown: "shutdown", lab_result: "lab result", other: "other", saved: "recorded mark ",
  },
};
const REASONS = ["maintenance", "calibration", "instrument_fault", "sampling_fault", "power_cut",
  "network_fault", "shutdown", "other"];
const L = (key) => LABELS[currentLang()]?.[key] ?? key;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v != null) node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

// datetime-local gives the browser's local time without an offset: add it.
function withOffset(local) {
  const d = new Date(local);
  return new Date(d.getTime()).toISOString();
}

function field(name, input) {
  return h("label", {}, h("span", {}, L(name)), " ", input);
}

function markForm(section, say) {
  const reason = h("select", { name: "reason" },
    ...REASONS.map((r) => h("option", { value: r }, L(r))));
  const validity = h("select", { name: "validity" },
    h("option", { value: "invalid" }, L("invalid")), h("option", { value: "valid" }, L("valid")));
  const form = h("form", { id: "audit-mark-form", class: "controls" },
    field("site", h("input", { name: "site", required: "", size: 10 })),
    field("point", h("input", { name: "point", required: "", size: 8 })),
    field("parameter", h("input", { name: "parameter", size: 6 })),
    field("start", h("input", { name: "start", type: "datetime-local", required: "" })),
    field("end", h("input", { name: "end", type: "datetime-local", required: "" })),
    field("validity", validity), field("reason", reason),
    field("comment", h("input", { name: "comment", size: 24 })),
    h("button", { type: "submit" }, L("mark")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(form);
    try {
      const mark = await call("/api/v1/audit/marks", { method: "POST", body: {
        site: f.get("site"), point: f.get("point"), parameter: f.get("parameter") || null,
        start: withOffset(f.get("start")), end: withOffset(f.get("end")),
        validity: f.get("validity"), reason: f.get("reason"), comment: f.get("comment"),
      } });
      say(L("saved") + mark.id);
      await showMarks(section, say);
    } catch (err) { say(err.message); }
  });
  return form;
}

async function showMarks(section, say) {
  const body = section.querySelector("#audit-marks tbody");
  const marks = await call("/api/v1/audit/marks", { params: { limit: 50, revoked: true } });
  body.replaceChildren(...marks.map((m) => h("tr", { class: m.revoked_at ? "acknowledged" : "" },
    h("td", {}, `#${m.id}`), h("td", {}, `${m.site}/${m.point}${m.alias ? "/" + m.alias : ""}`),
    h("td", {}, `${formatTime(m.start)} – ${formatTime(m.end)}`), h("td", {}, L(m.validity)),
    h("td", {}, `${L(m.reason)} ${m.comment}`), h("td", {}, m.created_by),
    h("td", {}, m.revoked_at ? L("revoked") : h("button", { onclick: async () => {
      try {
        await call(`/api/v1/audit/marks/${m.id}/revoke`, { method: "POST", body: {} });
        await showMarks(section, say);
      } catch (err) { say(err.message); }
    } }, L("revoke"))))));
}

async function download(params, format) {
  const url = new URL("/api/v1/compliance", location.origin);
  for (const [k, v] of Object.entries({ ...params, format })) if (v) url.searchParams.set(k, v);
  const resp = await fetch(url, { headers: { "X-API-Key": apiKey() ?? "" } });
  const link = h("a", { href: URL.createObjectURL(await resp.blob()),
    download: `compliance.${format}` });
  link.click();
}

function coverageForm(section, say) {
  const region = h("input", { name: "region", size: 6 });
  const day = h("input", { name: "date", type: "date" });
  const params = () => ({ region: region.value || null, date: day.value || null });
  const run = async (event) => {
    event?.preventDefault();
    try {
      const report = await call("/api/v1/compliance", { params: params() });
      const rows = report.facilities.filter((f) => f.required).flatMap((f) => f.findings.length
        ? f.findings.map((x) => h("tr", {}, h("td", {}, `${f.site} ${f.name}`),
          h("td", {}, x.detail), h("td", {}, x.since ? `${L("since")} ${formatTime(x.since)}` : "")))
        : [h("tr", { class: "acknowledged" }, h("td", {}, `${f.site} ${f.name}`),
          h("td", {}, L("ok")), h("td", {}, ""))]);
      section.querySelector("#audit-coverage tbody").replaceChildren(...rows);
    } catch (err) { say(err.message); }
  };
  return h("form", { class: "controls", onsubmit: run },
    field("region", region), field("date", day), h("button", { type: "submit" }, L("check")),
    h("button", { type: "button", onclick: () => download(params(), "csv") }, "CSV"),
    h("button", { type: "button", onclick: () => download(params(), "xlsx") }, "XLSX"));
}

export async function mountAudit(section) {
  const say = (text) => { section.querySelector(".muted").textContent = text; };
  section.replaceChildren(
    h("h2", {}, L("title")), markForm(section, say), h("p", { class: "muted" }),
    h("h3", {}, L("marks")),
    h("table", { id: "audit-marks" }, h("thead", {}, h("tr", {}, h("th", {}, "#"),
      h("th", {}, L("point")), h("th", {}, L("start")), h("th", {}, L("validity")),
      h("th", {}, L("reason")), h("th", {}, L("by")), h("th", {}))), h("tbody")),
    h("h3", {}, L("coverage")), coverageForm(section, say),
    h("table", { id: "audit-coverage" }, h("thead", {}, h("tr", {}, h("th", {}, L("facility")),
      h("th", {}, L("missing")), h("th", {}, L("since")))), h("tbody")));
  try { await showMarks(section, say); } catch (err) { say(err.message); }
}

// Mounts itself once a key is known; the section is re-built on a language change.
const section = document.getElementById("audit");
if (section) {
  const start = () => { if (apiKey()) mountAudit(section); };
  document.getElementById("lang-toggle")?.addEventListener("click", () => setTimeout(start));
  document.getElementById("key-form")?.addEventListener("submit", () => setTimeout(start, 500));
  start();
}
