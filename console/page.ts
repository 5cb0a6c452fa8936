import { consoleScript } from "./console-script.ts";
import { pagePolicy } from "./page-security.ts";

/**
 * The console page (served to a logged-in operator): static HTML with inline CSS and JS, no build step and nothing
 * fetched from elsewhere. It listens to `/events` and redraws from each snapshot with textContent only (ids,
 * reasons and review context are data, never markup); console-script.ts adds the actions and the charts. The
 * Content-Security-Policy allows exactly this script and this style by hash.
 */
const style = `
:root { --bg:#f4f5f7; --card:#fff; --ink:#1d2330; --muted:#6b7383; --line:#e3e6eb; --ok:#17803d; --okbg:#e3f5e9;
  --bad:#b42318; --badbg:#fde8e6; --warn:#9a6700; --warnbg:#fff4d6; --info:#5b3cc4; --infobg:#eee9fd; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 16px; padding: 12px 24px; background: #1d2330; color: #fff; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
header .source { color: #aab2c0; font-size: 13px; }
header .live { margin-left: auto; display: flex; align-items: center; gap: 8px; font-size: 13px; }
.dot { width: 10px; height: 10px; border-radius: 50%; background: #888; display: inline-block; }
.dot.ok { background: #3ccf6e; } .dot.warn { background: #f0b429; } .dot.bad { background: #ef4444; }
main { padding: 16px 24px 24px; }
.stats { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin-bottom: 16px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.stat .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.stat .value { font-size: 22px; font-weight: 600; margin-top: 2px; }
.stat .sub { color: var(--muted); font-size: 12px; min-height: 16px; }
.stat .value.ok { color: var(--ok); } .stat .value.bad { color: var(--bad); } .stat .value.warn { color: var(--warn); }
.grid { display: grid; grid-template-columns: 3fr 2fr; gap: 16px; align-items: start; }
.col { display: grid; gap: 16px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
section h2 { font-size: 14px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); display: flex; gap: 8px; align-items: baseline; white-space: nowrap; }
section h2 .note { color: var(--muted); font-weight: 400; font-size: 12px; margin-left: auto; white-space: normal; text-align: right; }
table.fixed { table-layout: fixed; }
table.fixed td { overflow: hidden; text-overflow: ellipsis; }
table.fixed .mono { overflow: hidden; text-overflow: ellipsis; }
col.time { width: 92px; } col.hub { width: 21%; } col.amount { width: 122px; } col.decision { width: 32%; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 14px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; font-size: 12px; background: #fafbfc; }
tr:last-child td { border-bottom: none; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; white-space: nowrap; }
td.muted, .muted { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.ok { color: var(--ok); background: var(--okbg); } .badge.bad { color: var(--bad); background: var(--badbg); }
.badge.warn { color: var(--warn); background: var(--warnbg); } .badge.info { color: var(--info); background: var(--infobg); }
.badge.idle { color: var(--muted); background: #eef0f3; }
.code { color: var(--bad); font-size: 12px; }
.reason { color: var(--muted); font-size: 12px; }
tr.sum td { background: #fafbfc; font-weight: 600; }
.empty { padding: 14px; color: var(--muted); }
header .who { font-size: 13px; color: #aab2c0; }
header button, button.act { font: inherit; font-size: 12px; padding: 2px 10px; border-radius: 6px; border: 1px solid var(--line); background: #fff; cursor: pointer; margin-right: 4px; }
button.act.ok { color: var(--ok); } button.act.bad { color: var(--bad); } button.act:disabled { opacity: .5; cursor: default; }
td.actions, div.actions { white-space: nowrap; } div.actions { margin-top: 6px; }
#action-result { min-height: 18px; margin-bottom: 8px; font-size: 13px; } #action-result.ok { color: var(--ok); } #action-result.bad { color: var(--bad); }
.charts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; padding: 10px 14px; }
.chart svg { width: 100%; height: 80px; background: #fafbfc; border: 1px solid var(--line); border-radius: 4px; }
.chart .title { color: var(--muted); font-size: 12px; } .chart .key { font-size: 12px; margin-right: 10px; }
`;

