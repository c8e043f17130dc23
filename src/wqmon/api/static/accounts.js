// The accounting page (docs/accounting.md): a county's account (figures frozen vs live, the
// department inputs with their sources, submit), the city's review (list with deadlines,
// approve or return with comments per figure, the assessment report and its exports), the
// province's findings, and the results applied (actions, plants under 260 mg/L with their
// plans, the region's works, targets against history). Own labels; api.js for the key.
import { apiKey, call, forgetKey, saveKey, takeKeyFromLink, Unauthorised } from "/static/api.js";
import { currentLang, toggleLang } from "/static/i18n.js";

const L = {
  zh: {
    title: "COD 平衡核算", year: "年度", public: "公开信息", lang: "English", key: "更换密钥",
    keyTitle: "API 密钥", keyHelp: "请输入区县、市或省级核算密钥（wqmon apikey create --role county --region 代码）；它只保存在本浏览器中。",
    keySave: "保存", keyRejected: "密钥无效或已吊销。",
    list: "核算报送情况", region: "区域", kind: "类型", state: "状态", version: "版本",
    deadline: "截止日期", submitted: "首次报送", view: "查看", open: "开立核算",
    late: "逾期报送", overdue: "已逾期未报", county: "区县", park: "园区", city: "市",
    "state.not_opened": "未开立", "state.draft": "编制中", "state.submitted": "已报送",
    "state.returned": "已退回", "state.approved": "已审核通过",
    figures: "核算数据", figure: "指标", frozen: "报送值", live: "当前值", diff: "差异",
    coverage: "覆盖率", changed: "报送后数据有变化：报送值保持不变，当前值与之差异如下（重新报送将形成新版本）。",
    auditAdded: "报送后新增的审核标记", inputs: "部门数据", kindCol: "数据项", value: "数值",
    dept: "提供部门", doc: "文件文号", date: "文件日期", by: "录入人", save: "保存",
    submit: "提交报送", approve: "审核通过", ret: "退回修改", reopen: "重新打开修改",
    comment: "意见", comments: "审核意见", general: "（整体）", reason: "原因",
    versions: "版本", events: "操作记录", results: "结果应用", actions: "整治方向",
    basis: "依据", lowPlants: "进水 COD 低于 260 mg/L 的污水处理厂（一厂一策）",
    plan: "整改方案", measures: "措施", unit: "责任单位", due: "完成时限", status: "状态",
    planned: "计划", in_progress: "实施中", done: "已完成", works: "一区一策 年度工程",
    name: "名称", workKind: "类别", size: "规模", plannedDone: "计划完成", actualDone: "实际完成",
    add: "添加", history: "收集率与目标", target: "目标", report: "考核报告",
    make: "生成报告", ready: "全部核算已审核，可生成报告。", findings: "省级核查意见",
    record: "记录意见", none: "无", deciding: "判定依据",
    sewer_network: "管网", treatment_plant: "污水处理厂", treatment_upgrade: "提标改造", other: "其他",
    fix_network: "完善管网", build_capacity: "新建处理能力", upgrade_treatment: "提标改造",
    insufficient_data: "数据不足", noActions: "无需整治", required: "所需能力",
    installed: "现有能力", gap: "能力缺口", efficiency: "处理效率", collection: "收集率",
  },
  en: {
    title: "COD balance accounts", year: "Year", public: "Public", lang: "中文", key: "Change key",
    keyTitle: "API key", keyHelp: "Enter a county, city or province key (wqmon apikey create --role county --region CODE); it is kept in this browser only.",
    keySave: "Save", keyRejected: "Unknown or revoked key.",
    list: "Accounts and submissions", region: "Region", kind: "Kind", state: "State",
    version: "Version", deadline: "Deadline", submitted: "First submitted", view: "View",
    open: "Open account", late: "submitted late", overdue: "overdue", county: "county",
    park: "park", city: "city", "state.not_opened": "not opened", "state.draft": "draft",
    "state.submitted": "submitted", "state.returned": "returned", "state.approved": "approved",
    figures: "Figures", figure: "Figure", frozen: "Submitted", live: "Live", diff: "Difference",
    coverage: "Coverage", changed: "Data changed after submission: the submitted figures stay as they were; the live figures differ as shown (a resubmission makes a new version).",
    auditAdded: "Audit marks recorded after submission", inputs: "Department inputs",
    kindCol: "Input", value: "Value", dept: "Source department", doc: "Document",
    date: "Document date", by: "Entered by", save: "Save", submit: "Submit",
    approve: "Approve", ret: "Return", reopen: "Reopen to correct", comment: "Comment",
    comments: "Review comments", general: "(whole account)", reason: "Reason",
    versions: "Versions", events: "Audit trail", results: "Results applied",
    actions: "Action category", basis: "Basis",
    lowPlants: "Plants with inlet COD under 260 mg/L (one plan per plant)", plan: "Plan",
    measures: "Measures", unit: "Responsible unit", due: "Deadline", status: "Status",
    planned: "planned", in_progress: "in progress", done: "done",
    works: "Region plan: works per year", name: "Name", workKind: "Kind", size: "Size",
    plannedDone: "Planned", actualDone: "Completed", add: "Add",
    history: "Collection rate against the targets", target: "Target",
    report: "Assessment report", make: "Make report",
    ready: "Every account is approved: the report can be made.", findings: "Province findings",
    record: "Record finding", none: "none", deciding: "Deciding figures",
    sewer_network: "sewer network", treatment_plant: "treatment plant",
    treatment_upgrade: "treatment upgrade", other: "other", fix_network: "fix the sewer network",
    build_capacity: "build treatment capacity", upgrade_treatment: "upgrade treatment",
    insufficient_data: "insufficient data", noActions: "no action needed",
    required: "Required capacity", installed: "Installed capacity", gap: "Capacity gap",
    efficiency: "Removal efficiency", collection: "Collection rate",
  },
};
const INPUT_KINDS = ["urban_population", "cod_g_per_person_day", "self_supplied_water_m3",
  "self_supplied_cod_mg_l", "livestock_cod_kg", "other_cod_kg"];

