/** Resolves on the first SIGINT or SIGTERM: a long-running command then stops what it started and exits. */
export function untilStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
}

/** Aborts `signal` on the first SIGINT or SIGTERM, for work that takes a signal; dispose() stops listening. */
export function stopSignal(): { signal: AbortSignal; dispose: () => void } {
  const stopping = new AbortController();
  const onSignal = () => stopping.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: stopping.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
