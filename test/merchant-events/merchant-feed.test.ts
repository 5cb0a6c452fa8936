import { createPrivateKey } from "node:crypto";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { clientIdFor } from "../../broker/mqtt/identity.ts";
import { EventCursor } from "../../broker/merchant-events/event-cursor.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { encodeFeedAck, openFeedEvent, sealFeedEvent, type MerchantEvent } from "../../protocol/merchant-feed.ts";
import { merchantFeedTopic } from "../../protocol/topics.ts";
import { MerchantFeedClient } from "../../sdk/merchant-feed.ts";
import { rawSigner, rawWallet } from "../e2e/attacker.ts";
import { TestStack } from "../e2e/stack.ts";
import { binTimeoutMs, runCli } from "../support/cli.ts";
import { CliProcess } from "../support/cli-process.ts";
import { eventually as until } from "../broker/fixtures.ts";

const waitMs = 10_000;

let stack: TestStack | undefined;
const clients: MerchantFeedClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.stop();
  await stack?.stop();
  stack = undefined;
});

/** m1 with hub h1 and wallet w1 on the embedded broker; `pay` sends a signed payment over the hub's own link. */
async function tradingStack() {
  stack = await TestStack.start();
  const { hub, wallet } = await stack.enrolDefaults();
  const link = await stack.connect(hub);
  const signer = rawSigner(hub, "m1");
  const payer = rawWallet(wallet, "EUR");
  const pay = async (amountMinor: number) => {
    const request = signer.payment(payer, amountMinor);
    return (await link.request(request.bytes, request.requestId, waitMs)).decision;
  };
  return { stack, pay, signer };
}

function follow(s: TestStack, bundle: EnrolmentBundle, cursorFile: string, taken: MerchantEvent[]): MerchantFeedClient {
  const client = new MerchantFeedClient({
    url: s.node.url,
    merchantId: bundle.principal.id,
    tls: { caPem: bundle.caPem, certPem: bundle.certPem, keyPem: bundle.keyPem! },
    servicePublicKeyPem: bundle.servicePublicKeyPem,
    position: new EventCursor(cursorFile),
    onEvent: (event) => {
      taken.push(event);
    },
  });
  client.start();
  clients.push(client);
  return client;
}

