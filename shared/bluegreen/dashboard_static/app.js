// bluegreen dashboard: plain JavaScript, no build step. Polls the local server's JSON API, which goes
// through the stack's override function (the same target as the CLI). Every value from the API is
// written with textContent, never as HTML.
"use strict";

const POLL_MS = 1500;
const APPS_POLL_MS = 10000;
const TOKEN = document.querySelector('meta[name="bluegreen-token"]').content;
const ENABLED = {
  promote: (s) => ["VERIFYING", "SWAP_REFUSED"].includes(s.deploymentState),
  rollback: (s) => ["BAKING", "ROLLBACK_REFUSED", "SUCCEEDED"].includes(s.deploymentState),
  abort: (s) => ["DEPLOYING", "VERIFYING", "SWAP_REFUSED"].includes(s.deploymentState),
  pause: (s) => !s.paused,
  resume: (s) => s.paused,
};

const view = { apps: [], selected: null, status: null, pending: null, busy: false, timer: null };

function $(id) { return document.getElementById(id); }

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

function when(iso) {
  if (!iso) return "-";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function until(iso) {
  if (!iso) return "";
  const left = (new Date(iso) - new Date()) / 1000;
  return left > 0 ? `until ${when(iso)} (in ${duration(left)})` : `deadline ${when(iso)} (passed)`;
}

function say(text, isError) {
  const box = $("message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!body.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// ------------------------------------------------------------------ apps

async function loadConfig() {
  try {
    const config = await api("/api/config");
    $("target").textContent = config.target;
    $("actor").textContent = config.actor;
    $("reason-actor").textContent = config.actor;
    view.apps = config.apps || [];
    const note = $("apps-note");
    note.textContent = config.note || "";
    note.hidden = !config.note;
    if (!view.selected && view.apps.length) view.selected = fromHash() || view.apps[0].app;
    renderApps();
  } catch (error) {
    say(`cannot load the apps: ${error.message}`, true);
  }
}

function fromHash() {
  const name = decodeURIComponent(location.hash.replace(/^#/, ""));
  return view.apps.some((a) => a.app === name) ? name : null;
}

function renderApps() {
  const list = $("apps");
  list.replaceChildren();
  if (!view.apps.length) list.append(el("li", "(no apps: start with --app NAME)", "muted"));
  for (const app of view.apps) {
    const item = el("li");
    item.dataset.app = app.app;
    item.append(el("span", app.app));
    const state = app.app === view.selected && view.status ? view.status.deployment && view.status.deployment.state : app.state;
    if (state) item.append(el("span", state, `badge state-${state}`));
    if (app.app === view.selected) item.classList.add("selected");
    item.addEventListener("click", () => select(app.app));
    list.append(item);
  }
}

function select(app) {
  view.selected = app;
  view.status = null;
  location.hash = encodeURIComponent(app);
  renderApps();
  refresh();
}

// ------------------------------------------------------------------ one app

async function refresh() {
  clearTimeout(view.timer);
  if (view.selected) {
    try {
      const status = await api(`/api/status?app=${encodeURIComponent(view.selected)}`);
      if (status.app === view.selected) {
        view.status = status;
        render(status);
        $("refresh").textContent = `refreshed ${new Date().toLocaleTimeString()}`;
        if ($("message").className === "error" && $("message").dataset.kind === "refresh") say("");
      }
    } catch (error) {
      say(`cannot read ${view.selected}: ${error.message}`, true);
      $("message").dataset.kind = "refresh";
    }
  }
  view.timer = setTimeout(refresh, POLL_MS);
}

function render(s) {
  $("app").hidden = false;
  $("app-name").textContent = s.app;
  $("live-color").textContent = s.live_environment;
  $("paused").hidden = !s.paused;
  renderColors(s);
  renderDeployment(s);
  renderHistory(s);
  const flags = { deploymentState: s.deployment && s.deployment.state, paused: !!s.paused };
  for (const button of document.querySelectorAll(".buttons button")) {
    button.disabled = !ENABLED[button.dataset.action](flags) || view.busy;
  }
  renderApps();
}

function renderColors(s) {
  const body = $("colors").querySelector("tbody");
  body.replaceChildren();
  const colors = s.colors || [
    { name: s.live_environment, live: true },
    { name: s.idle_environment, live: false },
  ];
  $("colors-note").hidden = !!s.colors;
  for (const c of colors) {
    const live = c.live !== undefined ? c.live : c.name === s.live_environment;
    const row = el("tr");
    row.dataset.environment = c.name;
    if (live) row.classList.add("live");
    row.append(
      el("td", c.name, "mono"),
      traffic(live),
      el("td", c.status || "-"),
      el("td", c.health || "-", `health-${c.health}`),
      el("td", c.health_status || "-", `health-${c.health_status}`),
      el("td", c.version_label || "-", "mono"),
      el("td", c.cname || "-", "mono muted"),
    );
    body.append(row);
  }
}

function traffic(live) {
  const cell = el("td");
  cell.append(el("span", live ? "LIVE" : "idle", live ? "badge state-SUCCEEDED" : "muted"));
  return cell;
}

function renderDeployment(s) {
  const d = s.deployment;
  $("no-deployment").hidden = !!d;
  $("deployment-info").hidden = !d;
  if (!d) return;
  $("deployment-id").textContent = d.id;
  const state = $("deployment-state");
  state.textContent = d.state;
  state.className = `badge state-${d.state}`;
  $("deployment-version").textContent = (d.artifact && d.artifact.label) || "";
  $("deployment-target").textContent = d.target_environment;
  $("deployment-reason").textContent = d.reason || "";
  const waiting = s.waiting;
  $("waiting").hidden = !waiting;
  if (waiting) {
    $("waiting-what").textContent = waiting.what;
    $("waiting-until").textContent = until(waiting.until);
  }
  const list = $("timeline");
  list.replaceChildren();
  for (const step of s.timeline || []) {
    const item = el("li");
    item.dataset.state = step.state;
    if (step.current) item.classList.add("current");
    item.append(el("span", step.state, `badge state-${step.state}`));
    const spent = step.seconds === null || step.seconds === undefined ? when(step.since) : duration(step.seconds);
    item.append(el("span", `${spent}${step.current ? " so far" : ""}`, "duration"));
    item.title = `${when(step.since)}: ${step.reason || ""}${step.actor ? ` (by ${step.actor})` : ""}`;
    list.append(item);
  }
}

function renderHistory(s) {
  const body = $("history").querySelector("tbody");
  body.replaceChildren();
  const rows = [];
  for (const record of s.history || []) {
    const notes = record.transitions && record.transitions.length ? record.transitions : [{ reason: record.summary, cause: record.cause }];
    for (const note of notes) rows.push({ record, note });
  }
  for (const { record, note } of rows.reverse()) {
    const from = note.from_state || "-", to = note.to_state || "-";
    const arrow = from === to ? (to === "-" ? record.rule || record.event_kind : `${to} (event)`) : `${from} → ${to}`;
    const cause = note.cause || {};
    const row = el("tr");
    row.append(
      el("td", when(record.at), "muted"),
      el("td", record.revision),
      el("td", arrow),
      el("td", note.version || "", "mono"),
      el("td", note.reason || record.summary || ""),
      el("td", `${cause.type || ""}${cause.actor ? ` by ${cause.actor}` : ""}`, "muted"),
    );
    body.append(row);
  }
}

// ------------------------------------------------------------------ actions

function ask(action) {
  if (!view.status) return;
  view.pending = action;
  $("reason-title").textContent = `${action} ${view.status.app}`;
  $("reason-input").value = "";
  $("reason-dialog").showModal();
  $("reason-input").focus();
}

async function confirmAction(event) {
  event.preventDefault();
  const reason = $("reason-input").value.trim();
  if (!reason) { $("reason-input").reportValidity(); return; }
  const action = view.pending;
  const s = view.status;
  $("reason-dialog").close();
  if (!action || !s) return;
  view.busy = true;
  const request = { app: s.app, action, reason };
  if (s.deployment && ["promote", "rollback", "abort"].includes(action)) request.deployment_id = s.deployment.id;
  say(`${action} ${s.app}: sending…`);
  try {
    const body = await api("/api/action", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Bluegreen-Token": TOKEN },
      body: JSON.stringify(request),
    });
    const result = body.result || {};
    say(`${action} ${s.app}: ${result.reason || result.outcome || "done"}`);
  } catch (error) {
    say(`${action} ${s.app} refused: ${error.message}`, true);
    $("message").dataset.kind = "action";
  } finally {
    view.busy = false;
    refresh();
  }
}

function cancelAction() {
  $("reason-dialog").close();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll(".buttons button")) {
    button.addEventListener("click", () => ask(button.dataset.action));
  }
  $("reason-form").addEventListener("submit", confirmAction);
  $("reason-cancel").addEventListener("click", cancelAction);
  $("reason-dialog").addEventListener("close", () => { view.pending = null; });
  window.addEventListener("hashchange", () => { const name = fromHash(); if (name && name !== view.selected) select(name); });
  loadConfig().then(refresh);
  setInterval(loadConfig, APPS_POLL_MS);
});