const $ = (id) => document.getElementById(id);
const t = (key) => L[currentLang()][key] ?? key;
const params = new URLSearchParams(location.search);
const state = { me: null, year: null, region: params.get("region"), list: [], account: null };

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v != null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.flat().filter((c) => c != null && c !== false));
  return node;
}

// replaceChildren() would write null as the text "null": drop the parts not shown.
function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
}

function num(value, rate = false) {
  if (value == null) return "—";
  if (typeof value === "string") return value;
  if (rate) return `${(value * 100).toFixed(1)} %`;
  const digits = Math.abs(value) >= 100 ? 0 : 2;
  return value.toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB",
    { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function pct(value) {
  if (value == null) return "—";
  return `${(value * 100).toFixed(Math.abs(value) < 0.1 ? 1 : 0)} %`;
}
function labelOf(key, labels) {
  const l = labels?.[key];
  if (!l) return key;
  return (currentLang() === "zh" ? l.zh : l.en) + (l.unit ? ` (${l.unit})` : "");
}
function inputLabel(kind) {
  const k = state.account?.input_kinds?.[kind];
  return k ? `${currentLang() === "zh" ? k.zh : k.en} (${k.unit})` : kind;
}
function actionText(list) {
  return list?.length ? list.map((a) => h("span", { class: "action-tag" }, t(a))) : [t("noActions")];
}
const stateBadge = (s) => h("span", { class: `state ${s}` }, t(`state.${s}`));
const isCounty = () => state.me?.role === "county";
const isCity = () => state.me?.role === "city";
const isProvince = () => state.me?.role === "province";

function status(text) { $("status").textContent = text ?? ""; }
function failed(err) {
  if (err instanceof Unauthorised) return askKey(t("keyRejected"));
  status(err.message);
}
async function act(work) {
  try { status(""); await work(); await refresh(); } catch (err) { failed(err); }
}

// --- key and header --------------------------------------------------------------------------
function askKey(error) {
  if (error) forgetKey();
  $("key-error").hidden = !error;
  $("key-error").textContent = error ?? "";
  if (!$("key-dialog").open) $("key-dialog").showModal();
}

function labels() {
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  for (const [id, key] of [["title", "title"], ["year-label", "year"], ["public-link", "public"],
    ["lang", "lang"], ["key-change", "key"], ["key-title", "keyTitle"], ["key-help", "keyHelp"],
    ["key-save", "keySave"], ["list-title", "list"]]) $(id).textContent = t(key);
  document.title = t("title");
  if (state.me) $("who").textContent = `${state.me.name} · ${t(state.me.role)}`;
}

// --- list ------------------------------------------------------------------------------------
function renderList() {
  const head = h("tr", {}, ...["region", "kind", "state", "version", "deadline", "submitted", ""]
    .map((k) => h("th", {}, k ? t(k) : "")));
  const rows = state.list.map((r) => h("tr", { "data-region": r.region, class: r.region === state.region ? "selected" : "" },
    h("td", {}, `${r.name} (${r.region})`),
    h("td", {}, t(r.kind)),
    h("td", {}, stateBadge(r.state)),
    h("td", { class: "num" }, r.version ? `v${r.version}` : "—"),
    h("td", {}, r.deadline, r.overdue ? h("span", { class: "overdue" }, ` · ${t("overdue")}`) : null),
    h("td", {}, r.first_submitted_at ? r.first_submitted_at.slice(0, 10) : "—",
      r.late ? h("span", { class: "late" }, ` · ${t("late")}`) : null),
    h("td", {}, r.state === "not_opened" && isCounty()
      ? h("button", { class: "primary", onclick: () => act(async () => {
        await call(`/api/v1/accounting/accounts/${r.region}/${state.year}`, { method: "POST" });
        state.region = r.region;
      }) }, t("open"))
      : h("button", { onclick: () => select(r.region) }, t("view")))));
  $("list").replaceChildren(h("thead", {}, head), h("tbody", {}, rows));
}

function select(region) {
  state.region = region;
  const url = new URL(location.href);
  url.searchParams.set("region", region);
  url.searchParams.set("year", state.year);
  history.replaceState(null, "", url);
  refresh().catch(failed);
}

// --- account ---------------------------------------------------------------------------------
function figuresTable(a) {
  const frozen = a.frozen?.figures ?? {};
  const live = a.live.figures;
  const head = h("tr", {}, h("th", {}, t("figure")),
    a.frozen ? h("th", { class: "num" }, `${t("frozen")} v${a.version}`) : null,
    h("th", { class: "num" }, t("live")), a.frozen ? h("th", { class: "num" }, t("diff")) : null,
    h("th", { class: "num" }, t("coverage")));
  const rows = Object.keys(live).map((key) => {
    const rate = a.labels[key]?.rate;
    const d = a.differences[key];
    const text = (f) => key === "actions" ? (f?.value ?? "—") : num(f?.value, rate);
    return h("tr", { "data-figure": key },
      h("td", {}, labelOf(key, a.labels)),
      a.frozen ? h("td", { class: key === "actions" ? "text" : "num" }, text(frozen[key])) : null,
      h("td", { class: `${key === "actions" ? "text" : "num"}${d?.changed ? " moved" : ""}` }, text(live[key])),
      a.frozen ? h("td", { class: `num${d?.changed ? " moved" : ""}` },
        d?.changed ? (d.difference == null ? "≠" : (d.difference > 0 ? "+" : "") + num(d.difference, rate)) : "") : null,
      h("td", { class: "num" }, live[key].coverage == null ? "" : pct(live[key].coverage)));
  });
  return h("table", {}, h("thead", {}, head), h("tbody", {}, rows));
}

function inputsBox(a) {
  const current = a.live.inputs;
  const editable = isCounty() && ["draft", "returned"].includes(a.state);
  const rows = current.map((i) => h("tr", {},
    h("td", {}, inputLabel(i.kind)), h("td", { class: "num" }, num(i.value)),
    h("td", {}, i.source_department), h("td", {}, i.document_ref), h("td", {}, i.document_date),
    h("td", {}, i.entered_by)));
  const table = h("table", {}, h("thead", {}, h("tr", {}, ...["kindCol", "value", "dept", "doc", "date", "by"]
    .map((k) => h("th", {}, t(k))))), h("tbody", {}, rows));
  let form = null;
  if (editable) {
    form = h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); const f = new FormData(e.target);
      act(() => call(`/api/v1/accounting/accounts/${a.region}/${a.year}/inputs/${f.get("kind")}`, { method: "PUT",
        body: { value: Number(f.get("value")), source_department: f.get("dept"), document_ref: f.get("doc"),
          document_date: f.get("date") } })); } },
    h("label", {}, t("kindCol"), h("select", { name: "kind" }, INPUT_KINDS.map((k) => h("option", { value: k }, inputLabel(k))))),
    h("label", {}, t("value"), h("input", { name: "value", type: "number", step: "any", min: "0", required: true })),
    h("label", {}, t("dept"), h("input", { name: "dept", required: true })),
    h("label", {}, t("doc"), h("input", { name: "doc", required: true })),
    h("label", {}, t("date"), h("input", { name: "date", type: "date", required: true })),
    h("button", { type: "submit" }, t("save")));
  }
  return h("div", { class: "box" }, h("h3", {}, t("inputs")), table, form);
}

