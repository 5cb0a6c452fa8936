// A merchant's back office hearing of its payments: a tap at the counter and an agent's payment held for the
// person's step-up, both delivered as signed webhooks by `tapwire merchant events` (the package's own command),
// checked with tapwire/merchant's signature check, each delivery id once; and the same events over MQTT on the
// merchant's own signed feed (MerchantFeedClient). Uses only tapwire's public entry points.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Agent, PersonWallet } from "tapwire/agent";
import { MerchantFeedClient, deliveryHeader, signatureHeader, verifyWebhookSignature } from "tapwire/merchant";
import { SimulatedTapHub } from "tapwire/simulator";
import { check, startStack } from "./stack.mjs";

const waitMs = 10_000;
const secret = "whsec-example-0123456789";
const stack = await startStack();
const { node } = stack;
const received = new Map();
let forged = 0;
const receiver = createServer(async (request, response) => {
  let body = "";
  for await (const chunk of request) body += chunk;
  if (!verifyWebhookSignature(secret, request.headers[signatureHeader], body, Date.now())) {
    forged += 1;
    response.writeHead(400).end();
    return;
  }
  const event = JSON.parse(body);
  if (request.headers[deliveryHeader] === event.deliveryId && !received.has(event.deliveryId)) received.set(event.deliveryId, event);
  response.writeHead(204).end();
});
await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
let tapHub;
let agent;
let phone;
let sender;
let feed;
try {
  const hub = await node.enrollHub({ hubId: "h1", merchantId: "m1" });
  const walletBundle = await node.enrollWallet({ walletId: "alice", currency: "EUR", perPaymentMaxMinor: 50_000 });
  await node.registry.fundWallet("alice", 10_000);

  // A tap at the counter.
  tapHub = new SimulatedTapHub({ brokerUrl: node.url, hub, wallet: walletBundle, merchantId: "m1", journalFile: join(stack.dataDir, "hub-journal.sqlite") });
  await tapHub.start();
  await tapHub.waitFor((view) => view.hub === "ready" && view.tap.online && view.tap.state === "idle", waitMs);
  tapHub.setAmount(450, "EUR", "reader");
  await tapHub.waitFor((view) => view.tap.state === "waitingForTap", waitMs);
  tapHub.placePhone(tapHub.hcePhone());
  check((await tapHub.waitFor((view) => view.tap.state === "approved" || view.tap.state === "declined", waitMs)).tap.state === "approved", "a tap paid 4.50 EUR");

  // An agent's payment above alice's step-up threshold, approved on her phone.
  phone = new PersonWallet(walletBundle, node.url);
  agent = new Agent({ bundle: await node.enrollAgent({ agentId: "alice-agent" }), url: node.url });
  await phone.start();
  await agent.start();
  const nowMs = Date.now();
  await phone.grant(agent.agentId, agent.publicKey, {
    mandateId: "groceries", perPaymentMaxMinor: 2_000, budgetMinor: 5_000, currency: "EUR", allowedMerchants: ["m1"],
    stepUpAboveMinor: 1_000, notBefore: nowMs, expiresAt: nowMs + 3_600_000,
  });
  const held = await agent.pay({ mandateId: "groceries", merchantId: "m1", category: "groceries", amountMinor: 1_500, currency: "EUR", cart: { summary: "cheese" } });
  check(held.kind === "held", "the agent's 15.00 EUR waits for alice's step-up");
  await phone.answerStepUp(held.caseId, "approve");
  check((await agent.outcome(held, waitMs)).kind === "approved", "alice approved it on her phone");

  // The merchant's webhook: the package's own `tapwire merchant events`, reading the service's evidence chain.
  const secretFile = join(stack.dataDir, "whsec.txt");
  writeFileSync(secretFile, secret, { mode: 0o600 });
  const bin = createRequire(import.meta.url).resolve("tapwire/package.json").replace(/package\.json$/, "bin/tapwire.mjs");
  const url = `http://127.0.0.1:${receiver.address().port}/hooks/tapwire`;
  sender = spawn(process.execPath, [bin, "merchant", "events", "--merchant", "m1", "--data-dir", stack.dataDir, "--follow", "--poll-ms", "100", "--webhook", url, "--secret-file", secretFile], { stdio: "inherit" });
  const deadlineMs = Date.now() + waitMs;
  const approved = () => [...received.values()].filter((event) => event.type === "payment.approved");
  while (approved().length < 2 && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 100));
  const amounts = approved().map((event) => event.amountMinor).sort((a, b) => a - b);
  check(amounts.join(",") === "450,1500", "the merchant was told of both payments (4.50 and 15.00 EUR), signed, each delivery once");
  check([...received.values()].some((event) => event.type === "payment.held"), "and of the hold before alice answered");
  check(forged === 0, "every delivery's signature checked out");

  // The same events over MQTT: the merchant's own certificate, its signed feed, its position kept by the merchant.
  const feedBundle = await node.enrollMerchantFeed({ merchantId: "m1" });
  const fed = [];
  let position = 0;
  feed = new MerchantFeedClient({
    url: node.url,
    merchantId: "m1",
    tls: { caPem: feedBundle.caPem, certPem: feedBundle.certPem, keyPem: feedBundle.keyPem },
    servicePublicKeyPem: feedBundle.servicePublicKeyPem,
    position: { read: () => position, write: (seq) => (position = seq) },
    onEvent: (event) => void fed.push(event),
  });
  feed.start();
  const feedDeadlineMs = Date.now() + waitMs;
  while (fed.filter((event) => event.type === "payment.approved").length < 2 && Date.now() < feedDeadlineMs) await new Promise((resolve) => setTimeout(resolve, 100));
  check(fed.map((event) => event.deliveryId).join() === [...received.keys()].join(), "the MQTT feed told the merchant the same events, in the same order, each checked against the service's key");
} finally {
  await feed?.stop();
  sender?.kill("SIGTERM");
  await agent?.stop();
  await phone?.stop();
  await tapHub?.stop();
  receiver.close();
  await stack.stop();
}
