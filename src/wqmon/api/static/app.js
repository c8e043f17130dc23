// The operator page: live alarms (SSE over fetch) with acknowledge, plant cards with charts,
// and the regional collection view. Plain ES modules, nothing fetched from the internet.
import {
  apiKey, call, forgetKey, saveKey, streamEvents, takeKeyFromLink, Unauthorised,
} from "/static/api.js";
import { disposeCharts, lineChart, rateBar, resizeCharts, withGaps } from "/static/chart.js";
import {
  ago, applyLabels, duration, fill, formatTime, locale, t, toggleLang,
} from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const alarms = new Map(); // alarm id -> alarm row (latest snapshot)
let stopStream = null;
let sites = [];
const details = new Map(); // site code -> /sites/{code}
const chartSpans = new Map(); // site code -> "24h" | "7d"
const CARD_REFRESH_MS = 30000;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v != null) node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

// The status line: a label and a detail, so a language switch can write it again.
let lastStatus = null;
function status(key, detail = "") {
  lastStatus = { key, detail };
  $("status-line").textContent = t(key) + (typeof detail === "function" ? detail() : detail);
}

function failed(err) {
  if (err instanceof Unauthorised) return askForKey(t("key.rejected"));
  status("status.error", err.message);
}

function showBoard(signedIn) {
  $("signed-out").hidden = signedIn;
  for (const s of document.querySelectorAll(".board")) s.hidden = !signedIn;
}

// --- key -------------------------------------------------------------------------------------
function askForKey(error) {
  stopStream?.();
  stopStream = null;
  showBoard(false);
  if (error) forgetKey();
  $("key-error").hidden = !error;
  $("key-error").textContent = error ?? "";
  $("key-input").value = "";
  if (!$("key-dialog").open) $("key-dialog").showModal();
}

async function onKeySaved(event) {
  event.preventDefault();
  saveKey($("key-input").value.trim());
  $("key-dialog").close();
  await start();
}

// --- alarms ----------------------------------------------------------------------------------
function renderAlarms() {
  const open = [...alarms.values()]
    .filter((a) => a.state !== "cleared")
    .sort((a, b) => Date.parse(b.raised_at) - Date.parse(a.raised_at) || b.id - a.id);
  const rows = open.map((a) => h("tr", { "data-alarm-id": a.id, class: `${a.state}${a.fresh ? " fresh" : ""}` },
    h("td", { class: "time" }, formatTime(a.raised_at)),
    h("td", { class: `sev sev-${a.severity}` }, t(`sev.${a.severity}`)),
    h("td", { class: "target" }, targetLabel(a.target), h("span", { class: "muted code" }, a.target)),
    h("td", { title: a.message }, alarmText(a)),
    h("td", { class: "alarm-state" }, t(`state.${a.state}`)),
    h("td", {}, a.acked_at ? null
      : h("button", { type: "button", class: "ack", onclick: () => openAck(a) }, t("ack.button"))),
  ));
  for (const a of open) a.fresh = false;
  $("alarm-list").replaceChildren(...rows);
  $("alarms-empty").hidden = open.length > 0;
}

// "WWTP-01/outlet/cod" -> the site's name, the point's role and the parameter, in the
// page's language (the code stays beside it: operators and the logs use it).
function targetParts(target) {
  const [site, point, alias] = target.split("/");
  const detail = details.get(site);
  const p = detail?.points.find((x) => x.code === point);
  return { site, detail, p, ch: alias ? channel(p, alias) : null, alias };
}

function targetLabel(target) {
  const { site, detail, p, ch, alias } = targetParts(target);
  const name = sites.find((s) => s.code === site)?.name ?? site;
  const role = p ? t(`role.${p.role}`) : null;
  const param = ch ? (currentLangIsZh() ? ch.name_zh : ch.name) : alias;
  return h("span", {}, [detail ? name : site, role, param].filter(Boolean).join(" · "));
}

function currentLangIsZh() {
  return locale() === "zh-CN";
}

const UNITS = { cod: "mg/L", nh3n: "mg/L", tp: "mg/L", tn: "mg/L", ph: "", flow: "m³/h" };

function number(v) {
  return v == null ? "—" : String(+Number(v).toFixed(1));
}

// The alarm's message in the page's language, from its rule and figures; the server's
// (English) text is the title of the cell, and stands in for a rule this page does not know.
function alarmText(a) {
  const key = `rule.${a.rule}`;
  if (t(key) === key) return a.message;
  const { ch, alias } = targetParts(a.target);
  const unit = ch?.unit ?? UNITS[alias] ?? "";
  const flag = /flag (\w+)/.exec(a.message)?.[1] ?? "";
  const timed = a.rule === "no_data";
  return fill(key, {
    value: timed ? duration(a.value ?? 0) : number(a.value),
    threshold: timed ? duration(a.threshold ?? 0) : number(a.threshold),
    unit, flag, flagName: [...flag].map((f) => t(`hj.${f}`)).join("、"),
  });
}