const script = `
"use strict";
const $ = (id) => document.getElementById(id);
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function row(cells) {
  const tr = el("tr");
  for (const cell of cells) tr.append(cell);
  return tr;
}
function td(text, className) { return el("td", className, text); }
function badgeCell(text, tone) { const cell = el("td"); cell.append(el("span", "badge " + tone, text)); return cell; }
function words(text) { return text.replace(/_/g, " "); }
function requestLabel(a) {
  const payment = a.requestType === "payment_request" || a.requestType === "wallet_tag_payment";
  return payment && a.mode ? a.mode + " payment" : words(a.requestType);
}
function reasonText(a) {
  if (a.status === "approved") return "";
  const prefix = (a.codeName || "") + ": ";
  return a.reason.startsWith(prefix) ? a.reason.slice(prefix.length) : a.reason;
}
function time(ms) { return ms === undefined || ms === null ? "" : new Date(ms).toLocaleTimeString([], { hour12: false }); }
function fill(body, rows, columns, emptyText) {
  body.replaceChildren();
  if (rows.length === 0) {
    const cell = el("td", "empty", emptyText);
    cell.colSpan = columns;
    body.append(row([cell]));
    return;
  }
  for (const r of rows) body.append(r);
}
const statusTone = { approved: "ok", declined: "bad", step_up_required: "warn", human_review: "info" };
const presenceTone = { online: "ok", offline: "bad", unknown: "idle" };

function renderHubs(s) {
  const online = s.hubs.shown.filter((h) => h.presence === "online").length;
  $("stat-hubs").textContent = online + " / " + s.hubs.total;
  $("sub-hubs").textContent = s.presenceConnected ? "online now" : "as last seen";
  $("hubs-note").textContent = s.presenceConnected ? "live hub state" : "hub-state feed disconnected";
  fill($("hubs"), s.hubs.shown.map((h) => {
    const state = badgeCell(h.presence, presenceTone[h.presence] || "idle");
    if (h.status !== "active") state.append(" ", el("span", "badge bad", h.status));
    return row([td(h.hubId, "mono"), td(h.merchantId, "mono"), state,
      td(h.presenceSeenAtMs ? "since " + time(h.presenceSeenAtMs) : "never seen", "muted mono"), hubActions(h)]);
  }), 5, "no hubs enrolled");
}

function renderActivity(s) {
  const count = (status) => s.activity.filter((a) => a.status === status).length;
  const held = count("step_up_required") + count("human_review");
  $("stat-decisions").textContent = String(s.activity.length);
  $("sub-decisions").textContent = count("approved") + " approved · " + count("declined") + " declined" + (held ? " · " + held + " held" : "");
  fill($("activity"), s.activity.map((a) => {
    const status = el("td");
    status.append(el("span", "badge " + (statusTone[a.status] || "idle"), words(a.status)));
    if (a.code !== 0) status.append(el("div", "code", "E" + a.code + " " + (a.codeName || "")));
    if (reasonText(a)) status.append(el("div", "reason", reasonText(a)));
    const what = el("td");
    what.append(el("div", "", requestLabel(a)));
    const id = el("div", "reason mono", a.requestId);
    id.title = a.requestId;
    what.append(id);
    if (a.caseId) what.append(el("div", "reason mono", "case " + a.caseId));
    const who = el("td");
    const byHub = a.principal === "hubs/" + a.hubId;
    const name = el("div", "mono", byHub ? a.hubId : a.principal);
    name.title = a.principal;
    who.append(name);
    if (!byHub && !a.principal.endsWith("/" + a.hubId)) who.append(el("div", "reason", "at hub " + a.hubId));
    return row([td(time(a.atMs), "muted"), who, what, td(a.amount || "—", "num"), status]);
  }), 5, "no decisions yet");
}

function renderLedger(s) {
  const ledger = s.ledger;
  const balanced = $("stat-ledger");
  balanced.textContent = ledger.balanced ? "zero-sum ✓" : "UNBALANCED";
  balanced.className = "value " + (ledger.balanced ? "ok" : "bad");
  $("stat-transfers").textContent = String(ledger.transfers);
  $("sub-ledger").textContent = "balances summed per currency (" + ledger.sums.map((sum) => sum.currency).join(", ") + ")";
  $("accounts-note").textContent = s.accounts.shown.length < s.accounts.total ? s.accounts.shown.length + " of " + s.accounts.total + " accounts" : s.accounts.total + " accounts";
  const rows = s.accounts.shown.map((a) => row([td(a.accountId, "mono"), td(a.kind, "muted"), td(a.balance, "num")]));
  for (const sum of ledger.sums) {
    const tr = row([td("sum of " + sum.accounts + " " + sum.currency + " accounts"), td(sum.sumMinor === 0 ? "✓ zero" : "✗ not zero"), td(sum.sum, "num")]);
    tr.className = "sum";
    rows.push(tr);
  }
  fill($("accounts"), rows, 3, "no accounts");
}

function renderReviews(s) {
  const section = $("reviews-section");
  if (!s.reviews) { section.hidden = true; $("stat-reviews").textContent = "—"; $("sub-reviews").textContent = "no review cases here"; return; }
  section.hidden = false;
  const counts = s.reviews.countsByStatus;
  $("stat-reviews").textContent = String(counts.pending || 0);
  $("sub-reviews").textContent = "pending, for a person or an operator";
  $("reviews-note").textContent = Object.keys(counts).map((k) => counts[k] + " " + k).join(" · ");
  fill($("reviews"), s.reviews.pending.map((c) => {
    const what = el("td");
    what.append(el("div", "mono", c.caseId));
    what.append(el("div", "reason", words(c.kind) + ": " + c.reason));
    for (const line of c.context) what.append(el("div", "reason", line));
    what.append(el("div", "reason", "opened " + time(c.createdAtMs) + (c.expiresAtMs ? " · expires " + time(c.expiresAtMs) : "")));
    what.append(reviewActions(c));
    return row([what, td(c.requester, "mono"), td(c.amount || (c.paymentId ? "payment " + c.paymentId : "—"), "num")]);
  }), 3, "queue empty");
}

function renderCampaigns(s) {
  const section = $("campaigns-section");
  const campaigns = s.campaigns;
  if (!campaigns || campaigns.total === 0) { section.hidden = true; return; }
  section.hidden = false;
  $("campaigns-note").textContent = campaigns.shown.length < campaigns.total ? campaigns.shown.length + " of " + campaigns.total + " campaigns" : campaigns.total + " campaigns";
  fill($("campaigns"), campaigns.shown.map((c) => {
    const what = el("td");
    what.append(el("div", "mono", c.campaignId));
    what.append(el("div", "reason", (c.merchantId ? "merchant " + c.merchantId : "every merchant") + " · " + c.discountsGiven + " discounts · ends " + new Date(c.endsAtMs).toLocaleString()));
    const left = td(c.budgetLeft, "num");
    left.append(el("div", "reason", "of " + c.budget));
    const tone = c.status !== "active" ? "idle" : c.budgetLeftMinor > 0 ? "ok" : "warn";
    return row([what, badgeCell(c.status, tone), left]);
  }), 3, "no campaigns");
}

function render(s) {
  $("source").textContent = s.source;
  $("updated").textContent = "updated " + time(s.generatedAtMs);
  renderHubs(s);
  renderActivity(s);
  renderLedger(s);
  renderReviews(s);
  renderCampaigns(s);
  renderOperatorActions(s);
  setLive(s.presenceConnected ? "ok" : "warn", s.presenceConnected ? "live" : "live (no hub-state feed)");
}

function setLive(tone, text) {
  $("live-dot").className = "dot " + tone;
  $("live-text").textContent = text;
}

function startEvents() {
  const events = new EventSource("events");
  events.addEventListener("snapshot", (event) => render(JSON.parse(event.data)));
  events.addEventListener("error", () => setLive("bad", "disconnected, retrying"));
}
${consoleScript}`;

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tapwire console</title>
<link rel="icon" href="data:,">
<style>${style}</style>
</head>
<body>
<header>
  <h1>tapwire · settlement</h1>
  <span class="source" id="source"></span>
  <span class="live"><span class="dot" id="live-dot"></span><span id="live-text">connecting…</span><span class="source" id="updated"></span></span>
  <span class="who" id="operator"></span><button type="button" id="logout">Log out</button>
