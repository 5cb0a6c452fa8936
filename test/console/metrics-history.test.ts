import { describe, expect, it } from "vitest";
import { MetricsHistory } from "../../console/metrics-history.ts";
import { VirtualClock } from "../../core/sources.ts";

/** The node's exposition after `approved` approvals, some declines, shed requests and latencies in two buckets. */
function exposition(approved: number, declinedLimit: number, shed: number, fast: number, slow: number): string {
  return [
    `tapwire_decisions_total{status="approved",code="0",code_name=""} ${approved}`,
    `tapwire_decisions_total{status="declined",code="303",code_name="LimitExceeded"} ${declinedLimit}`,
    `tapwire_decisions_total{status="human_review",code="932",code_name="HeldForReview"} 7`,
    `tapwire_settlement_shed_answered_total ${shed}`,
    `tapwire_decision_latency_seconds_bucket{le="0.01"} ${fast}`,
    `tapwire_decision_latency_seconds_bucket{le="0.1"} ${fast + slow}`,
    `tapwire_decision_latency_seconds_bucket{le="+Inf"} ${fast + slow}`,
  ].join("\n");
}

/** Lets the sample in flight (an awaited read) finish and schedule the next. */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("the console's charts from the node's counters", () => {
  it("turns counter differences into per-second rates and an interval p99, held payments not counted as declined", async () => {
    const clock = new VirtualClock();
    const texts = [exposition(10, 1, 0, 10, 0), exposition(30, 5, 4, 20, 10), exposition(30, 5, 4, 20, 10)];
    const history = new MetricsHistory({ read: async () => texts.shift()!, source: "test", intervalMs: 2_000, clock, timers: clock });

    history.start();
    await settled();
    for (let tick = 0; tick < 2; tick += 1) {
      clock.advance(2_000);
      await settled();
    }
    history.stop();

    expect(history.view().points).toEqual([
      { atMs: expect.any(Number), approvedPerSecond: 10, p99LatencyMs: 100, shedPerSecond: 2, declinedPerSecondByCode: { LimitExceeded: 2 } },
      { atMs: expect.any(Number), approvedPerSecond: 0, p99LatencyMs: undefined, shedPerSecond: 0, declinedPerSecondByCode: {} },
    ]);
  });

  it("shows nothing negative when the node restarted and its counters began again", async () => {
    const clock = new VirtualClock();
    const texts = [exposition(100, 0, 0, 100, 0), exposition(3, 0, 0, 3, 0)];
    const history = new MetricsHistory({ read: async () => texts.shift()!, source: "test", clock, timers: clock });

    history.start();
    await settled();
    clock.advance(2_000);
    await settled();
    history.stop();

    expect(history.view().points[0]).toMatchObject({ approvedPerSecond: 0, shedPerSecond: 0 });
  });
});
