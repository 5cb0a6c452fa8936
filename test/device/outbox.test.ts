import { describe, expect, it } from "vitest";
import { AssertionError } from "../../protocol/assert.ts";
import { ErrorCode, isTapwireError, TapwireError } from "../../protocol/errors.ts";
import { ManualClock } from "../../protocol/sources.ts";
import { Outbox, type OutboxEntry } from "../../device/link/outbox.ts";
import { decision, FakeSettlement, flush, offline } from "./fakes.ts";

function rig(options: { online?: boolean; outboxMax?: number } = {}) {
  const clock = new ManualClock();
  const settlement = new FakeSettlement(options.online ?? true);
  const outbox = new Outbox({ settlement, clock, outboxMax: options.outboxMax ?? 4, attemptTimeoutMs: 5_000 });
  outbox.start();
  const entry = (requestId: string, ttlMs = 60_000): OutboxEntry => ({
    requestId,
    payload: Buffer.from(`signed ${requestId}`),
    expMs: clock.nowMs() + ttlMs,
  });
  return { clock, settlement, outbox, entry };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("outbox", () => {
  it("resolves with the decision and forgets the request", async () => {
    const { settlement, outbox, entry } = rig();
    const pending = outbox.send(entry("r1"));
    expect(settlement.sent[0]!.timeoutMs).toBe(5_000);

    settlement.sent[0]!.answer.resolve(decision("r1"));

    expect((await pending).status).toBe("approved");
    expect(outbox.size).toBe(0);
  });

  it("keeps a request that failed Offline and resends the same bytes on reconnect", async () => {
    const { settlement, outbox, entry } = rig({ online: false });
    const settled: string[] = [];
    outbox.onDecision((requestId) => settled.push(requestId));
    const original = entry("r1");

    expect(isTapwireError(await rejection(outbox.send(original)), ErrorCode.Offline)).toBe(true);
    expect(outbox.has("r1")).toBe(true);

    settlement.setOnline(true);
    expect(settlement.sent).toHaveLength(2);
    expect(settlement.sent[1]!.payload).toBe(original.payload);
    expect(settlement.sent[1]!.payload.equals(Buffer.from("signed r1"))).toBe(true);
    settlement.sent[1]!.answer.resolve(decision("r1"));
    await flush();

    expect(settled).toEqual(["r1"]);
    expect(outbox.size).toBe(0);
  });

  it("keeps a request whose decision timed out, resending it in order with the others", async () => {
    const { settlement, outbox, entry } = rig();
    const first = outbox.send(entry("r1"));
    const second = outbox.send(entry("r2"));
    settlement.sent[0]!.answer.reject(new TapwireError("no answer", ErrorCode.DecisionTimeout));
    settlement.sent[1]!.answer.reject(offline());
    await rejection(first);
    await rejection(second);

    settlement.setOnline(false);
    settlement.setOnline(true);

    expect(settlement.sent.slice(2).map((call) => call.requestId)).toEqual(["r1", "r2"]);
  });

  it("joins an attempt already under way instead of sending twice", async () => {
    const { settlement, outbox, entry } = rig();
    const first = outbox.send(entry("r1"));
    const again = outbox.send(entry("r1"));
    expect(settlement.sent).toHaveLength(1);
    settlement.sent[0]!.answer.resolve(decision("r1"));
    expect(await again).toBe(await first);
  });

  it("drops requests past their exp instead of resending them", async () => {
    const { clock, settlement, outbox, entry } = rig({ online: false });
    await rejection(outbox.send(entry("short", 1_000)));
    await rejection(outbox.send(entry("long", 60_000)));

    clock.advance(1_000);
    settlement.setOnline(true);

    expect(settlement.sent.slice(2).map((call) => call.requestId)).toEqual(["long"]);
    expect(outbox.has("short")).toBe(false);
  });

  it("refuses a request that expired before sending (MessageExpired)", () => {
    const { outbox, entry } = rig();
    let caught: unknown;
    try {
      outbox.send(entry("late", 0));
    } catch (error) {
      caught = error;
    }
    expect(isTapwireError(caught, ErrorCode.MessageExpired)).toBe(true);
  });

  it("holds at most outboxMax requests (OutboxFull), and frees room as decisions arrive", async () => {
    const { settlement, outbox, entry } = rig({ outboxMax: 2 });
    void outbox.send(entry("r1"));
    void outbox.send(entry("r2"));

    let caught: unknown;
    try {
      outbox.send(entry("r3"));
    } catch (error) {
      caught = error;
    }
    expect(isTapwireError(caught, ErrorCode.OutboxFull)).toBe(true);
    expect(settlement.sent).toHaveLength(2);

    settlement.sent[0]!.answer.resolve(decision("r1"));
    await flush();
    void outbox.send(entry("r3"));
    expect(outbox.size).toBe(2);
  });

  it("asserts that a requestId is never resent with different bytes", async () => {
    const { settlement, outbox, entry } = rig({ online: false });
    await rejection(outbox.send(entry("r1")));
    expect(() => outbox.send({ ...entry("r1"), payload: Buffer.from("other") })).toThrow(AssertionError);
    expect(settlement.sent).toHaveLength(1);
  });

  it("forgets a request on a non-retryable error and stops resending after stop()", async () => {
    const { settlement, outbox, entry } = rig();
    const pending = outbox.send(entry("r1"));
    settlement.sent[0]!.answer.reject(new Error("broken"));
    await rejection(pending);
    expect(outbox.size).toBe(0);

    outbox.stop();
    expect(settlement.listenerCount).toBe(0);
  });
});
