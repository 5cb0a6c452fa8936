/** Invariant checks that stay on in production (TigerBeetle style): a failure is a programmer error. */
export class AssertionError extends Error {
  override readonly name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
