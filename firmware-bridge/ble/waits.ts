import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Timers } from "../../core/sources.ts";

/** The reason an aborted wait rejects with: whatever the aborter gave, as a TapwireError. */
export function abortReason(signal: AbortSignal): TapwireError {
  const reason: unknown = signal.reason;
  return reason instanceof TapwireError ? reason : new TapwireError("cancelled", ErrorCode.Cancelled);
}

/**
 * Settles with `work`, or rejects with BleTimeout after `timeoutMs` on `timers` (calling `onTimeout` to undo what
 * was started), or with the abort reason when `signal` aborts first.
 */
export function withTimeout<T>(timers: Timers, work: Promise<T>, timeoutMs: number, what: string, signal?: AbortSignal, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      work.catch(() => undefined);
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      timers.clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = timers.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      onTimeout?.();
      reject(new TapwireError(`${what} did not finish within ${timeoutMs} ms`, ErrorCode.BleTimeout, { timeoutMs }));
    }, timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        timers.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        timers.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** Waits `ms` on `timers`, or rejects with the abort reason as soon as `signal` aborts. */
export function delay(timers: Timers, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      timers.clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = timers.setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Runs `tick` every `intervalMs` on `timers` (one timer at a time, re-armed after each tick) until the returned stop is called. */
export function every(timers: Timers, intervalMs: number, tick: () => void): () => void {
  let timer: unknown;
  let stopped = false;
  const arm = () => {
    timer = timers.setTimeout(() => {
      if (stopped) return;
      tick();
      arm();
    }, intervalMs);
  };
  arm();
  return () => {
    stopped = true;
    timers.clearTimeout(timer);
  };
}
