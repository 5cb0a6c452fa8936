// The machine-stall meter's child process (machine-stalls.ts), in plain JavaScript so that it starts without a loader:
// it only sleeps 1 ms at a time and notes how late each sleep ends. It does no work of its own, so a late wake-up is
// the machine's (both cores taken, the host holding the VM), as jHiccup measures a JVM's host.
import { createHistogram, performance } from "node:perf_hooks";

const sleepMs = 1;
/** Sleeps back to back for this long, then one turn of the event loop reads the parent's messages. */
const spellMs = 50;

const cell = new Int32Array(new SharedArrayBuffer(4));
/** Lateness of each sleep in µs (the histogram takes integers; 1 µs to 60 s). */
const lateUs = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
/** A sleep this late is counted on its own: the histogram's tail, as a count. */
const lateUsCounted = 5_000;
let lateOverCounted = 0;
let measuring = false;
/** When the last sleep ended: each sleep's lateness runs from there, so a stall between two spells counts too. */
let lastWokeMs = 0;

function spell() {
  const endMs = performance.now() + spellMs;
  while (performance.now() < endMs) {
    // Nothing ever notifies the cell: the wait always ends by its timeout, a futex sleep of sleepMs.
    Atomics.wait(cell, 0, 0, sleepMs);
    const wokeMs = performance.now();
    const late = Math.max(1, Math.round((wokeMs - lastWokeMs - sleepMs) * 1000));
    lastWokeMs = wokeMs;
    lateUs.record(late);
    if (late > lateUsCounted) lateOverCounted += 1;
  }
  if (measuring) setImmediate(spell);
}

process.on("message", (message) => {
  if (message === "start" && !measuring) {
    measuring = true;
    lateUs.reset();
    lateOverCounted = 0;
    // From here on every moment is measured: a stall before the first spell starts shows in its first sleep.
    lastWokeMs = performance.now();
    setImmediate(spell);
    process.send("measuring");
  } else if (message === "stop") {
    measuring = false;
    process.send({
      sleeps: lateUs.count,
      lateP99Ms: lateUs.percentile(99) / 1000,
      lateMaxMs: lateUs.max / 1000,
      lateOver5Ms: lateOverCounted,
    });
  }
});