function reviewButtons(a) {
  const base = `/api/v1/accounting/accounts/${a.region}/${a.year}`;
  const buttons = [];
  if (isCounty() && ["draft", "returned"].includes(a.state)) {
    buttons.push(h("button", { class: "primary", id: "submit", onclick: () => act(() => call(`${base}/submit`, { method: "POST" })) }, t("submit")));
  }
  if (isCounty() && a.state === "approved") {
    buttons.push(h("form", { class: "inline", onsubmit: (e) => { e.preventDefault();
      act(() => call(`${base}/reopen`, { method: "POST", body: { reason: new FormData(e.target).get("reason") } })); } },
      h("label", {}, t("reason"), h("input", { name: "reason", required: true })), h("button", { type: "submit", class: "warn" }, t("reopen"))));
  }
  if (isCity() && a.state === "submitted") {
    buttons.push(h("button", { class: "primary", id: "approve", onclick: () => act(() => call(`${base}/approve`, { method: "POST", body: { comments: [] } })) }, t("approve")));
    const options = [h("option", { value: "" }, t("general")),
      ...Object.keys(a.live.figures).map((k) => h("option", { value: k }, labelOf(k, a.labels))),
      ...INPUT_KINDS.map((k) => h("option", { value: k }, inputLabel(k)))];
    buttons.push(h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); const f = new FormData(e.target);
      act(() => call(`${base}/return`, { method: "POST", body: { comments: [{ figure: f.get("figure") || null, comment: f.get("comment") }] } })); } },
      h("label", {}, t("figure"), h("select", { name: "figure" }, options)),
      h("label", {}, t("comment"), h("input", { name: "comment", required: true, size: 40 })),
      h("button", { type: "submit", class: "warn" }, t("ret"))));
  }
  return buttons.length ? h("div", { class: "buttons" }, buttons) : null;
}

