import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { TapHub } from "../../device/tap-hub.ts";
import { MqttSettlementLink } from "../../firmware-bridge/adapters/mqtt-settlement-link.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import { systemClock, systemRandom } from "../../protocol/sources.ts";
import { TestStack } from "../e2e/stack.ts";

let stack: TestStack | undefined;
let link: MqttSettlementLink | undefined;
afterEach(async () => {
  await link?.stop();
  await stack?.stop();
  link = undefined;
  stack = undefined;
});

function settlementLink(url: string, bundle: EnrolmentBundle): MqttSettlementLink {
  return new MqttSettlementLink({
    link: {
      url,
      tls: { caPem: bundle.caPem, certPem: bundle.certPem, keyPem: bundle.keyPem! },
      principal: { kind: "hub", id: bundle.principal.id },
      protocolVersion: 4,
      servicePublicKey: importPublicPem(bundle.servicePublicKeyPem),
    },
    connectTimeoutMs: 2_000,
  });
}

async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
  } catch (error) {
    return error instanceof TapwireError ? error.code : -1;
  }
  return undefined;
}

describe("MqttSettlementLink: HubLink as the device's SettlementPort and LinkPort", () => {
  it("reports status, refuses work while offline, and bounds every wait", async () => {
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    link = settlementLink(stack.node.url, hub);
    const statuses: boolean[] = [];
    link.onStatus((online) => statuses.push(online));

    expect(await codeOf(link.send(Buffer.from("x"), "r-1", 1_000))).toBe(ErrorCode.Offline);
    expect(await codeOf(link.awaitDecision("r-1", 1_000))).toBe(ErrorCode.Offline);
    await link.connect({ signal: new AbortController().signal });
    await link.connect({ signal: new AbortController().signal });
    expect(statuses).toEqual([true]);

    expect(await codeOf(link.awaitDecision("r-2", 50))).toBe(ErrorCode.DecisionTimeout);
    const aborted = new AbortController();
    const waiting = link.awaitDecision("r-3", 5_000, aborted.signal);
    aborted.abort();
    expect(await codeOf(waiting)).toBe(ErrorCode.Cancelled);

    const dropped = link.awaitDecision("r-4", 5_000);
    await stack.node.stop();
    expect(await codeOf(dropped)).toBe(ErrorCode.Offline);
    expect(statuses).toEqual([true, false]);
  });

  it("does not reconnect by itself: a failed connect rejects at once, an aborted one stops trying", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    link = settlementLink(`mqtts://127.0.0.1:${port}`, hub);

    const startedMs = Date.now();
    expect(await codeOf(link.connect({ signal: new AbortController().signal }))).toBe(ErrorCode.Offline);
    expect(Date.now() - startedMs).toBeLessThan(1_000);
    const aborted = new AbortController();
    aborted.abort();
    expect(await codeOf(link.connect({ signal: aborted.signal }))).toBe(ErrorCode.Cancelled);
    expect(link.connected).toBe(false);
  });
});

describe("TapHub", () => {
  it("refuses an invalid configuration at start with ConfigInvalid and stays stopped", () => {
    const noPort = {} as never;
    const hub = new TapHub(
      { reader: noPort, indicator: { show: () => undefined, beep: () => undefined, onCancel: () => () => undefined }, settlement: { onStatus: () => () => undefined } as never, link: noPort, signer: noPort, seq: noPort, clock: systemClock, random: systemRandom },
      { hubId: "h1", merchantId: "m1", timing: { tapTimeoutMs: 5 } },
    );

    expect(() => hub.start()).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    expect(hub.started).toBe(false);
    expect(() => hub.setAmount(100, "EUR", "reader")).toThrow(expect.objectContaining({ code: ErrorCode.HubNotReady }));
  });
});
