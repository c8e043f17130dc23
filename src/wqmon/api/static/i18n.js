// Chinese and English labels. Elements carry data-i18n (text), data-i18n-placeholder or
// data-i18n-aria (aria-label); everything else the page writes goes through t() and fill(),
// and a language switch redraws it all (app.js rerender()).
const LABELS = {
  zh: {
    title: "水质在线监控", "stream.live": "实时连接正常", "stream.offline": "实时连接中断",
    "key.change": "更换密钥", "key.title": "API 密钥", "key.save": "保存",
    "key.help": "请输入运维人员的 API 密钥；它只保存在本浏览器中。",
    "key.howto": "没有密钥？演示环境：打开 wqmon demo 在终端里打印的登录链接即可。正式环境：请管理员运行 wqmon apikey create --role operator 生成运维密钥。",
    "key.rejected": "密钥无效或已吊销。",
    "signedout.title": "需要运维密钥", "signedout.enter": "输入密钥",
    "signedout.text": "报警、监测数据和区域核算只对持有运维密钥的用户显示。",
    "ack.title": "确认报警", "ack.comment": "处理说明（可选）", "ack.cancel": "取消",
    "ack.confirm": "确认", "ack.button": "确认", "ack.failed": "确认失败：",
    "alarms.title": "实时报警", "alarms.raised": "发生时间", "alarms.severity": "级别",
    "alarms.target": "监测对象", "alarms.message": "内容", "alarms.state": "状态",
    "alarms.empty": "当前没有未解除的报警。",
    "state.active": "未确认", "state.acknowledged": "已确认", "state.cleared": "已解除",
    "sev.critical": "严重", "sev.major": "重要", "sev.warning": "警告", "sev.info": "提示",
    "rule.exceedance_hour": "小时流量加权均值 {value} {unit}，超过限值 {threshold} {unit}",
    "rule.exceedance_live": "实时值 {value} {unit}，超出限值 {threshold} {unit}",
    "rule.low_influent_day": "日流量加权进水 COD {value} mg/L，低于 {threshold} mg/L（疑似地下水、河水或雨水稀释）",
    "rule.low_influent_24h": "近 24 小时流量加权进水 COD {value} mg/L，低于 {threshold} mg/L（疑似地下水、河水或雨水稀释）",
    "rule.no_data": "已 {value} 没有数据（允许 {threshold}）",
    "rule.flat_line": "数值 {value} {unit} 长时间不变（疑似仪表卡滞或人为干预）",
    "rule.instrument_state": "仪表报告数据标记 {flag}（{flagName}）",
    "rule.implausible": "数值 {value} {unit} 不合理（负值、接近合理上限或突变）",
    "hj.N": "正常", "hj.D": "故障", "hj.F": "停运", "hj.M": "维护", "hj.C": "校准",
    "hj.B": "通讯异常", "hj.T": "超测量上限", "hj.S": "手工设定",
    "dur.h": "小时", "dur.m": "分钟",
    "plants.title": "污水处理厂与企业", "role.inlet": "进口", "role.outlet": "出口",
    "role.discharge": "排放口", cod: "COD", flow: "流量", "flag.title": "HJ 212 数据标记",
    "conn.online": "在线", "conn.delayed": "延迟", "conn.offline": "离线", "conn.never": "无数据",
    "ago.s": "秒前", "ago.m": "分钟前", "ago.h": "小时前", "ago.d": "天前", "no.data": "—",
    "chart.24h": "24 小时", "chart.7d": "7 天", "chart.inlet": "进口 COD",
    "chart.outlet": "出口 COD", "chart.limit": "限值", "chart.nodata": "该时段没有有效数据",
    "regions.title": "区域 COD 集中收集", "regions.region": "区域", "regions.year": "年度",
    "regions.name": "区域", "regions.collection": "集中收集率",
    "regions.reduction": "集中收集削减率", "regions.produced": "产生量 (t)",
    "regions.collected": "收集量 (t)", "regions.actions": "措施",
    "regions.targets": "目标：2025 年 ≥ 80 %，2030 年 ≥ 95 %。",
    "action.fix_network": "完善管网", "action.build_capacity": "新建处理能力",
    "action.upgrade_treatment": "提标改造", "action.insufficient_data": "数据不足",
    "status.updated": "更新于 ", "status.error": "加载失败：",
    "footer.about": "wqmon 水质在线监控 · 数据来自 HJ 212、MQTT、HTTP 与 Modbus 在线仪表",
  },
  en: {
    title: "Water quality monitoring", "stream.live": "Live", "stream.offline": "Live feed down",
    "key.change": "Change key", "key.title": "API key", "key.save": "Save",
    "key.help": "Enter an operator API key; it is kept in this browser only.",
    "key.howto": "No key? In the demo, open the sign-in link that wqmon demo prints in its terminal. Otherwise ask an administrator to run wqmon apikey create --role operator.",
    "key.rejected": "Unknown or revoked key.",
    "signedout.title": "An operator key is needed", "signedout.enter": "Enter a key",
    "signedout.text": "Alarms, readings and regional accounts are shown to holders of an operator key only.",
    "ack.title": "Acknowledge alarm", "ack.comment": "Comment (optional)", "ack.cancel": "Cancel",
    "ack.confirm": "Acknowledge", "ack.button": "Acknowledge", "ack.failed": "Acknowledge failed: ",
    "alarms.title": "Live alarms", "alarms.raised": "Raised", "alarms.severity": "Severity",
    "alarms.target": "Target", "alarms.message": "Message", "alarms.state": "State",
    "alarms.empty": "No open alarms.",
    "state.active": "active", "state.acknowledged": "acknowledged", "state.cleared": "cleared",
    "sev.critical": "critical", "sev.major": "major", "sev.warning": "warning", "sev.info": "info",
    "rule.exceedance_hour": "hourly flow-weighted mean {value} {unit}, above the limit {threshold} {unit}",
    "rule.exceedance_live": "real-time value {value} {unit}, outside the limit {threshold} {unit}",
    "rule.low_influent_day": "daily flow-weighted influent COD {value} mg/L, below {threshold} mg/L (dilution by groundwater, river or rain?)",
    "rule.low_influent_24h": "flow-weighted influent COD over 24 h {value} mg/L, below {threshold} mg/L (dilution by groundwater, river or rain?)",
    "rule.no_data": "no data for {value} (allowed {threshold})",
    "rule.flat_line": "value {value} {unit} unchanged for hours (stuck instrument or tampering?)",
    "rule.instrument_state": "instrument reports flag {flag} ({flagName})",
    "rule.implausible": "implausible value {value} {unit} (negative, near the plausible bound, or a jump)",
    "hj.N": "normal", "hj.D": "fault", "hj.F": "stopped", "hj.M": "maintenance",
    "hj.C": "calibration", "hj.B": "communication fault", "hj.T": "over range",
    "hj.S": "set by hand",
    "dur.h": "h", "dur.m": "min",
    "plants.title": "Plants and enterprises", "role.inlet": "Inlet", "role.outlet": "Outlet",
    "role.discharge": "Discharge", cod: "COD", flow: "Flow", "flag.title": "HJ 212 data flag",
    "conn.online": "online", "conn.delayed": "delayed", "conn.offline": "offline",
    "conn.never": "no data",
    "ago.s": "s ago", "ago.m": "min ago", "ago.h": "h ago", "ago.d": "d ago", "no.data": "—",
    "chart.24h": "24 h", "chart.7d": "7 days", "chart.inlet": "inlet COD",
    "chart.outlet": "outlet COD", "chart.limit": "limit", "chart.nodata": "no valid data in this period",
    "regions.title": "Regional COD collection", "regions.region": "Region",
    "regions.year": "Year", "regions.name": "Region", "regions.collection": "Collection rate",
    "regions.reduction": "Collection-reduction rate", "regions.produced": "Produced (t)",
    "regions.collected": "Collected (t)", "regions.actions": "Actions",
    "regions.targets": "Targets: ≥ 80 % by 2025, ≥ 95 % by 2030.",
    "action.fix_network": "fix the sewer network", "action.build_capacity": "build capacity",
    "action.upgrade_treatment": "upgrade treatment", "action.insufficient_data": "insufficient data",
    "status.updated": "Updated ", "status.error": "Loading failed: ",
    "footer.about": "wqmon water-quality monitoring · readings from HJ 212, MQTT, HTTP and Modbus meters",
  },
};

