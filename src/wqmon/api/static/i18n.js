// Chinese and English labels. Elements carry data-i18n (text) or data-i18n-placeholder.
const LABELS = {
  zh: {
    title: "水质在线监控", "stream.live": "实时连接正常", "stream.offline": "实时连接中断",
    "key.change": "更换密钥", "key.title": "API 密钥", "key.save": "保存",
    "key.help": "请输入运维人员的 API 密钥；它只保存在本浏览器中。",
    "key.rejected": "密钥无效或已吊销。",
    "ack.title": "确认报警", "ack.comment": "处理说明（可选）", "ack.cancel": "取消",
    "ack.confirm": "确认", "ack.button": "确认", "ack.failed": "确认失败：",
    "alarms.title": "实时报警", "alarms.raised": "发生时间", "alarms.severity": "级别",
    "alarms.target": "监测对象", "alarms.message": "内容", "alarms.state": "状态",
    "alarms.empty": "当前没有未解除的报警。",
    "state.active": "未确认", "state.acknowledged": "已确认", "state.cleared": "已解除",
    "sev.critical": "严重", "sev.major": "重要", "sev.warning": "警告", "sev.info": "提示",
    "plants.title": "污水处理厂与企业", "role.inlet": "进口", "role.outlet": "出口",
    "role.discharge": "排放口", cod: "COD", flow: "流量",
    "conn.online": "在线", "conn.delayed": "延迟", "conn.offline": "离线", "conn.never": "无数据",
    "ago.s": "秒前", "ago.m": "分钟前", "ago.h": "小时前", "ago.d": "天前", "no.data": "—",
    "chart.24h": "24 小时", "chart.7d": "7 天", "chart.inlet": "进口 COD",
    "chart.outlet": "出口 COD", "chart.limit": "限值",
    "regions.title": "区域 COD 集中收集", "regions.region": "区域", "regions.year": "年度",
    "regions.name": "区域", "regions.collection": "集中收集率",
    "regions.reduction": "集中收集削减率", "regions.produced": "产生量 (t)",
    "regions.collected": "收集量 (t)", "regions.actions": "措施",
    "regions.targets": "目标：2025 年 ≥ 80 %，2030 年 ≥ 95 %。",
    "action.fix_network": "完善管网", "action.build_capacity": "新建处理能力",
    "action.upgrade_treatment": "提标改造", "action.insufficient_data": "数据不足",
    "status.updated": "更新于 ", "status.error": "加载失败：",
  },
  en: {
    title: "Water quality monitoring", "stream.live": "Live", "stream.offline": "Live feed down",
    "key.change": "Change key", "key.title": "API key", "key.save": "Save",
    "key.help": "Enter an operator API key; it is kept in this browser only.",
    "key.rejected": "Unknown or revoked key.",
    "ack.title": "Acknowledge alarm", "ack.comment": "Comment (optional)", "ack.cancel": "Cancel",
    "ack.confirm": "Acknowledge", "ack.button": "Acknowledge", "ack.failed": "Acknowledge failed: ",
    "alarms.title": "Live alarms", "alarms.raised": "Raised", "alarms.severity": "Severity",
    "alarms.target": "Target", "alarms.message": "Message", "alarms.state": "State",
    "alarms.empty": "No open alarms.",
    "state.active": "active", "state.acknowledged": "acknowledged", "state.cleared": "cleared",
    "sev.critical": "critical", "sev.major": "major", "sev.warning": "warning", "sev.info": "info",
    "plants.title": "Plants and enterprises", "role.inlet": "Inlet", "role.outlet": "Outlet",
    "role.discharge": "Discharge", cod: "COD", flow: "Flow",
    "conn.online": "online", "conn.delayed": "delayed", "conn.offline": "offline",
    "conn.never": "no data",
    "ago.s": "s ago", "ago.m": "min ago", "ago.h": "h ago", "ago.d": "d ago", "no.data": "—",
    "chart.24h": "24 h", "chart.7d": "7 days", "chart.inlet": "inlet COD",
    "chart.outlet": "outlet COD", "chart.limit": "limit",
    "regions.title": "Regional COD collection", "regions.region": "Region",
    "regions.year": "Year", "regions.name": "Region", "regions.collection": "Collection rate",
    "regions.reduction": "Collection-reduction rate", "regions.produced": "Produced (t)",
    "regions.collected": "Collected (t)", "regions.actions": "Actions",
    "regions.targets": "Targets: ≥ 80 % by 2025, ≥ 95 % by 2030.",
    "action.fix_network": "fix the sewer network", "action.build_capacity": "build capacity",
    "action.upgrade_treatment": "upgrade treatment", "action.insufficient_data": "insufficient data",
    "status.updated": "Updated ", "status.error": "Loading failed: ",
  },
};

const STORE_KEY = "wqmon.lang";
let lang = localStorage.getItem(STORE_KEY)
  || (navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en");

export function t(key) {
  return LABELS[lang][key] ?? key;
}

export function currentLang() {
  return lang;
}

export function applyLabels(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
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

export function formatTime(iso) {
  return new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}
