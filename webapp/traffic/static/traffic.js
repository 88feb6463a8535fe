// The traffic client's page: polls GET /counts every second and draws it. No framework, nothing
// from the network; everything shown is in the JSON too.
"use strict";

const KINDS = ["5xx", "refused", "reset", "timeout", "other"];

function byId(id) { return document.getElementById(id); }

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

function lostOf(counts) {
  return KINDS.reduce((sum, kind) => sum + (counts[kind] || 0), 0);
}

function how(counts) {
  return KINDS.filter((kind) => counts[kind]).map((kind) => `${counts[kind]} ${kind}`).join(", ");
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function draw(counts) {
  const answers = counts.answers || {};
  const lost = lostOf(answers);
  byId("target").textContent = counts.target || "?";
  byId("rate").textContent = String(counts.rate);
  byId("sent").textContent = String(counts.sent);
  byId("since").textContent = counts.started ? `since ${clock(counts.started)}` : "";
  byId("ok").textContent = String(answers.ok || 0);
  const pods = Object.entries(counts.byPod || {}).map(([pod, n]) => `${pod} ${n}`).join(" · ");
  byId("pods").textContent = pods ? `answered (ok or 5xx) by ${pods}` : "";
  byId("lost").textContent = String(lost);
  byId("kinds").textContent = how(answers);
  byId("lost-card").dataset.state = lost ? "bad" : "ok";
  const body = byId("windows").querySelector("tbody");
  body.replaceChildren();
  const windows = (counts.windows || []).slice().reverse();
  for (const window_ of windows) {
    const row = document.createElement("tr");
    const lasted = (window_.end - window_.start).toFixed(1);
    cell(row, clock(window_.start));
    cell(row, `${lasted} s`);
    cell(row, String(lostOf(window_.counts || {})));
    cell(row, how(window_.counts || {}));
    cell(row, window_.closedAt ? clock(window_.closedAt) : "still failing");
    body.appendChild(row);
  }
  byId("none").hidden = windows.length > 0;
}

async function poll() {
  const status = byId("connection");
  try {
    const response = await fetch("/counts", { cache: "no-store" });
    draw(await response.json());
    status.dataset.state = "ok";
    status.textContent = "live";
  } catch (error) {
    status.dataset.state = "bad";
    status.textContent = `cannot read /counts: ${error}`;
  }
}

poll();
setInterval(poll, 1000);
