import { decodeCbor } from "./cbor-decode.ts";
import { encodeCbor } from "./cbor-encode.ts";

/**
 * The two ways tapwire reads and writes CBOR. Both write core deterministic encoding (cbor-encode.ts) and
 * read any well-formed encoding strictly (cbor-decode.ts). `structCodec` keeps every map a Map (COSE headers
 * have integer labels); `bodyCodec` reads message bodies, whose maps are text-keyed, as plain objects.
 *
 * Hashes and signatures always cover the bytes as received: nothing decodes and re-encodes to hash.
 */
export interface CborCodec {
  encode(value: unknown): Buffer;
  /** Throws MalformedCbor for anything that is not exactly one well-formed item. */
  decode(bytes: Uint8Array): unknown;
}

export const structCodec: CborCodec = { encode: encodeCbor, decode: (bytes) => decodeCbor(bytes, "maps") };
export const bodyCodec: CborCodec = { encode: encodeCbor, decode: (bytes) => decodeCbor(bytes, "objects") };

export function encodeBody(value: unknown): Buffer {
  return bodyCodec.encode(value);
}

export function decodeBody(bytes: Uint8Array): unknown {
  return bodyCodec.decode(bytes);
}