const STORE_KEY = "wqmon.lang";
let lang = localStorage.getItem(STORE_KEY)
  || (navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en");

export function t(key) {
  return LABELS[lang][key] ?? key;
}

// A label with {name} placeholders filled from `vars` (a missing value leaves nothing).
export function fill(key, vars) {
  return t(key).replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? "")).replace(/\s+/g, " ").trim();
}

export function currentLang() {
  return lang;
}

export function locale() {
  return lang === "zh" ? "zh-CN" : "en-GB";
}

export function applyLabels(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-aria]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAria));
  }
  const toggle = document.getElementById("lang-toggle");
  if (toggle) toggle.textContent = lang === "zh" ? "English" : "中文";
}

export function toggleLang() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem(STORE_KEY, lang);
  applyLabels();
}

export function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  const [n, unit] = seconds < 60 ? [seconds, "s"] : seconds < 3600 ? [seconds / 60, "m"]
    : seconds < 86400 ? [seconds / 3600, "h"] : [seconds / 86400, "d"];
  return `${Math.floor(n)} ${t(`ago.${unit}`)}`;
}

// A span of seconds as "2 h 05 min" / "2 小时 05 分钟".
export function duration(seconds) {
  const minutes = Math.floor(Math.max(0, seconds) / 60);
  return `${Math.floor(minutes / 60)} ${t("dur.h")} ${String(minutes % 60).padStart(2, "0")} ${t("dur.m")}`;
}

export function formatTime(iso) {
  return new Date(iso).toLocaleString(locale(), { hour12: false });
}
