import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { VirtualClock } from "../../core/sources.ts";
import { ClockWatch } from "../../device/link/clock-watch.ts";
import { defaultLinkConfig, linkMachine } from "../../device/link/link-machine.ts";
import type { LinkPort } from "../../device/ports.ts";
import { FakeSettlement, flush } from "./fakes.ts";
import { deferred, type Deferred } from "./tap-fakes.ts";

class FakeLink implements LinkPort {
  readonly connects: Array<{ signal: AbortSignal; answer: Deferred<void> }> = [];
  connect(input: { signal: AbortSignal }): Promise<void> {
    const answer = deferred<void>();
    this.connects.push({ signal: input.signal, answer });
    return answer.promise;
  }
}

const c = defaultLinkConfig;

function startLink() {
  const clock = new VirtualClock();
  const settlement = new FakeSettlement(clock, false);
  const clockWatch = new ClockWatch(clock);
  const link = new FakeLink();
  const actor = createActor(linkMachine, { clock, input: { link, settlement, clockWatch, config: defaultLinkConfig } });
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  const state = () => actor.getSnapshot().value;
  /** The broker accepts the connect and the adapter reports the link up, as a real one does. */
  const connect = async (index: number) => {
    link.connects[index]!.answer.resolve();
    settlement.setOnline(true);
    await flush();
  };
  const refuse = async (index: number, code: ErrorCode = ErrorCode.Offline) => {
    link.connects[index]!.answer.reject(new TapwireError("refused", code));
    await flush();
  };
  return { clock, settlement, clockWatch, link, actor, errors, state, connect, refuse };
}

describe("link machine", () => {
  it("boots into connecting and is ready once connected", async () => {
    const hub = startLink();
    expect(hub.state()).toBe("connecting");

    await hub.connect(0);

    expect(hub.state()).toBe("ready");
    expect(hub.actor.getSnapshot().context).toMatchObject({ reconnectAttempts: 0, lastErrorCode: undefined });
  });

  it("link lost: reconnects with growing backoff, counts a hung connect as failed and aborts it, then is ready again", async () => {
    const hub = startLink();
    await hub.connect(0);

    hub.settlement.setOnline(false);
    expect(hub.state()).toBe("reconnecting");
    expect(hub.actor.getSnapshot().context.lastErrorCode).toBe(ErrorCode.Offline);
    hub.clock.advance(c.reconnectBackoffBaseMs);
    expect(hub.state()).toBe("connecting");
    await hub.refuse(1, ErrorCode.ConnectRefused);
    expect(hub.actor.getSnapshot().context.lastErrorCode).toBe(ErrorCode.ConnectRefused);
    hub.clock.advance(c.reconnectBackoffBaseMs);
    expect(hub.state()).toBe("reconnecting");
    hub.clock.advance(c.reconnectBackoffBaseMs);
    expect(hub.state()).toBe("connecting");

    hub.clock.advance(c.connectTimeoutMs);
    expect(hub.state()).toBe("reconnecting");
    expect(hub.link.connects[2]!.signal.aborted).toBe(true);
    hub.clock.advance(4 * c.reconnectBackoffBaseMs);
    await hub.connect(3);

    expect(hub.state()).toBe("ready");
    expect(hub.actor.getSnapshot().context.reconnectAttempts).toBe(0);
  });

  it("rests in failed after reconnectAttemptsMax, then starts a fresh series after the cooldown", async () => {
    const hub = startLink();
    for (let attempt = 0; attempt <= c.reconnectAttemptsMax && hub.state() !== "failed"; attempt++) {
      await hub.refuse(attempt);
      if (hub.state() !== "failed") hub.clock.advance(c.reconnectBackoffMaxMs);
    }
    expect(hub.state()).toBe("failed");
    const connectsSoFar = hub.link.connects.length;
    hub.clock.advance(c.failedCooldownMs - 1);
    expect(hub.link.connects).toHaveLength(connectsSoFar);

    hub.clock.advance(1);

    expect(hub.state()).toBe("connecting");
    expect(hub.link.connects).toHaveLength(connectsSoFar + 1);
    expect(hub.actor.getSnapshot().context.reconnectAttempts).toBe(0);
  });

  it("RECONNECT skips the cooldown of a hub in failed", async () => {
    const hub = startLink();
    for (let attempt = 0; attempt <= c.reconnectAttemptsMax && hub.state() !== "failed"; attempt++) {
      await hub.refuse(attempt);
      if (hub.state() !== "failed") hub.clock.advance(c.reconnectBackoffMaxMs);
    }
    hub.actor.send({ type: "RECONNECT" });

    expect(hub.state()).toBe("connecting");
    await hub.connect(hub.link.connects.length - 1);
    expect(hub.state()).toBe("ready");
  });

  it("a connect refused ClockWrong (the broker's certificate not yet valid) says so in lastErrorCode and the clock watch", async () => {
    const hub = startLink();
    await hub.refuse(0, ErrorCode.ClockWrong);

    expect(hub.state()).toBe("reconnecting");
    expect(hub.actor.getSnapshot().context.lastErrorCode).toBe(ErrorCode.ClockWrong);
    expect(hub.clockWatch.status.state).toBe("wrong");
  });

  it("a connect that fails with a non-TapwireError is a bug: the machine errors instead of going offline", async () => {
    const hub = startLink();
    hub.link.connects[0]!.answer.reject(new TypeError("adapter bug"));
    await flush();

    expect(hub.actor.getSnapshot().status).toBe("error");
    expect(hub.errors).toHaveLength(1);
    expect(hub.link.connects).toHaveLength(1);
  });

  it("stopping the machine stops its watch of the link", () => {
    const hub = startLink();
    expect(hub.settlement.listenerCount).toBe(1);
    hub.actor.stop();
    expect(hub.settlement.listenerCount).toBe(0);
  });
});
