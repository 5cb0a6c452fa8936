/**
 * The console page's interactive half (appended to page.ts's script, so it shares its helpers `$`, `el`, `td`,
 * `row`, `time`): the session (operator name, CSRF token), the action buttons and their POSTs, the operator actions
 * from the evidence chain, and the charts drawn as plain SVG polylines from `/charts.json`.
 */
export const consoleScript = `
let session = { operatorId: "", csrfToken: "", actions: false };
async function loadSession() {
  const response = await fetch("session.json");
  if (response.status === 401) { location.href = "/"; return; }
  session = await response.json();
  $("operator").textContent = "operators/" + session.operatorId;
}
async function act(body) {
  const response = await fetch("actions", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": session.csrfToken }, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({ message: "failed (" + response.status + ")" }));
  const result = $("action-result");
  result.textContent = answer.message + (answer.code ? " (E" + answer.code + ")" : "");
  result.className = response.ok ? "ok" : "bad";
}
function actionButton(label, body, tone) {
  const button = el("button", "act " + (tone || ""), label);
  button.disabled = !session.actions;
  button.addEventListener("click", () => { button.disabled = true; act(body); });
  return button;
}
function reviewActions(c) {
  const cell = el("div", "actions");
  if (c.kind === "dispute") {
    cell.append(actionButton("for payer", { action: "resolve", caseId: c.caseId, favour: "payer" }, "ok"), actionButton("for merchant", { action: "resolve", caseId: c.caseId, favour: "merchant" }, "bad"));
  } else if (c.kind === "human_review") {
    cell.append(actionButton("approve", { action: "approve", caseId: c.caseId }, "ok"), actionButton("decline", { action: "decline", caseId: c.caseId }, "bad"));
  } else {
    cell.append(el("span", "muted", "waits for the person"));
  }
  return cell;
}
function hubActions(h) {
  const cell = el("td", "actions");
  if (h.status === "active") cell.append(actionButton("revoke", { action: "revoke-hub", hubId: h.hubId }, "bad"));
  return cell;
}
function renderOperatorActions(s) {
  fill($("operator-actions"), s.operatorActions.map((a) => row([td(time(a.atMs), "muted"), td(a.operator, "mono"), td(a.what, "mono")])), 3, "no operator actions yet");
}
const chartWidth = 300, chartHeight = 80;
const chartColours = ["#17803d", "#b42318", "#9a6700", "#5b3cc4", "#0b6bcb", "#6b7383"];
function drawChart(svgId, legendId, series, unit) {
  const svg = $(svgId);
  svg.replaceChildren();
  const legend = $(legendId);
  legend.replaceChildren();
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values.filter((v) => v !== undefined)));
  series.forEach((s, index) => {
    const n = s.values.length;
    const points = s.values.map((v, i) => v === undefined ? undefined : [n <= 1 ? chartWidth : (i / (n - 1)) * chartWidth, chartHeight - (v / max) * (chartHeight - 4)])
      .filter((p) => p !== undefined).map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ");
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points);
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", chartColours[index % chartColours.length]);
    line.setAttribute("stroke-width", "1.5");
    svg.append(line);
    const last = s.values.filter((v) => v !== undefined).at(-1);
    const key = el("span", "key", s.name + " " + (last === undefined ? "–" : last.toFixed(last < 10 ? 2 : 0)) + " " + unit);
    key.style.color = chartColours[index % chartColours.length];
    legend.append(key);
  });
}
function renderCharts(c) {
  $("charts-note").textContent = c.points.length + " points · " + c.source;
  const points = c.points;
  drawChart("chart-approvals", "legend-approvals", [{ name: "approved", values: points.map((p) => p.approvedPerSecond) }], "/s");
  drawChart("chart-latency", "legend-latency", [{ name: "p99", values: points.map((p) => p.p99LatencyMs) }], "ms");
  const codes = [...new Set(points.flatMap((p) => Object.keys(p.declinedPerSecondByCode)))].slice(0, 5);
  drawChart("chart-declined", "legend-declined", [{ name: "shed", values: points.map((p) => p.shedPerSecond) }, ...codes.map((code) => ({ name: code, values: points.map((p) => p.declinedPerSecondByCode[code] || 0) }))], "/s");
}
async function pollCharts() {
  const response = await fetch("charts.json");
  if (response.ok) renderCharts(await response.json());
  setTimeout(pollCharts, 2000);
}
$("logout").addEventListener("click", async () => {
  await fetch("logout", { method: "POST", headers: { "x-csrf-token": session.csrfToken } });
  location.href = "/";
});
loadSession().then(() => { startEvents(); pollCharts(); });
`;