function commentsBox(a) {
  if (!a.comments.length) return null;
  return h("div", { class: "box" }, h("h3", {}, t("comments")), a.comments.map((c) => h("div", { class: "comment" },
    h("strong", {}, `v${c.version} · ${c.figure ? (a.labels[c.figure] ? labelOf(c.figure, a.labels) : inputLabel(c.figure)) : t("general")}: `),
    c.comment, h("span", { class: "muted" }, ` — ${c.author}, ${c.at.slice(0, 16).replace("T", " ")}`))));
}

function trailBox(a) {
  const versions = a.versions.map((v) => h("li", {}, `v${v.version} · ${t(`state.${v.state}`)} · ${v.submitted_by} ${v.submitted_at.slice(0, 16).replace("T", " ")}`,
    v.decided_by ? ` → ${v.decided_by} ${v.decided_at.slice(0, 16).replace("T", " ")}` : ""));
  const events = a.events.map((e) => h("li", {}, `${e.at.slice(0, 19).replace("T", " ")} · ${e.actor} (${t(e.role)}) · ${e.action}`,
    e.detail.kind ? ` ${inputLabel(e.detail.kind)}: ${e.detail.before?.value ?? "—"} → ${e.detail.after?.value}` : "",
    e.detail.version ? ` v${e.detail.version}` : ""));
  return h("div", { class: "box" }, h("h3", {}, t("versions")), h("ul", { class: "events" }, versions),
    h("h3", {}, t("events")), h("ul", { class: "events" }, events));
}