</header>
<main>
  <div id="action-result"></div>
  <div class="stats">
    <div class="stat"><div class="label">Hubs online</div><div class="value" id="stat-hubs">–</div><div class="sub" id="sub-hubs"></div></div>
    <div class="stat"><div class="label">Recent decisions</div><div class="value" id="stat-decisions">–</div><div class="sub" id="sub-decisions"></div></div>
    <div class="stat"><div class="label">Ledger transfers</div><div class="value" id="stat-transfers">–</div><div class="sub">money movements posted</div></div>
    <div class="stat"><div class="label">Ledger check</div><div class="value" id="stat-ledger">–</div><div class="sub" id="sub-ledger"></div></div>
    <div class="stat"><div class="label">Review queue</div><div class="value" id="stat-reviews">–</div><div class="sub" id="sub-reviews"></div></div>
  </div>
  <div class="grid">
    <div class="col">
      <section>
        <h2>Last minutes <span class="note" id="charts-note"></span></h2>
        <div class="charts">
          <div class="chart"><div class="title">approvals per second</div><svg id="chart-approvals" viewBox="0 0 300 80" preserveAspectRatio="none"></svg><div id="legend-approvals"></div></div>
          <div class="chart"><div class="title">p99 decision latency</div><svg id="chart-latency" viewBox="0 0 300 80" preserveAspectRatio="none"></svg><div id="legend-latency"></div></div>
          <div class="chart"><div class="title">shed and declined by code</div><svg id="chart-declined" viewBox="0 0 300 80" preserveAspectRatio="none"></svg><div id="legend-declined"></div></div>
        </div>
      </section>
      <section>
        <h2>Recent decisions <span class="note">newest first, from the evidence chain</span></h2>
        <table class="fixed"><colgroup><col class="time"><col class="hub"><col><col class="amount"><col class="decision"></colgroup>
        <thead><tr><th>time</th><th>from</th><th>request</th><th class="num">amount</th><th>decision</th></tr></thead>
        <tbody id="activity"></tbody></table>
      </section>
      <section>
        <h2>Operator actions <span class="note">newest first, from the evidence chain</span></h2>
        <table><thead><tr><th>time</th><th>operator</th><th>action</th></tr></thead>
        <tbody id="operator-actions"></tbody></table>
      </section>
    </div>
    <div class="col">
      <section>
        <h2>Hubs <span class="note" id="hubs-note"></span></h2>
        <table><thead><tr><th>hub</th><th>merchant</th><th>state</th><th>seen</th><th></th></tr></thead>
        <tbody id="hubs"></tbody></table>
      </section>
      <section>
        <h2>Ledger balances <span class="note" id="accounts-note"></span></h2>
        <table><thead><tr><th>account</th><th>kind</th><th class="num">balance</th></tr></thead>
        <tbody id="accounts"></tbody></table>
      </section>
      <section id="reviews-section">
        <h2>Human review queue <span class="note" id="reviews-note"></span></h2>
        <table><thead><tr><th>case</th><th>requester</th><th class="num">amount</th></tr></thead>
        <tbody id="reviews"></tbody></table>
      </section>
      <section id="campaigns-section" hidden>
        <h2>Campaigns <span class="note" id="campaigns-note"></span></h2>
        <table><thead><tr><th>campaign</th><th>state</th><th class="num">budget left</th></tr></thead>
        <tbody id="campaigns"></tbody></table>
      </section>
    </div>
  </div>
</main>
<script>${script}</script>
</body>
</html>
`;

export const dashboardPage = { html, contentSecurityPolicy: pagePolicy(script, style) } as const;
