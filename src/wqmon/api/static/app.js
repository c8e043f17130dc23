// The operator page: live alarms (SSE over fetch) with acknowledge, plant cards with charts,
// and the regional collection view. Plain ES modules, nothing fetched from the internet.
import { apiKey, call, forgetKey, saveKey, streamEvents, Unauthorised } from "/static/api.js";
import { lineChart, rateBar } from "/static/chart.js";
import { ago, applyLabels, currentLang, formatTime, t, toggleLang } from "/static/i18n.js";

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

function status(text) {
  $("status-line").textContent = text;
}

function failed(err) {
  if (err instanceof Unauthorised) return askForKey(t("key.rejected"));
  status(t("status.error") + err.message);
}

// --- key -------------------------------------------------------------------------------------
function askForKey(error) {
  stopStream?.();
  stopStream = null;
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
    h("td", {}, formatTime(a.raised_at)),
    h("td", { class: `sev-${a.severity}` }, t(`sev.${a.severity}`)),
    h("td", {}, a.target),
    h("td", {}, a.message),
    h("td", { class: "alarm-state" }, t(`state.${a.state}`)),
    h("td", {}, a.acked_at ? null
      : h("button", { type: "button", class: "ack", onclick: () => openAck(a) }, t("ack.button"))),
  ));
  for (const a of open) a.fresh = false;
  $("alarm-list").replaceChildren(...rows);
  $("alarms-empty").hidden = open.length > 0;
}

function upsertAlarm(alarm, fresh) {
  alarms.set(alarm.id, { ...alarm, fresh });
  renderAlarms();
}

function openAck(alarm) {
  $("ack-dialog").dataset.alarmId = alarm.id;
  $("ack-target").textContent = `${alarm.target} — ${alarm.message}`;
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
    status(t("ack.failed") + err.message);
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
    h("span", { class: `flag${flag === "N" ? "" : " bad"}`, title: "HJ 212 flag" }, flag),
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
      h("div", { class: "plot" }),
      h("div", { class: "legend" }, h("span", { class: "inlet" }, `— ${t("chart.inlet")}`),
        h("span", { class: "outlet" }, `— ${t("chart.outlet")}`),
        h("span", { class: "limit" }, `- - ${t("chart.limit")}`))));
}

async function drawChart(code) {
  const span = chartSpans.get(code) ?? "24h";
  const to = Date.now();
  const from = to - (span === "24h" ? 24 : 24 * 7) * 3600e3;
  const body = await call("/api/v1/readings", { params: {
    site: code, parameter: "cod", bucket: span === "24h" ? "15m" : "2h",
    from: new Date(from).toISOString(), to: new Date(to).toISOString(),
  } }).catch(failed);
  const box = document.querySelector(`article[data-site="${CSS.escape(code)}"]`);
  if (!body || !box) return;
  for (const b of box.querySelectorAll(".tabs button")) {
    b.setAttribute("aria-pressed", String(b.textContent === t(`chart.${span}`)));
  }
  const roles = new Map(details.get(code)?.points.map((p) => [p.code, p]) ?? []);
  const series = body.series.map((s) => ({
    cls: roles.get(s.point)?.role === "inlet" ? "inlet" : "outlet", points: s.points,
  }));
  const limits = [...roles.values()].map((p) => channel(p, "cod")?.limit_value).filter((v) => v != null);
  const label = (d) => (span === "24h"
    ? d.toLocaleTimeString(currentLang() === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString(currentLang() === "zh" ? "zh-CN" : "en-GB", { month: "numeric", day: "numeric" }));
  box.querySelector(".plot").replaceChildren(
    lineChart(series, { from, to, limit: limits.length ? Math.min(...limits) : null, label }));
}

async function loadPlants() {
  // Plants first (the balance is about them), then enterprises; by code within each kind.
  sites = (await call("/api/v1/sites")).sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "wwtp" ? -1 : 1));
  const found = await Promise.all(sites.map((s) => call(`/api/v1/sites/${encodeURIComponent(s.code)}`)));
  for (const d of found) details.set(d.code, d);
  $("plant-cards").replaceChildren(...sites.map(card));
  await Promise.all(sites.map((s) => drawChart(s.code)));
  status(t("status.updated") + formatTime(new Date().toISOString()));
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

function rerender() {
  applyLabels();
  renderAlarms();
  if (sites.length) {
    $("plant-cards").replaceChildren(...sites.map(card));
    for (const s of sites) drawChart(s.code);
  }
  loadRegion();
}

document.addEventListener("DOMContentLoaded", () => {
  applyLabels();
  $("lang-toggle").addEventListener("click", () => { toggleLang(); rerender(); });
  $("key-change").addEventListener("click", () => askForKey());
  $("key-form").addEventListener("submit", onKeySaved);
  $("ack-form").addEventListener("submit", onAck);
  $("ack-cancel").addEventListener("click", () => $("ack-dialog").close());
  $("region-select").addEventListener("change", loadRegion);
  $("year-select").addEventListener("change", loadRegion);
  renderAlarms();
  start();
});
