/**
 * The one owner of the process's SIGINT and SIGTERM. `tapwire` installs it once (installStopSignals); commands
 * subscribe. The first signal asks every subscriber to stop; with no subscriber (a short command) the process
 * exits at once. A command still running `graceMs` after the first signal, or a second signal, exits forcibly:
 * Ctrl-C and SIGTERM always stop every command.
 */
type StopListener = () => void;

const listeners = new Set<StopListener>();
let received: NodeJS.Signals | undefined;

/** Calls `listener` on the first stop signal (at once if it already came); the returned function unsubscribes. */
export function onStop(listener: StopListener): () => void {
  if (received !== undefined) {
    queueMicrotask(listener);
    return () => undefined;
  }
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Resolves on the first SIGINT or SIGTERM: a long-running command then stops what it started and exits. */
export function untilStopSignal(): Promise<void> {
  return new Promise((resolve) => onStop(resolve));
}

/** Aborts `signal` on the first SIGINT or SIGTERM, for work that takes a signal; dispose() stops listening. */
export function stopSignal(): { signal: AbortSignal; dispose: () => void } {
  const stopping = new AbortController();
  const dispose = onStop(() => stopping.abort());
  return { signal: stopping.signal, dispose: () => void dispose() };
}

export interface StopSignalOptions {
  graceMs: number;
  /** Ends the process (process.exit in `tapwire`; a recorder in tests). */
  exit: (signal: NodeJS.Signals) => void;
}

/** Installs the process's signal handling; the returned function removes it (tests). */
export function installStopSignals(options: StopSignalOptions): () => void {
  const handle = (signal: NodeJS.Signals) => {
    if (received !== undefined || listeners.size === 0) {
      options.exit(signal);
      return;
    }
    received = signal;
    setTimeout(() => options.exit(signal), options.graceMs).unref();
    for (const listener of [...listeners]) listener();
    listeners.clear();
  };
  process.on("SIGINT", handle);
  process.on("SIGTERM", handle);
  return () => {
    process.off("SIGINT", handle);
    process.off("SIGTERM", handle);
    received = undefined;
    listeners.clear();
  };
}
