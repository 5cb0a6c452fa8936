import type { Scheduler, TimerHandle } from "./scheduler.ts";

/**
 * A contact counts as pressed or released only after it has held that level for `settleMs`: every bounce
 * restarts the wait, and a bounce that returns to the settled level is dropped, so one press reports once.
 */
export class Debouncer {
  private settledPressed = false;
  private pending: TimerHandle | null = null;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly settleMs: number,
    private readonly onSettled: (pressed: boolean) => void,
  ) {}

  get pressed(): boolean {
    return this.settledPressed;
  }

  input(pressed: boolean): void {
    this.cancelPending();
    if (pressed === this.settledPressed) return;
    this.pending = this.scheduler.after(this.settleMs, () => {
      this.pending = null;
      this.settledPressed = pressed;
      this.onSettled(pressed);
    });
  }

  /** Drops a level still settling; the settled level stays. */
  cancelPending(): void {
    if (this.pending === null) return;
    this.scheduler.cancel(this.pending);
    this.pending = null;
  }
}
