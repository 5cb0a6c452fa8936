/**
 * How a process dies on a bug (an assertion, a non-TapwireError where only operating faults are expected): the
 * error is thrown again outside whatever caught it, so the process crashes with its stack and its supervisor
 * restarts it. Hubs and the service are built for that: every request is journaled before it leaves a hub and
 * answered idempotently by the service, so the retry after a restart is safe.
 */
export function crashOutside(error: unknown): void {
  setImmediate(() => {
    throw error;
  });
}
