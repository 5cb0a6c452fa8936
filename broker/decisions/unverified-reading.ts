import { decodeBody } from "../../protocol/cbor.ts";
import type { Sign1Parts } from "../../protocol/cose.ts";
import { readEnvelope } from "../../protocol/envelope.ts";

type Read<T> = { ok: true; value: T } | { ok: false; error: unknown };

function attempt<T>(read: () => T): Read<T> {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    return { ok: false, error };
  }
}

function unwrap<T>(read: Read<T>): T {
  if (read.ok) return read.value;
  throw read.error;
}

/**
 * What a message's bytes say before any key has checked them, each part decoded at most once: the envelope (the size
 * check and the COSE structure, as readEnvelope) and the body (the payload as CBOR). On the main thread the precheck
 * job, the provider stage and admission all read the same message; each used to decode it again.
 *
 * Nothing here is trusted: admission still verifies the signature over these exact bytes before it uses the body. A
 * decoding that threw throws the same error at every ask, so each reader meets a fault exactly where it met it before.
 */
export class UnverifiedReading {
  private envelopeRead: Read<Sign1Parts> | undefined;
  private bodyRead: Read<unknown> | undefined;

  constructor(readonly bytes: Uint8Array) {}

  envelope(): Sign1Parts {
    this.envelopeRead ??= attempt(() => readEnvelope(this.bytes));
    return unwrap(this.envelopeRead);
  }

  /** The envelope's payload decoded; throws what envelope() throws when the envelope does not read. */
  body(): unknown {
    this.bodyRead ??= attempt(() => decodeBody(this.envelope().payload));
    return unwrap(this.bodyRead);
  }
}
