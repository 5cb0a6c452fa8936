import { Worker } from "node:worker_threads";
import type { Outcome } from "./store-jobs.ts";
import type { StoreWorkerData, StoreWorkerMessage } from "./store-worker.ts";

interface Started {
  ready: Promise<void>;
  outcomes: Promise<Outcome[]>;
  worker: Worker;
}

function start(data: StoreWorkerData): Started {
  const worker = new Worker(new URL("./store-worker.mjs", import.meta.url), { workerData: data });
  const reply = <T>(pick: (message: StoreWorkerMessage) => T | undefined) =>
    new Promise<T>((resolve, reject) => {
      worker.on("message", (message: StoreWorkerMessage) => {
        const value = pick(message);
        if (value !== undefined) resolve(value);
      });
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`store worker exited (code ${code}) before answering`)));
    });
  const ready = reply((message) => ("ready" in message ? true : undefined)).then(() => undefined);
  const outcomes = reply((message) => ("outcomes" in message ? message.outcomes : undefined));
  // Awaited in turn: a worker failing before it is ready must not also leave `outcomes` unhandled.
  outcomes.catch(() => undefined);
  return { ready, outcomes, worker };
}

/**
 * Settlement workers doing their shares at the same time: one worker thread per task, each with its own
 * connection to `location`, and `ownShare` (the first worker, on the test's connection) on this thread. Every
 * worker waits at one barrier until all are ready, so none has finished before another starts. The outcomes of
 * `ownShare` come first, then each task's.
 */
export async function atOnce(location: string, tasks: ReadonlyArray<StoreWorkerData["task"]>, ownShare: () => Outcome[] = () => []): Promise<Outcome[][]> {
  const barrier = new SharedArrayBuffer(4);
  const started = tasks.map((task) => start({ location, task, start: barrier }));
  try {
    await Promise.all(started.map((s) => s.ready));
    const signal = new Int32Array(barrier);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
    const own = ownShare();
    return [own, ...(await Promise.all(started.map((s) => s.outcomes)))];
  } finally {
    await Promise.all(started.map((s) => s.worker.terminate()));
  }
}
