import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { HubJournal } from "../../device/journal/hub-journal.ts";
import { TapHub } from "../../device/tap-hub.ts";
import { MqttSettlementLink } from "../../firmware-bridge/adapters/mqtt-settlement-link.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import type { Decision } from "../../protocol/messages.ts";
import { systemClock, systemRandom, systemTimers } from "../../core/sources.ts";
import { TestStack } from "../e2e/stack.ts";
import { until } from "./fixture.ts";

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
  it("owns link status, refuses to publish while offline, and passes on every verified decision", async () => {
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    link = settlementLink(stack.node.url, hub);
    const statuses: boolean[] = [];
    const decisions: Decision[] = [];
    link.onStatus((online) => statuses.push(online));
    link.onDecision((decision) => decisions.push(decision));

    expect(await codeOf(link.publish(Buffer.from("x")))).toBe(ErrorCode.Offline);
    await link.connect({ signal: new AbortController().signal });
    await link.connect({ signal: new AbortController().signal });
    expect(statuses).toEqual([true]);
    expect(link.online).toBe(true);

    // Bytes that are no request still get a signed decline on the hub's own res topic.
    await link.publish(Buffer.from("not cose"));
    await until(() => decisions.length === 1);
    expect(decisions[0]).toMatchObject({ hubId: "h1", status: "declined", code: ErrorCode.MalformedCbor });

    await stack.node.stop();
    await until(() => statuses.length === 2);
    expect(statuses).toEqual([true, false]);
    expect(link.online).toBe(false);
  });

  it("does not reconnect by itself: a failed connect rejects, an aborted one stops trying", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    link = settlementLink(`mqtts://127.0.0.1:${port}`, hub);

    expect(await codeOf(link.connect({ signal: new AbortController().signal }))).toBe(ErrorCode.Offline);
    const aborted = new AbortController();
    aborted.abort();
    expect(await codeOf(link.connect({ signal: aborted.signal }))).toBe(ErrorCode.Cancelled);
    expect(link.online).toBe(false);
  });
});

describe("TapHub", () => {
  it("refuses an invalid configuration at start with ConfigInvalid and stays stopped", () => {
    const noPort = {} as never;
    const journal = HubJournal.open({ path: ":memory:", clock: systemClock });
    const hub = new TapHub(
      {
        reader: { present: true, onPresence: () => () => undefined } as never,
        indicator: { show: () => undefined, beep: () => undefined, onCancel: () => () => undefined },
        settlement: { online: false, onStatus: () => () => undefined, onDecision: () => () => undefined } as never,
        link: noPort,
        signer: noPort,
        journal,
        clock: systemClock,
        timers: systemTimers,
        random: systemRandom,
      },
      { hubId: "h1", merchantId: "m1", timing: { tapTimeoutMs: 5 } },
    );

    expect(() => hub.start()).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    expect(hub.started).toBe(false);
    expect(() => hub.setAmount(100, "EUR", "reader")).toThrow(expect.objectContaining({ code: ErrorCode.HubNotReady }));
    journal.close();
  });
});
