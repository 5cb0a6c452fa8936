import type { Scheduler, TimerHandle } from "../../firmware-bridge/gpio/scheduler.ts";

/** A scheduler that tests move by hand: advance(ms) runs every timer due by then, in order. */
export class ManualScheduler implements Scheduler {
  private nowMs = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { dueMs: number; callback: () => void }>();

  after(delayMs: number, callback: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { dueMs: this.nowMs + delayMs, callback });
    return { id };
  }

  cancel(handle: TimerHandle): void {
    this.timers.delete(handle.id);
  }

  get pending(): number {
    return this.timers.size;
  }

  get elapsedMs(): number {
    return this.nowMs;
  }

  advance(ms: number): void {
    const targetMs = this.nowMs + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      const next = [...this.timers.entries()].sort((a, b) => a[1].dueMs - b[1].dueMs || a[0] - b[0])[0];
      if (next === undefined || next[1].dueMs > targetMs) break;
      this.timers.delete(next[0]);
      this.nowMs = next[1].dueMs;
      next[1].callback();
    }
    this.nowMs = targetMs;
  }
}