function renderAccount(a) {
  const moved = Object.values(a.differences).some((d) => d.changed);
  const added = a.audit_changes?.added_marks ?? [];
  $("account-section").hidden = false;
  put($("account-section"),
    h("h2", {}, `${a.name} (${a.region}) · ${a.year} · `, stateBadge(a.state),
      a.version ? ` v${a.version}` : "", h("span", { class: "muted" }, ` · ${t("deadline")} ${a.deadline}`)),
    moved ? h("p", { class: "notice", id: "changed-notice" }, t("changed")) : null,
    added.length ? h("p", { class: "notice" }, `${t("auditAdded")}: `, added.map((m) => `${m.site}/${m.point} ${m.reason} ${m.start.slice(0, 16)}–${m.end.slice(11, 16)}`).join("; ")) : null,
    reviewButtons(a),
    h("div", { class: "grid2" },
      h("div", { class: "box" }, h("h3", {}, t("figures")), figuresTable(a)),
      h("div", {}, commentsBox(a), trailBox(a))),
    inputsBox(a));
}

// --- results ---------------------------------------------------------------------------------
function trend(points) {
  const max = Math.max(400, ...points.map((p) => p.inlet_conc_mg_l ?? 0));
  return h("div", { class: "trend", title: "inlet COD per month" }, points.map((p) => h("span", {
    class: p.inlet_conc_mg_l != null && p.inlet_conc_mg_l < 260 ? "low" : "",
    style: `height:${Math.round(((p.inlet_conc_mg_l ?? 0) / max) * 40)}px`,
    title: `${p.month}: ${p.inlet_conc_mg_l == null ? "—" : p.inlet_conc_mg_l.toFixed(0)} mg/L` })));
}

function planForm(r, p) {
  return h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); const f = new FormData(e.target);
    act(() => call(`/api/v1/accounting/rectifications/${p.site}/${r.year}`, { method: "PUT", body: {
      measures: f.get("measures"), responsible_unit: f.get("unit"), deadline: f.get("due"), status: f.get("status") } })); } },
  h("label", {}, t("measures"), h("input", { name: "measures", required: true, size: 30, value: p.plan?.measures ?? "" })),
  h("label", {}, t("unit"), h("input", { name: "unit", required: true, value: p.plan?.responsible_unit ?? "" })),
  h("label", {}, t("due"), h("input", { name: "due", type: "date", required: true, value: p.plan?.deadline ?? "" })),
  h("label", {}, t("status"), h("select", { name: "status" }, ["planned", "in_progress", "done"].map((s) => h("option", { value: s, selected: p.plan?.status === s }, t(s))))),
  h("button", { type: "submit" }, t("save")));
}

function worksBox(r) {
  const rows = r.works.map((w) => h("tr", {}, h("td", {}, w.year), h("td", {}, w.name), h("td", {}, t(w.kind)),
    h("td", { class: "num" }, w.capacity_m3_per_day ? `${num(w.capacity_m3_per_day)} m³/d` : w.length_km ? `${num(w.length_km)} km` : "—"),
    h("td", {}, w.planned_completion), h("td", { class: w.late && !w.done ? "late" : "" }, w.actual_completion ?? "—")));
  const form = isCounty() ? h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); const f = new FormData(e.target);
    const size = Number(f.get("size")) || null; const kind = f.get("kind");
    act(() => call(`/api/v1/accounting/works/${r.region}`, { method: "POST", body: { year: Number(f.get("year")), name: f.get("name"), kind,
      capacity_m3_per_day: kind === "sewer_network" ? null : size, length_km: kind === "sewer_network" ? size : null,
      planned_completion: f.get("planned") } })); } },
  h("label", {}, t("year"), h("input", { name: "year", type: "number", value: r.year + 1, min: 2000, max: 2099 })),
  h("label", {}, t("name"), h("input", { name: "name", required: true })),
  h("label", {}, t("workKind"), h("select", { name: "kind" }, ["sewer_network", "treatment_plant", "treatment_upgrade", "other"].map((k) => h("option", { value: k }, t(k))))),
  h("label", {}, `${t("size")} (m³/d | km)`, h("input", { name: "size", type: "number", step: "any", min: "0" })),
  h("label", {}, t("plannedDone"), h("input", { name: "planned", type: "date", required: true })),
  h("button", { type: "submit" }, t("add"))) : null;
  return h("div", { class: "box" }, h("h3", {}, t("works")), h("table", {}, h("thead", {}, h("tr", {},
    ...["year", "name", "workKind", "size", "plannedDone", "actualDone"].map((k) => h("th", {}, t(k))))), h("tbody", {}, rows)), form);
}