describe("a merchant's signed event feed over MQTT", () => {
  it("delivers each payment and decline, signed by the service, on the merchant's own topic", async () => {
    const { stack: s, pay } = await tradingStack();
    expect(await pay(1_200)).toMatchObject({ status: "approved" });
    expect(await pay(9_999_999)).toMatchObject({ status: "declined" });
    const bundle = await s.node.enrollMerchantFeed({ merchantId: "m1" });
    const taken: MerchantEvent[] = [];
    const client = follow(s, bundle, join(s.dataDir, "m1.position"), taken);
    await client.waitConnected(waitMs);

    await until(() => taken.length === 2, waitMs);
    expect(taken.map((event) => event.type)).toEqual(["payment.approved", "payment.declined"]);
    expect(taken[0]).toMatchObject({ merchantId: "m1", amountMinor: 1_200, currency: "EUR" });
    // Live: a payment made while listening arrives too.
    expect(await pay(300)).toMatchObject({ status: "approved" });
    await until(() => taken.length === 3, waitMs);
    expect(taken[2]).toMatchObject({ type: "payment.approved", amountMinor: 300 });
    expect(client.feedCounts).toEqual({ taken: 3, repeated: 0, refused: 0 });
  });

  it("a merchant stopped mid-stream and started again takes every event exactly once (interrupted)", async () => {
    const { stack: s, pay } = await tradingStack();
    const bundle = await s.node.enrollMerchantFeed({ merchantId: "m1" });
    const cursorFile = join(s.dataDir, "m1.position");
    const taken: MerchantEvent[] = [];
    const first = follow(s, bundle, cursorFile, taken);
    await first.waitConnected(waitMs);
    for (const amountMinor of [100, 200, 300]) await pay(amountMinor);
    await until(() => taken.length === 3, waitMs);
    await first.stop();

    for (const amountMinor of [400, 500]) await pay(amountMinor);
    const second = follow(s, bundle, cursorFile, taken);
    await second.waitConnected(waitMs);
    await until(() => taken.length === 5, waitMs);
    expect(taken.map((event) => event.amountMinor)).toEqual([100, 200, 300, 400, 500]);
    expect(new Set(taken.map((event) => event.deliveryId)).size).toBe(5);
    expect(new EventCursor(cursorFile).read()).toBe(taken.at(-1)!.seq);
  });

  it("a replayed event (a resend of one already taken) is dropped by seq (replayed, duplicated)", async () => {
    const { stack: s, pay } = await tradingStack();
    await pay(700);
    const bundle = await s.node.enrollMerchantFeed({ merchantId: "m1" });
    const taken: MerchantEvent[] = [];
    const client = follow(s, bundle, join(s.dataDir, "m1.position"), taken);
    await client.waitConnected(waitMs);
    await until(() => taken.length === 1, waitMs);
    // Ask the feed to start over from the beginning, as a merchant restoring an old position would.
    const raw = await rawMerchant(s, bundle, "restore");
    await raw.publishAsync(merchantFeedTopic("m1", "ack"), encodeFeedAck(0, true), { qos: 1 });
    await until(() => client.feedCounts.repeated >= 1, waitMs);
    raw.end(true);
    expect(taken).toHaveLength(1);
  });

  it("an event not signed by the service, or malformed, is refused by the client (forged, malformed)", () => {
    const service = generateP256();
    const forger = generateP256();
    const event: MerchantEvent = {
      deliveryId: "evt_9",
      seq: 9,
      type: "payment.approved",
      merchantId: "m1",
      requestId: "r1",
      requestType: "payment_request",
      code: 0,
      reason: "approved",
      atMs: 1,
      decision: "",
    };
    expect(openFeedEvent(sealFeedEvent(event, service.privateKey), service.publicKey)).toEqual(event);
    expect(() => openFeedEvent(sealFeedEvent(event, forger.privateKey), service.publicKey)).toThrow(expect.objectContaining({ code: ErrorCode.BadSignature }));
    expect(() => openFeedEvent(Buffer.from("not cose"), service.publicKey)).toThrow(expect.objectContaining({ code: expect.any(Number) }));
  });

  it("only the merchant reads its feed: another merchant, a hub, a replaced certificate or an unknown merchant is refused", async () => {
    const { stack: s } = await tradingStack();
    s.node.registry.enrollMerchant({ merchantId: "m2", currency: "EUR" });
    const m2 = await s.node.enrollMerchantFeed({ merchantId: "m2" });
    const snooper = await rawMerchant(s, m2);
    await expect(snooper.subscribeAsync(merchantFeedTopic("m1", "events"), { qos: 1 })).rejects.toThrow();
    await s.refusals.next(ErrorCode.SubscribeNotAllowed);
    snooper.publish(merchantFeedTopic("m1", "ack"), encodeFeedAck(0, true), { qos: 1 });
    await s.refusals.next(ErrorCode.PublishNotAllowed);
    snooper.end(true);
    // A hub may neither read a merchant's feed.
    const hub = await rawMerchant(s, await s.node.enrollHub({ hubId: "h9", merchantId: "m1" }));
    await expect(hub.subscribeAsync(merchantFeedTopic("m1", "events"), { qos: 1 })).rejects.toThrow();
    hub.end(true);

    const old = await s.node.enrollMerchantFeed({ merchantId: "m1" });
    await s.node.enrollMerchantFeed({ merchantId: "m1" });
    await expect(rawMerchant(s, old)).rejects.toThrow();
    await expect(s.node.enrollMerchantFeed({ merchantId: "nobody" })).rejects.toMatchObject({ code: ErrorCode.UnknownMerchant });
  });
});

describe("tapwire merchant enroll-feed and merchant events --mqtt", () => {
  it("a back office follows its feed from the files the CLI wrote, and a restart prints nothing twice", async () => {
    const { stack: s, pay } = await tradingStack();
    await pay(1_100);
    const bundleDir = join(s.dataDir, "m1-feed");
    const enrolled = await runCli(["merchant", "enroll-feed", "--merchant-id", "m1", "--out", bundleDir, "--data-dir", s.dataDir]);
    expect(enrolled.code).toBe(0);
    const args = ["merchant", "events", "--mqtt", s.node.url, "--bundle", bundleDir];
    const first = CliProcess.spawn(args);
    try {
      await first.waitOutput(/"amountMinor":1100/, binTimeoutMs);
      first.signal("SIGTERM");
      expect((await first.waitExit(binTimeoutMs)).code).toBe(0);
    } finally {
      first.kill();
    }
    await pay(2_200);
    const second = CliProcess.spawn(args);
    try {
      await second.waitOutput(/"amountMinor":2200/, binTimeoutMs);
      expect(second.stdout).not.toContain('"amountMinor":1100');
    } finally {
      second.kill();
    }
  });
});

/** A bare MQTT client with a principal's certificate (what a snooper or a restoring back office would do by hand). */
async function rawMerchant(s: TestStack, bundle: EnrolmentBundle, instance?: string): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(s.node.url, {
    ca: bundle.caPem,
    cert: bundle.certPem,
    key: createPrivateKey(bundle.keyPem!).export({ type: "pkcs8", format: "pem" }),
    clientId: clientIdFor(bundle.principal, instance),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
  });
  return client;
}
