/**
 * One-shot timers behind an interface, so the debouncer and the buzzer sequencer run on a manual scheduler in
 * unit tests (house rule 4) and on real timers against hardware.
 */
export interface TimerHandle {
  readonly id: number;
}

export interface Scheduler {
  after(delayMs: number, callback: () => void): TimerHandle;
  cancel(handle: TimerHandle): void;
}

/** Real timers; the handle table keeps Node's timer objects out of callers' types. */
export function systemScheduler(): Scheduler {
  const timers = new Map<number, NodeJS.Timeout>();
  let nextId = 1;
  return {
    after(delayMs, callback) {
      const id = nextId++;
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          callback();
        }, delayMs),
      );
      return { id };
    },
    cancel(handle) {
      clearTimeout(timers.get(handle.id));
      timers.delete(handle.id);
    },
  };
}
