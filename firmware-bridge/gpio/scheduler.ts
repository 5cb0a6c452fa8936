import { systemTimers, type Timers } from "../../core/sources.ts";

/**
 * One-shot timers behind an interface, so the debouncer and the buzzer sequencer run on a manual scheduler in
 * unit tests, on a simulation's virtual clock (house rule 4) and on real timers against hardware.
 */
export interface TimerHandle {
  readonly id: number;
}

export interface Scheduler {
  after(delayMs: number, callback: () => void): TimerHandle;
  cancel(handle: TimerHandle): void;
}

/** A scheduler over injected timers; the handle table keeps the timers' own handles out of callers' types. */
export function timersScheduler(timers: Timers): Scheduler {
  const handles = new Map<number, unknown>();
  let nextId = 1;
  return {
    after(delayMs, callback) {
      const id = nextId++;
      handles.set(
        id,
        timers.setTimeout(() => {
          handles.delete(id);
          callback();
        }, delayMs),
      );
      return { id };
    },
    cancel(handle) {
      if (!handles.has(handle.id)) return;
      timers.clearTimeout(handles.get(handle.id));
      handles.delete(handle.id);
    },
  };
}

/** Real timers. */
export function systemScheduler(): Scheduler {
  return timersScheduler(systemTimers);
}
