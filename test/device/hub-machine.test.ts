import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { defaultHubConfig, hubMachine } from "../../device/hub/hub-machine.ts";
import type { LinkPort } from "../../device/ports.ts";
import { tapView, type TapSnapshot } from "../../device/tap/tap-machine.ts";
import { credential, decision, deferred, flush, tapConfig, tapRig, type Deferred } from "./fakes.ts";

class FakeLink implements LinkPort {
  readonly connects: Array<{ signal: AbortSignal; answer: Deferred<void> }> = [];
  connect(input: { signal: AbortSignal }): Promise<void> {
    const answer = deferred<void>();
    this.connects.push({ signal: input.signal, answer });
    return answer.promise;
  }
}

const c = defaultHubConfig;

function startHub() {
  const tap = tapRig({ online: false, startOutbox: false });
  const link = new FakeLink();
  const actor = createActor(hubMachine, {
    input: { tap: { ports: tap.ports, config: tapConfig() }, link, config: defaultHubConfig },
    clock: tap.simulated,
  });
  actor.start();
  const hubState = () => actor.getSnapshot().value;
  const tapState = () => tapView(actor.getSnapshot().children.tap!.getSnapshot() as TapSnapshot);
  return { tap, link, actor, hubState, tapState };
}

describe("hub machine", () => {
  it("boots, connects and becomes ready; the tap machine then accepts amounts", async () => {
    const { tap, link, actor, hubState, tapState } = startHub();
    expect(hubState()).toBe("connecting");
    expect(tapState().online).toBe(false);

    link.connects[0]!.answer.resolve();
    await flush();

    expect(hubState()).toBe("ready");
    expect(tapState().online).toBe(true);
    expect(tap.indicator.last).toBe("idle");
    actor.send({ type: "SET_AMOUNT", amountMinor: 500, currency: "EUR", mode: "reader" });
    expect(tapState().state).toBe("waitingForTap");
  });

  it("refuses amounts while not ready", () => {
    const { tap, actor, tapState } = startHub();
    actor.send({ type: "SET_AMOUNT", amountMinor: 500, currency: "EUR", mode: "reader" });
    expect(tapState()).toMatchObject({ state: "idle", refusal: { code: ErrorCode.HubNotReady } });
    expect(tap.reader.reads).toHaveLength(0);
  });

  it("broker lost: reconnects with growing backoff, refuses amounts meanwhile, then is ready again", async () => {
    const { tap, link, actor, hubState, tapState } = startHub();
    link.connects[0]!.answer.resolve();
    await flush();

    tap.settlement.setOnline(false);
    expect(hubState()).toBe("reconnecting");
    expect(tapState().online).toBe(false);
    expect(tap.indicator.last).toBe("offline");
    actor.send({ type: "SET_AMOUNT", amountMinor: 500, currency: "EUR", mode: "reader" });
    expect(tapState().refusal?.code).toBe(ErrorCode.HubNotReady);

    tap.simulated.increment(c.reconnectBackoffBaseMs);
    expect(hubState()).toBe("connecting");
    link.connects[1]!.answer.reject(new TapwireError("refused", ErrorCode.Offline));
    await flush();
    expect(hubState()).toBe("reconnecting");
    tap.simulated.increment(c.reconnectBackoffBaseMs);
    expect(hubState()).toBe("reconnecting");
    tap.simulated.increment(c.reconnectBackoffBaseMs);
    expect(hubState()).toBe("connecting");

    // A connect that hangs counts as failed after connectTimeout, and its attempt is aborted.
    tap.simulated.increment(c.connectTimeoutMs);
    expect(hubState()).toBe("reconnecting");
    expect(link.connects[2]!.signal.aborted).toBe(true);
    tap.simulated.increment(4 * c.reconnectBackoffBaseMs);
    link.connects[3]!.answer.resolve();
    tap.settlement.setOnline(true);
    await flush();

    expect(hubState()).toBe("ready");
    expect(actor.getSnapshot().context.reconnectAttempts).toBe(0);
    actor.send({ type: "SET_AMOUNT", amountMinor: 500, currency: "EUR", mode: "reader" });
    expect(tapState().state).toBe("waitingForTap");
  });

  it("rests in failed after reconnectAttemptsMax, then tries a fresh series", async () => {
    const { tap, link, hubState } = startHub();
    for (let attempt = 0; attempt <= c.reconnectAttemptsMax; attempt++) {
      link.connects[attempt]!.answer.reject(new TapwireError("refused", ErrorCode.Offline));
      await flush();
      if (hubState() === "failed") break;
      tap.simulated.increment(c.reconnectBackoffMaxMs);
    }
    expect(hubState()).toBe("failed");
    const connectsSoFar = link.connects.length;

    tap.simulated.increment(c.failedCooldownMs);

    expect(hubState()).toBe("connecting");
    expect(link.connects).toHaveLength(connectsSoFar + 1);
  });

  it("forwards CANCEL and runs the outbox: a reversal left over is resent when the broker is back", async () => {
    const { tap, link, actor, tapState } = startHub();
    link.connects[0]!.answer.resolve();
    tap.settlement.setOnline(true);
    await flush();
    actor.send({ type: "SET_AMOUNT", amountMinor: 500, currency: "EUR", mode: "reader" });
    tap.reader.reads[0]!.answer.resolve(credential);
    await flush();

    actor.send({ type: "CANCEL" });
    await flush();
    expect(tapState().state).toBe("reversing");
    const reversal = tap.settlement.sent[1]!;
    tap.settlement.setOnline(false);
    reversal.answer.reject(new TapwireError("down", ErrorCode.Offline));
    await flush();
    expect(tap.outbox.has(reversal.requestId)).toBe(true);

    tap.simulated.increment(c.reconnectBackoffBaseMs);
    link.connects[1]!.answer.resolve();
    tap.settlement.setOnline(true);
    await flush();

    const resent = tap.settlement.sent.slice(2);
    expect(resent.length).toBeGreaterThan(0);
    expect(resent.every((call) => call.payload.equals(reversal.payload))).toBe(true);
    resent.at(-1)!.answer.resolve(decision(reversal.requestId));
    await flush();
    expect(tapState().state).toBe("cancelled");
  });

  it("stopping the hub stops the outbox and the link watch", () => {
    const { tap, actor } = startHub();
    expect(tap.settlement.listenerCount).toBe(2);
    actor.stop();
    expect(tap.settlement.listenerCount).toBe(0);
  });
});
