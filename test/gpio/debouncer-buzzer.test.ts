import { describe, expect, it } from "vitest";
import { BuzzerSequencer, beepSteps } from "../../firmware-bridge/gpio/buzzer.ts";
import { Debouncer } from "../../firmware-bridge/gpio/debouncer.ts";
import { ManualScheduler } from "./manual-scheduler.ts";

const timings = { shortMs: 80, longMs: 400, gapMs: 120 };

describe("beep patterns", () => {
  it("approved is one short beep, declined two long, error three short", () => {
    expect(beepSteps("approved", timings)).toEqual([{ on: true, durationMs: 80 }]);
    expect(beepSteps("declined", timings)).toEqual([
      { on: true, durationMs: 400 },
      { on: false, durationMs: 120 },
      { on: true, durationMs: 400 },
    ]);
    expect(beepSteps("error", timings).filter((step) => step.on)).toEqual([
      { on: true, durationMs: 80 },
      { on: true, durationMs: 80 },
      { on: true, durationMs: 80 },
    ]);
  });
});

function recordingSequencer() {
  const scheduler = new ManualScheduler();
  const edges: Array<{ on: boolean; atMs: number }> = [];
  const sequencer = new BuzzerSequencer(scheduler, (on) => edges.push({ on, atMs: scheduler.elapsedMs }));
  return { scheduler, edges, sequencer };
}

describe("BuzzerSequencer", () => {
  it("plays the steps on time and resolves with the buzzer off", async () => {
    const { scheduler, edges, sequencer } = recordingSequencer();
    let done = false;
    const playing = sequencer.play(beepSteps("declined", timings)).then(() => (done = true));

    scheduler.advance(919);
    await Promise.resolve();
    expect(done).toBe(false);
    scheduler.advance(1);
    await playing;

    expect(edges).toEqual([
      { on: true, atMs: 0 },
      { on: false, atMs: 400 },
      { on: true, atMs: 520 },
      { on: false, atMs: 920 },
    ]);
    expect(scheduler.pending).toBe(0);
  });

  it("stops at once when the signal aborts", async () => {
    const { scheduler, edges, sequencer } = recordingSequencer();
    const abort = new AbortController();
    const playing = sequencer.play(beepSteps("error", timings), abort.signal);

    scheduler.advance(100);
    abort.abort();
    await playing;

    expect(edges.at(-1)).toEqual({ on: false, atMs: 100 });
    expect(scheduler.pending).toBe(0);
  });

  it("a new pattern cancels the one playing", async () => {
    const { scheduler, edges, sequencer } = recordingSequencer();
    const first = sequencer.play(beepSteps("declined", timings));
    scheduler.advance(50);

    const second = sequencer.play(beepSteps("approved", timings));
    await first;
    scheduler.advance(80);
    await second;

    expect(edges).toEqual([
      { on: true, atMs: 0 },
      { on: false, atMs: 50 },
      { on: true, atMs: 50 },
      { on: false, atMs: 130 },
    ]);
  });
});

describe("Debouncer", () => {
  function recordingDebouncer(settleMs = 30) {
    const scheduler = new ManualScheduler();
    const settled: boolean[] = [];
    return { scheduler, settled, debouncer: new Debouncer(scheduler, settleMs, (pressed) => settled.push(pressed)) };
  }

  it("reports a bouncing press once, after the contact has settled", () => {
    const { scheduler, settled, debouncer } = recordingDebouncer();

    for (const level of [true, false, true, false, true]) {
      debouncer.input(level);
      scheduler.advance(2);
    }
    scheduler.advance(27);
    expect(settled).toEqual([]);
    scheduler.advance(1);

    expect(settled).toEqual([true]);
    expect(debouncer.pressed).toBe(true);
  });

  it("ignores a glitch shorter than the settle time", () => {
    const { scheduler, settled, debouncer } = recordingDebouncer();

    debouncer.input(true);
    scheduler.advance(10);
    debouncer.input(false);
    scheduler.advance(100);

    expect(settled).toEqual([]);
  });

  it("repeated reports of the same level do not restart a settled press", () => {
    const { scheduler, settled, debouncer } = recordingDebouncer();

    debouncer.input(true);
    scheduler.advance(30);
    debouncer.input(true);
    scheduler.advance(100);
    debouncer.input(false);
    scheduler.advance(30);

    expect(settled).toEqual([true, false]);
  });
});
