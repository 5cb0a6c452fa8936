import type { BeepPattern } from "./status-indicator.ts";
import type { Scheduler, TimerHandle } from "./scheduler.ts";

export interface BeepTimings {
  shortMs: number;
  longMs: number;
  gapMs: number;
}

export interface BuzzerStep {
  on: boolean;
  durationMs: number;
}

/** approved = one short beep, declined = two long, error = three short; gaps separate beeps. */
export function beepSteps(pattern: BeepPattern, timings: BeepTimings): BuzzerStep[] {
  const beep = (durationMs: number, count: number): BuzzerStep[] =>
    Array.from({ length: count }, (_, index) => [
      ...(index > 0 ? [{ on: false, durationMs: timings.gapMs }] : []),
      { on: true, durationMs },
    ]).flat();
  switch (pattern) {
    case "approved":
      return beep(timings.shortMs, 1);
    case "declined":
      return beep(timings.longMs, 2);
    case "error":
      return beep(timings.shortMs, 3);
  }
}

interface Playing {
  timer: TimerHandle | null;
  finish: () => void;
}

/** Plays one pattern at a time; starting another, or cancel(), ends the current one with the buzzer off. */
export class BuzzerSequencer {
  private playing: Playing | null = null;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly setBuzzer: (on: boolean) => void,
  ) {}

  play(steps: readonly BuzzerStep[], signal?: AbortSignal): Promise<void> {
    this.cancel();
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => this.cancel();
      const playing: Playing = {
        timer: null,
        finish: () => {
          signal?.removeEventListener("abort", onAbort);
          if (playing.timer !== null) this.scheduler.cancel(playing.timer);
          this.setBuzzer(false);
          if (this.playing === playing) this.playing = null;
          resolve();
        },
      };
      this.playing = playing;
      signal?.addEventListener("abort", onAbort, { once: true });
      this.runStep(playing, steps, 0);
    });
  }

  cancel(): void {
    this.playing?.finish();
  }

  private runStep(playing: Playing, steps: readonly BuzzerStep[], index: number): void {
    const step = steps[index];
    if (step === undefined) {
      playing.finish();
      return;
    }
    this.setBuzzer(step.on);
    playing.timer = this.scheduler.after(step.durationMs, () => {
      playing.timer = null;
      this.runStep(playing, steps, index + 1);
    });
  }
}
