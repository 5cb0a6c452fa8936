import { decodeBody, structCodec } from "../../protocol/cbor.ts";
import { decodeSign1 } from "../../protocol/cose.ts";
import { isTapwireError } from "../../protocol/errors.ts";

/**
 * The stored form of a request whose personal fields are sealed (broker/privacy/sealed-evidence.ts says why and
 * how): CBOR [ "tapwire-sealed-v1", person, kind, periodStartMs, requestHash, clear, box ]. Read here, without
 * any key, by the evidence check (requestHash), the dashboard and merchant events (clear).
 */
export const sealedFormat = "tapwire-sealed-v1";

export interface SealedRequest {
  /** Whose data key seals it: their wallet id. */
  person: string;
  /** The retention kind of that key. */
  kind: string;
  periodStartMs: number;
  /** SHA-256 of the sealed request's signed payload: what its decision's requestHash names. */
  requestHash: Uint8Array;
  /** CBOR body of the request's non-personal fields. */
  clear: Uint8Array;
  /** The request's COSE_Sign1 bytes under AES-256-GCM (IV, ciphertext, tag); the other items are its AAD. */
  box: Uint8Array;
}

/** Everything but the box, in order: what the box's AAD is made of. */
export function sealedHeader(s: Omit<SealedRequest, "box">): unknown[] {
  return [sealedFormat, s.person, s.kind, s.periodStartMs, s.requestHash, s.clear];
}

/** The sealed form's parts, without opening it; undefined for anything else (a plain COSE_Sign1). */
export function readSealed(bytes: Uint8Array): SealedRequest | undefined {
  let item: unknown;
  try {
    item = structCodec.decode(bytes);
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return undefined;
  }
  if (!Array.isArray(item) || item.length !== 7 || item[0] !== sealedFormat) return undefined;
  const [, person, kind, periodStartMs, requestHash, clear, box] = item as unknown[];
  if (typeof person !== "string" || typeof kind !== "string" || typeof periodStartMs !== "number") return undefined;
  if (!(requestHash instanceof Uint8Array) || !(clear instanceof Uint8Array) || !(box instanceof Uint8Array)) return undefined;
  return { person, kind, periodStartMs, requestHash, clear, box };
}

/**
 * The body of an evidence row as readers without keys see it (dashboard, merchant events): a plain row's signed
 * body, or a sealed row's clear fields. Unverified: the service checked the row before storing it.
 */
export function readableBody(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const sealed = readSealed(bytes);
    const body = decodeBody(sealed ? sealed.clear : decodeSign1(bytes).payload);
    return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return undefined;
  }
}