function renderResults(r) {
  const d = r.decision;
  const deciding = [["collection", pct(d.collection_rate), `≥ ${pct(d.action_target_rate)}`],
    ["required", `${num(d.required_capacity_m3_per_day)} m³/d`, ""], ["installed", `${num(d.capacity_m3_per_day)} m³/d`, ""],
    ["gap", `${num(d.capacity_gap_m3_per_day)} m³/d`, "> 0"], ["efficiency", pct(d.removal_efficiency), `≥ ${pct(d.min_removal_efficiency)}`]];
  const low = r.low_influent_plants.map((p) => h("tr", {}, h("td", {}, `${p.name} (${p.site})`),
    h("td", { class: "num low" }, `${num(p.inlet_conc_mg_l)} mg/L`), h("td", { class: "num" }, `${p.low_conc_days}/${p.evaluated_days}`),
    h("td", {}, trend(p.trend)),
    h("td", {}, isCounty() ? planForm(r, p) : p.plan ? `${p.plan.measures} · ${p.plan.responsible_unit} · ${p.plan.deadline} · ${t(p.plan.status)}` : "—")));
  const history = r.history.map((y) => h("tr", {}, h("td", {}, y.year), h("td", { class: "num" }, pct(y.collection_rate)),
    h("td", {}, y.basis), ...r.targets.map((tg) => h("td", { class: y.collection_rate != null && y.collection_rate >= tg.rate ? "" : "late" },
      `${tg.year} ${y.collection_rate != null && y.collection_rate >= tg.rate ? "✓" : "✗"}`))));
  const targetsNote = r.targets.map((tg) => `${tg.year} ≥ ${pct(tg.rate)}`).join(" · ");
  $("results-section").hidden = false;
  put($("results-section"),h("h2", {}, `${t("results")} · ${r.name} ${r.year}`, h("span", { class: "muted" }, ` · ${t("basis")}: ${r.basis}`)),
    h("div", { class: "grid2" },
      h("div", { class: "box" }, h("h3", {}, t("actions")), h("p", { id: "actions" }, actionText(d.actions)),
        h("h3", {}, t("deciding")), h("table", {}, h("tbody", {}, deciding.map(([k, v, c]) => h("tr", {}, h("td", {}, t(k)), h("td", { class: "num" }, v), h("td", { class: "muted" }, c)))))),
      h("div", { class: "box" }, h("h3", {}, t("history")), h("p", { class: "muted" }, `${t("target")}: ${targetsNote}`),
        h("table", {}, h("tbody", {}, history)))),
    h("div", { class: "box" }, h("h3", {}, t("lowPlants")), low.length ? h("table", {}, h("tbody", {}, low)) : h("p", { class: "muted" }, t("none"))),
    worksBox(r));
}

// --- report ----------------------------------------------------------------------------------
async function download(path, name) {
  const resp = await fetch(path, { headers: { "X-API-Key": apiKey() ?? "" } });
  if (!resp.ok) throw new Error(`${resp.status} ${(await resp.json().catch(() => ({}))).detail ?? ""}`);
  const url = URL.createObjectURL(await resp.blob());
  if (name.endsWith(".html")) window.open(url, "_blank");
  else h("a", { href: url, download: name }).click();
}

