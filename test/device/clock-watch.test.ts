import { describe, expect, it } from "vitest";
import { ClockWatch } from "../../device/link/clock-watch.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { protocolVersion, type Decision } from "../../protocol/messages.ts";
import { ManualClock } from "../../core/sources.ts";

const serviceNowMs = 1_800_000_000_000;
/** The hub's clock runs a minute ahead of the service's: twice the allowed skew. */
const hubAheadMs = 60_000;

function decision(overrides: Partial<Decision> = {}): Decision {
  return {
    type: "decision",
    v: protocolVersion,
    requestId: "r-1",
    requestType: "payment",
    requestHash: new Uint8Array(32),
    principalKind: "hub",
    hubId: "h1",
    status: "approved",
    code: 0,
    reason: "approved",
    iat: serviceNowMs,
    exp: serviceNowMs + 60_000,
    ...overrides,
  } as Decision;
}

describe("ClockWatch", () => {
  it("says the hub's clock is wrong when a fresh request's answer comes from well before it was signed", () => {
    const clock = new ManualClock(serviceNowMs + hubAheadMs);
    const watch = new ClockWatch(clock);

    watch.observe(decision(), clock.nowMs());

    expect(watch.status.state).toBe("wrong");
  });

  it("is not cleared by the answer to a resend of old bytes while the clock is still ahead", () => {
    const clock = new ManualClock(serviceNowMs + hubAheadMs);
    const watch = new ClockWatch(clock);
    watch.observe(decision(), clock.nowMs());

    // Signed 70 s ago by the hub's clock (10 s ago by the service's), answered now: the two agree on these bytes.
    watch.observe(decision({ requestId: "r-old" }), clock.nowMs() - 70_000);

    expect(watch.status.state).toBe("wrong");
  });

  it("is cleared by the answer to a request signed within the skew once the clock agrees again", () => {
    const clock = new ManualClock(serviceNowMs + hubAheadMs);
    const watch = new ClockWatch(clock);
    watch.observe(decision(), clock.nowMs());
    clock.advance(-(hubAheadMs - 1_000)); // set right (NTP stepped it back)

    watch.observe(decision({ requestId: "r-2" }), clock.nowMs() - 500);

    expect(watch.status.state).toBe("ok");
  });

  it("says so when the service refuses a request as not yet valid, and at the allowed skew stays ok", () => {
    const clock = new ManualClock(serviceNowMs + contract.clockSkewMs);
    const watch = new ClockWatch(clock);

    watch.observe(decision(), clock.nowMs());
    expect(watch.status.state).toBe("ok");
    watch.observe(decision({ status: "declined", code: ErrorCode.MessageNotYetValid }), clock.nowMs());
    expect(watch.status.state).toBe("wrong");
  });
});
