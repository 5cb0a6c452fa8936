import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: TapwireError) => void;
}

/**
 * Promises waiting for a value under a key (an answer to a requestId, the outcome of a sale), each abortable by its
 * caller's signal (Cancelled), all rejected at once when their owner stops.
 */
export class WaiterTable<T> {
  private readonly waiters = new Map<string, Set<Waiter<T>>>();

  wait(key: string, signal: AbortSignal | undefined): Promise<T> {
    if (signal?.aborted) return Promise.reject(new TapwireError("wait aborted", ErrorCode.Cancelled, { key }));
    return new Promise<T>((resolve, reject) => {
      const waiters = this.waiters.get(key) ?? new Set<Waiter<T>>();
      this.waiters.set(key, waiters);
      const onAbort = () => {
        waiters.delete(waiter);
        if (waiters.size === 0) this.waiters.delete(key);
        reject(new TapwireError("wait aborted", ErrorCode.Cancelled, { key }));
      };
      const waiter: Waiter<T> = {
        resolve: (value) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  resolve(key: string, value: T): void {
    const waiters = this.waiters.get(key);
    this.waiters.delete(key);
    for (const waiter of waiters ?? []) waiter.resolve(value);
  }

  rejectAll(error: () => TapwireError): void {
    for (const waiters of this.waiters.values()) for (const waiter of waiters) waiter.reject(error());
    this.waiters.clear();
  }
}
