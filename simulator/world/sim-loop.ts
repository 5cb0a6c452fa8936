import type { VirtualClock } from "../../core/sources.ts";

/** setImmediate turns one settle may take; a world still busy after that is livelocked (a finding, not a wait). */
export const settleTurnsMax = 200_000;

/**
 * Runs the event loop until nothing is left to do without time passing: one setImmediate turn at a time (each
 * turn drains every microtask first) until no immediate is pending. Nothing in a world waits on real time or
 * real I/O, so "no immediate pending" is "quiet". Returns false if the world did not quiet within turnsMax.
 */
export async function settle(turnsMax = settleTurnsMax): Promise<boolean> {
  for (let turn = 0; turn < turnsMax; turn++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!process.getActiveResourcesInfo().includes("Immediate")) return true;
  }
  return false;
}

export interface RunLimits {
  /** Virtual time the run may reach. */
  untilMs: number;
  /** Timers it may run. */
  stepsMax: number;
}

/** How a run ended: its predicate held, time or steps ran out, no timer was left, or the loop never quieted. */
export type RunEnd = "done" | "time" | "steps" | "idle" | "livelock";

/**
 * The stepping loop: settle, stop if `done()`, else move the clock to the next due timer and run that one timer;
 * repeat. One timer per step, so whatever it starts settles before the next timer runs, in due order (ties in the
 * order they were set): the same seed gives the same interleaving on every run.
 */
export async function runUntil(clock: VirtualClock, done: () => boolean, limits: RunLimits): Promise<RunEnd> {
  for (let step = 0; step < limits.stepsMax; step++) {
    if (!(await settle())) return "livelock";
    if (done()) return "done";
    const nextMs = clock.nextDueMs;
    if (nextMs === undefined) return "idle";
    if (nextMs > limits.untilMs) {
      clock.advance(Math.max(0, limits.untilMs - clock.nowMs()), 0);
      return "time";
    }
    clock.advance(nextMs - clock.nowMs(), 1);
  }
  return "steps";
}
