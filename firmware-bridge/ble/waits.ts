import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/** The reason an aborted wait rejects with: whatever the aborter gave, as a TapwireError. */
export function abortReason(signal: AbortSignal): TapwireError {
  const reason: unknown = signal.reason;
  return reason instanceof TapwireError ? reason : new TapwireError("cancelled", ErrorCode.Cancelled);
}

/**
 * Settles with `work`, or rejects with BleTimeout after `timeoutMs` (calling `onTimeout` to undo what was
 * started), or with the abort reason when `signal` aborts first.
 */
export function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string, signal?: AbortSignal, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      work.catch(() => undefined);
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      onTimeout?.();
      reject(new TapwireError(`${what} did not finish within ${timeoutMs} ms`, ErrorCode.BleTimeout, { timeoutMs }));
    }, timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** Waits `ms`, or rejects with the abort reason as soon as `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
