import { Encoder } from "cbor-x";
import { ErrorCode, TapwireError } from "./errors.ts";

/**
 * Two CBOR codecs. `structCodec` keeps integer-keyed maps as Map (COSE headers need integer labels);
 * `bodyCodec` turns string-keyed maps into plain objects for message bodies. Neither tags byte strings
 * (cbor-x's default tag 64 on Uint8Array is not what RFC 9052 peers expect) nor uses cbor-x records.
 */
const common = { useRecords: false, tagUint8Array: false, variableMapSize: true, pack: false } as const;

export const structCodec = new Encoder({ ...common, mapsAsObjects: false });
export const bodyCodec = new Encoder({ ...common, mapsAsObjects: true });

export function decodeCbor(codec: Encoder, bytes: Uint8Array): unknown {
  try {
    return codec.decode(bytes);
  } catch (error) {
    throw new TapwireError(`malformed CBOR: ${(error as Error).message}`, ErrorCode.MalformedCbor);
  }
}

export function encodeBody(value: unknown): Buffer {
  return bodyCodec.encode(value);
}

export function decodeBody(bytes: Uint8Array): unknown {
  return decodeCbor(bodyCodec, bytes);
}
