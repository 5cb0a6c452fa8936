import { pagePolicy } from "./page-security.ts";

/** The only page served without a session: an operator's name and the login token `tapwire operator enroll` printed. */
const style = `
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f4f5f7; color: #1d2330; }
form { max-width: 360px; margin: 12vh auto; background: #fff; border: 1px solid #e3e6eb; border-radius: 8px; padding: 24px; display: grid; gap: 12px; }
h1 { font-size: 18px; margin: 0 0 4px; }
label { display: grid; gap: 4px; color: #6b7383; font-size: 12px; }
input { font: inherit; padding: 8px; border: 1px solid #c9ced6; border-radius: 6px; }
button { font: inherit; padding: 8px; border: 0; border-radius: 6px; background: #1d2330; color: #fff; cursor: pointer; }
#error { color: #b42318; min-height: 18px; }
`;

const script = `
"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const operator = document.getElementById("operator").value.trim();
  const token = document.getElementById("token").value.trim();
  const response = await fetch("login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ operator, token }) });
  if (response.ok) { location.href = "/"; return; }
  const answer = await response.json().catch(() => ({ message: "login failed" }));
  document.getElementById("error").textContent = answer.message;
});
`;

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tapwire console · log in</title>
<link rel="icon" href="data:,">
<style>${style}</style>
</head>
<body>
<form id="login">
  <h1>tapwire console</h1>
  <label>operator<input id="operator" name="operator" autocomplete="username" required></label>
  <label>login token<input id="token" name="token" type="password" autocomplete="current-password" required></label>
  <button type="submit" id="login-button">Log in</button>
  <div id="error"></div>
</form>
<script>${script}</script>
</body>
</html>
`;

export const loginPage = { html, contentSecurityPolicy: pagePolicy(script, style) } as const;