function upsertAlarm(alarm, fresh) {
  alarms.set(alarm.id, { ...alarm, fresh });
  renderAlarms();
}

function openAck(alarm) {
  $("ack-dialog").dataset.alarmId = alarm.id;
  $("ack-target").textContent = `${alarm.target} — ${alarmText(alarm)}`;
  $("ack-comment").value = "";
  $("ack-dialog").showModal();
}

async function onAck(event) {
  event.preventDefault();
  const id = Number($("ack-dialog").dataset.alarmId);
  $("ack-dialog").close();
  try {
    const answer = await call(`/api/v1/alarms/${id}/ack`, {
      method: "POST", body: { comment: $("ack-comment").value },
    });
    upsertAlarm(answer.alarm, false);
  } catch (err) {
    status("ack.failed", err.message);
  }
}

async function startAlarms() {
  stopStream?.();
  let loaded = false;
  stopStream = streamEvents("/api/v1/alarms/stream", {
    onEvent: (_kind, event) => upsertAlarm(event.alarm, true),
    onState: async (live, err) => {
      $("stream-state").className = `badge ${live ? "live" : "offline"}`;
      $("stream-state").dataset.i18n = live ? "stream.live" : "stream.offline";
      $("stream-state").textContent = t($("stream-state").dataset.i18n);
      if (err) return failed(err);
      if (live && !loaded) {
        loaded = true; // events from now on come over the stream; the list fills the past
        const open = await call("/api/v1/alarms", { params: { state: "open" } }).catch(failed);
        for (const a of open ?? []) if (!alarms.has(a.id)) alarms.set(a.id, a);
        renderAlarms();
      }
    },
  });
}

// --- plants ----------------------------------------------------------------------------------
function channel(point, alias) {
  return point?.channels.find((c) => c.alias === alias) ?? null;
}

function reading(ch) {
  if (!ch?.latest) return h("span", { class: "value" }, t("no.data"));
  const { value, flag, ts } = ch.latest;
  const over = ch.limit_value != null && value > ch.limit_value;
  const stale = Date.now() - Date.parse(ts) > 3600e3;
  return h("span", {},
    h("span", { class: `value${over ? " over" : ""}` }, `${+value.toFixed(2)} ${ch.unit}`),
    h("span", { class: `flag${flag === "N" ? "" : " bad"}`, title: `${t("flag.title")}: ${t(`hj.${flag}`)}` }, flag),
    h("span", { class: `muted${stale ? " stale" : ""}` }, ` · ${ago(ts)}`));
}

function pointBlock(point) {
  const conn = point.connection.state;
  return h("div", { class: "point", "data-point": point.code },
    h("div", { class: "role" }, t(`role.${point.role}`),
      h("span", { class: `badge ${conn}`, "data-conn": conn }, t(`conn.${conn}`))),
    h("div", {}, `${t("cod")}: `, reading(channel(point, "cod"))),
    h("div", {}, `${t("flow")}: `, reading(channel(point, "flow"))));
}

function card(site) {
  const detail = details.get(site.code);
  const points = detail?.points.filter((p) => channel(p, "cod") || channel(p, "flow")) ?? [];
  const span = chartSpans.get(site.code) ?? "24h";
  const tab = (value) => h("button", {
    type: "button", "aria-pressed": String(span === value),
    onclick: () => { chartSpans.set(site.code, value); drawChart(site.code); },
  }, t(`chart.${value}`));
  return h("article", { class: "card", "data-site": site.code },
    h("h3", {}, h("span", {}, site.name), h("span", { class: "muted" }, `${site.code} · ${site.region}`)),
    h("div", { class: "points" }, ...points.map(pointBlock)),
    h("div", { class: "chart" }, h("div", { class: "tabs" }, tab("24h"), tab("7d")),
      h("div", { class: "plot" })));
}

// 24 h: raw readings, so each reading's flag decides whether it is drawn; 7 days: hourly
// means, a bucket with any invalid flag left out (its mean would mix in invalid values).
const SPANS = {
  "24h": { hours: 24, bucket: null, gapMs: 3 * 3600e3 },
  "7d": { hours: 24 * 7, bucket: "1h", gapMs: 4 * 3600e3 },
};

function axisLabel(span) {
  return span === "24h"
    ? (d) => d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" })
    : (d) => d.toLocaleDateString(locale(), { month: "numeric", day: "numeric" });
}