function renderReport(city, rep) {
  const base = `/api/v1/accounting/reports/${city}/${rep.year}`;
  const latest = rep.latest;
  const versions = rep.versions.map((v) => h("li", {}, `v${v.version} · ${v.created_by} · ${v.created_at.slice(0, 16).replace("T", " ")} `,
    ...["xlsx", "html", "pdf"].map((fmt) => h("button", { onclick: () => download(`${base}/${v.version}/${fmt}`, `assessment-${city}-${rep.year}-v${v.version}.${fmt}`).catch(failed) }, fmt.toUpperCase()))));
  const findings = (latest?.findings ?? []).map((f) => h("li", {}, `${f.at.slice(0, 10)} ${f.author}${f.region ? ` · ${f.region}` : ""}: ${f.finding}`));
  const fig = latest ?? rep.preview;
  $("report-section").hidden = false;
  put($("report-section"),
    h("h2", {}, `${t("report")} · ${city} ${rep.year}`),
    h("p", { class: rep.ready ? "muted" : "notice" }, rep.ready ? t("ready") : rep.blocker),
    fig ? h("p", {}, `${labelOf("produced_kg", state.account?.labels)}: ${num(fig.figures.produced_kg.value)} · ${labelOf("collected_kg", state.account?.labels)}: ${num(fig.figures.collected_kg.value)} · ${t("collection")}: ${pct(fig.figures.collection_rate.value)} · `, actionText(fig.decision.actions)) : null,
    isCity() && rep.ready ? h("div", { class: "buttons" }, h("button", { class: "primary", id: "make-report", onclick: () => act(() => call(base, { method: "POST" })) }, t("make"))) : null,
    h("ul", { class: "events" }, versions),
    h("h3", {}, t("findings")), findings.length ? h("ul", {}, findings) : h("p", { class: "muted" }, t("none")),
    isProvince() && latest ? h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); const f = new FormData(e.target);
      act(() => call(`${base}/${latest.version}/findings`, { method: "POST", body: { finding: f.get("finding"), region: f.get("region") || null } })); } },
    h("label", {}, t("region"), h("input", { name: "region", size: 6 })),
    h("label", {}, t("comment"), h("input", { name: "finding", required: true, size: 50 })),
    h("button", { type: "submit" }, t("record"))) : null);
}

// --- load ------------------------------------------------------------------------------------
async function refresh() {
  labels();
  state.list = await call("/api/v1/accounting/accounts", { params: { year: state.year } });
  if (!state.region && state.list.length === 1) state.region = state.list[0].region;
  renderList();
  const row = state.list.find((r) => r.region === state.region);
  if (row) {
    state.account = await call(`/api/v1/accounting/accounts/${row.region}/${state.year}`);
    renderAccount(state.account);
    renderResults(await call(`/api/v1/accounting/results/${row.region}/${state.year}`));
  } else {
    $("account-section").hidden = true;
    $("results-section").hidden = true;
  }
  const cities = [...new Set(state.list.map((r) => r.parent).filter(Boolean))];
  if (!isCounty() && cities.length) {
    renderReport(cities[0], await call(`/api/v1/accounting/reports/${cities[0]}/${state.year}`));
  }
}

async function start() {
  takeKeyFromLink();
  const now = new Date().getFullYear();
  state.year = Number(params.get("year")) || now - 1;
  $("year").replaceChildren(...Array.from({ length: 8 }, (_, i) => now - i).map((y) => h("option", { value: y, selected: y === state.year }, y)));
  $("year").addEventListener("change", () => { state.year = Number($("year").value); refresh().catch(failed); });
  $("lang").addEventListener("click", () => { toggleLang(); refresh().catch(failed); });
  $("key-change").addEventListener("click", () => askKey());
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveKey($("key-input").value.trim());
    $("key-dialog").close();
    load();
  });
  labels();
  if (!apiKey()) return askKey();
  return load();
}

async function load() {
  try {
    state.me = await call("/api/v1/accounting/me");
    await refresh();
  } catch (err) { failed(err); }
}

start();
