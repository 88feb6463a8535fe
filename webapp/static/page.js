// The HealthDemo page: polls the app's own JSON (GET / and GET /probes/recent) and calls the
// fault endpoints. Plain browser JavaScript, no build step; every text from the app goes in
// through textContent, since a probe's User-Agent is whatever the caller sent.
"use strict";

const POLL_MS = 1000;
const FETCH_TIMEOUT_MS = 3000;
const $ = (id) => document.getElementById(id);

let applied = 0; // the newest refresh shown: a slow older answer must not overwrite it
let started = 0;
let lastSeq = 0; // the newest probe call shown, to mark the ones that arrive after it
let lastAnswer = null;

async function getJSON(path) {
  const response = await fetch(path, {
    headers: { Accept: "application/json" },
    cache: "no-store",
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function refresh() {
  const mine = ++started;
  try {
    const [info, recent] = await Promise.all([getJSON("/"), getJSON("/probes/recent")]);
    if (mine < applied) return;
    applied = mine;
    lastAnswer = new Date();
    showInfo(info);
    showCalls(recent);
    setConnection("ok", `live: updated every ${POLL_MS / 1000} s`);
  } catch (error) {
    if (mine < applied) return;
    applied = mine;
    const since = lastAnswer ? ` since ${clock(lastAnswer)}` : "";
    setConnection("bad", `no answer${since} (${error.message}); still trying`);
  }
}

async function loop() {
  await refresh();
  setTimeout(loop, POLL_MS);
}

function setConnection(state, text) {
  const el = $("connection");
  el.dataset.state = state;
  el.textContent = text;
}

function card(name, state, text, detail) {
  $(name).dataset.state = state;
  $(`${name}-state`).textContent = text;
  $(`${name}-detail`).textContent = detail;
}

function showInfo(info) {
  $("hostname").textContent = info.hostname;
  $("container").textContent = `#${info.pod.container}`;
  $("pid").textContent = info.pid;
  $("uptime").textContent = duration(info.uptimeSeconds);

  const { startup, liveness, readiness, counters, pod } = info;
  if (startup.started) {
    card("startup", "ok", "started", startup.delaySeconds ? `after ${startup.delaySeconds} s` : "");
  } else {
    card("startup", "warn", "starting", `for ${startup.delaySeconds} s after the container starts`);
  }

  if (!startup.started) {
    card("liveness", "warn", "starting", "checks fail until started");
  } else if (liveness.failingSince) {
    card("liveness", "bad", "failing", `since ${clock(new Date(liveness.failingSince))} (start-failing)`);
  } else if (liveness.failNext > 0) {
    card("liveness", "bad", "failing", `the next ${liveness.failNext} checks fail`);
  } else if (liveness.hangSeconds > 0) {
    card("liveness", "warn", "slow", `answers after ${liveness.hangSeconds} s (hang)`);
  } else {
    card("liveness", "ok", "healthy", "");
  }

  const why = [];
  if (!startup.started) why.push("starting");
  else if (readiness.failNext > 0) why.push(`the next ${readiness.failNext} checks fail`);
  if (startup.started && !readiness.ready && readiness.failNext === 0) why.push("disabled");
  card("readiness", readiness.ready ? "ok" : "bad", readiness.ready ? "ready" : "not ready",
    why.join(", "));

  $("counters").textContent =
    `Checks answered: liveness ${counters.livenessChecks} (${counters.livenessFailures} failed), ` +
    `readiness ${counters.readinessChecks} (${counters.readinessFailures} failed), ` +
    `startup ${counters.startupChecks}.`;
  $("pod").textContent = pod.persistent
    ? `This Pod so far: ${pod.container + 1} container(s), ${pod.exits} ended, ` +
      `${pod.livenessFailures} failed liveness answers to the kubelet (kept across restarts).`
    : "No Pod journal (WEBAPP_JOURNAL_DIR unset): this container's story only.";
  showFaultMode(info.faults);
}

const FAULT_MODES = {
  enabled: "Each button calls the fault endpoint it names (POST).",
  token: "Faults need a token on this instance (WEBAPP_FAULTS=token): enter it; it is sent as " +
    "the header X-Fault-Token.",
  disabled: "Faults are disabled on this instance (WEBAPP_FAULTS=disabled): the buttons are off.",
};

function showFaultMode(mode) {
  const el = $("faults-mode");
  if (el.dataset.mode === mode) return;
  el.dataset.mode = mode;
  el.textContent = FAULT_MODES[mode] ?? `Unknown fault mode ${mode}.`;
  $("token-row").hidden = mode !== "token";
  for (const button of document.querySelectorAll("button[data-fault]")) {
    button.disabled = mode === "disabled";
    if (mode === "disabled") button.title = FAULT_MODES.disabled;
    else button.title = button.dataset.hint;
  }
}

function showCalls(recent) {
  const tbody = $("calls").tBodies[0];
  const version = `${recent.recorded} ${recent.calls[0]?.at}`; // a restart counts from 0 again
  if (tbody.dataset.version === version) return; // nothing new: keep the rows (and a selection)
  tbody.dataset.version = version;
  $("calls-count").textContent =
    `(newest first; ${recent.calls.length} of ${recent.recorded} kept, up to ${recent.capacity})`;
  const rows = recent.calls.map((call) => {
    const row = document.createElement("tr");
    row.dataset.ok = call.ok;
    row.dataset.seq = call.seq;
    if (lastSeq && call.seq > lastSeq) row.className = "new";
    row.append(
      cell(clock(new Date(call.at), true), "time"),
      cell(call.probe, "probe"),
      cell(call.kind, "kind"),
      cell(call.answer + (call.tookMs >= 100 ? ` after ${(call.tookMs / 1000).toFixed(1)} s` : ""), "answer"),
      who(call),
    );
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement("tr");
    const empty = cell("No probe calls yet: the kubelet's come every periodSeconds.", "empty");
    empty.colSpan = 5;
    row.append(empty);
    rows.push(row);
  }
  tbody.replaceChildren(...rows);
  lastSeq = Math.max(lastSeq, ...recent.calls.map((call) => call.seq));
}

function who(call) {
  const td = cell("", "who");
  const badge = document.createElement("span");
  badge.className = call.kubelet ? "badge kubelet" : "badge";
  badge.textContent = call.kubelet === null ? "can't tell" : call.kubelet ? "kubelet" : "not the kubelet";
  const agent = document.createElement("span");
  agent.className = "agent";
  agent.textContent = call.userAgent || "(no User-Agent)";
  td.append(badge, agent, ` from ${call.peer}`);
  return td;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

async function fault(button) {
  let path = button.dataset.fault;
  if (button.dataset.input) {
    path += `?${button.dataset.param}=${encodeURIComponent($(button.dataset.input).value)}`;
  }
  const headers = { Accept: "application/json" };
  const token = $("token").value;
  if (token) headers["X-Fault-Token"] = token;
  const result = $("fault-result");
  try {
    const response = await fetch(path, {
      method: "POST", headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    const body = await response.json().catch(() => ({}));
    result.dataset.state = response.ok ? "ok" : "bad";
    result.textContent = `POST ${path} → ${response.status} ` + (body.message ?? JSON.stringify(body));
  } catch (error) {
    result.dataset.state = "bad";
    result.textContent = `POST ${path}: no answer (${error.message})`;
  }
  refresh();
}

function clock(date, millis = false) {
  const text = date.toLocaleTimeString([], { hour12: false });
  return millis ? `${text}.${String(date.getMilliseconds()).padStart(3, "0")}` : text;
}

function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-fault]")) {
    button.dataset.hint = button.title;
    button.disabled = true; // until the first answer says whether faults are allowed
    button.addEventListener("click", () => fault(button));
  }
  loop();
});