async function drawChart(code) {
  const span = chartSpans.get(code) ?? "24h";
  const spec = SPANS[span];
  const to = Date.now();
  const from = to - spec.hours * 3600e3;
  const body = await call("/api/v1/readings", { params: {
    site: code, parameter: "cod", bucket: spec.bucket,
    from: new Date(from).toISOString(), to: new Date(to).toISOString(),
  } }).catch(failed);
  const box = document.querySelector(`article[data-site="${CSS.escape(code)}"]`);
  if (!body || !box) return;
  for (const b of box.querySelectorAll(".tabs button")) {
    b.setAttribute("aria-pressed", String(b.textContent === t(`chart.${span}`)));
  }
  const roles = new Map(details.get(code)?.points.map((p) => [p.code, p]) ?? []);
  const series = body.series.map((s) => {
    const role = roles.get(s.point)?.role === "inlet" ? "inlet" : "outlet";
    return { name: t(`chart.${role}`), role, point: s.point, data: withGaps(s.points, spec.gapMs) };
  });
  const limits = [...roles.values()].map((p) => channel(p, "cod")?.limit_value).filter((v) => v != null);
  const limit = limits.length ? Math.min(...limits) : null;
  const plot = box.querySelector(".plot");
  plot.dataset.span = span;
  lineChart(plot, {
    series, from, to, label: axisLabel(span), unit: "mg/L", empty: t("chart.nodata"),
    limit: limit == null ? null : { value: limit, label: `${t("chart.limit")} ${limit}` },
  });
}

function renderCards() {
  disposeCharts($("plant-cards"));
  $("plant-cards").replaceChildren(...sites.map(card));
}

async function loadPlants() {
  // Plants first (the balance is about them), then enterprises; by code within each kind.
  sites = (await call("/api/v1/sites")).sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "wwtp" ? -1 : 1));
  const found = await Promise.all(sites.map((s) => call(`/api/v1/sites/${encodeURIComponent(s.code)}`)));
  for (const d of found) details.set(d.code, d);
  renderCards();
  renderAlarms(); // target names come from the sites
  await Promise.all(sites.map((s) => drawChart(s.code)));
  const at = new Date().toISOString();
  status("status.updated", () => formatTime(at));
}

// --- regions ---------------------------------------------------------------------------------
function percent(rate) {
  return rate == null ? "—" : `${(rate * 100).toFixed(1)} %`;
}

function regionRows(account, names, depth = 0) {
  const rate = (value) => h("td", {}, rateBar(value), h("span", { class: "rate-label" }, percent(value)));
  const row = h("tr", { "data-region": account.code },
    h("td", { class: depth ? "child" : null }, names.get(account.code) ?? account.code),
    rate(account.collection_rate),
    rate(account.collection_reduction_rate),
    h("td", {}, (account.produced_kg / 1000).toFixed(1)),
    h("td", {}, (account.collected_kg / 1000).toFixed(1)),
    h("td", {}, account.actions.map((a) => t(`action.${a}`)).join("、") || "—"));
  return [row, ...account.children.flatMap((c) => regionRows(c, names, depth + 1))];
}

async function loadRegion() {
  const code = $("region-select").value;
  if (!code) return;
  const body = await call(`/api/v1/balance/regions/${encodeURIComponent(code)}`, {
    params: { year: $("year-select").value },
  }).catch(failed);
  if (!body) return;
  const names = new Map([...$("region-select").options].map((o) => [o.value, o.textContent]));
  $("region-table").tBodies[0].replaceChildren(...regionRows(body.periods[0].account, names));
}

async function loadRegions() {
  const regions = await call("/api/v1/regions");
  const select = $("region-select");
  const chosen = select.value || regions.find((r) => !r.parent)?.code;
  select.replaceChildren(...regions.map((r) => h("option", { value: r.code }, r.name)));
  if (chosen) select.value = chosen;
  const year = new Date().getFullYear();
  if (!$("year-select").options.length) {
    $("year-select").replaceChildren(...[year, year - 1, year - 2].map((y) => h("option", { value: y }, y)));
  }
  await loadRegion();
}

// --- start -----------------------------------------------------------------------------------
let refresher = null;

async function start() {
  if (!apiKey()) return askForKey();
  showBoard(true);
  try {
    await loadPlants();
  } catch (err) {
    return failed(err);
  }
  startAlarms();
  loadRegions().catch(failed);
  clearInterval(refresher);
  refresher = setInterval(() => loadPlants().catch(failed), CARD_REFRESH_MS);
}

// A language switch: every label, alarm, card, chart, the region table and the status line.
function rerender() {
  applyLabels();
  renderAlarms();
  if (lastStatus) status(lastStatus.key, lastStatus.detail);
  if (sites.length) {
    renderCards();
    for (const s of sites) drawChart(s.code);
  }
  loadRegion();
}

document.addEventListener("DOMContentLoaded", () => {
  takeKeyFromLink();
  applyLabels();
  $("lang-toggle").addEventListener("click", () => { toggleLang(); rerender(); });
  $("key-change").addEventListener("click", () => askForKey());
  $("key-open").addEventListener("click", () => askForKey());
  window.addEventListener("resize", resizeCharts);
  $("key-form").addEventListener("submit", onKeySaved);
  $("ack-form").addEventListener("submit", onAck);
  $("ack-cancel").addEventListener("click", () => $("ack-dialog").close());
  $("region-select").addEventListener("change", loadRegion);
  $("year-select").addEventListener("change", loadRegion);
  renderAlarms();
  start();
});
