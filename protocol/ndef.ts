import { assert } from "../core/assert.ts";
import { apduError } from "./nfc-apdu.ts";

/**
 * NDEF (NFC Forum NDEF 1.0) and the NFC Forum Type 4 Tag file layout a hub presents in tag mode (Alipay
 * Tap! style): NDEF application D2760000850101 holding a capability container (E103) and an NDEF file
 * (E104) whose one record carries the hub-signed TagOffer. Parsers are defensive: errors are NfcApduError.
 */
export const ndefApplicationAid = Uint8Array.of(0xd2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01);
export const capabilityContainerFileId = 0xe103;
export const ndefFileId = 0xe104;
export const capabilityContainerBytes = 15;
/** Mapping version 2.0. */
export const type4MappingVersion = 0x20;

export const Tnf = { empty: 0x00, wellKnown: 0x01, mime: 0x02, absoluteUri: 0x03, external: 0x04, unknown: 0x05 } as const;

export const offerExternalType = "tapwire.io:offer";
export const offerMimeType = 'application/cose; cose-type="cose-sign1"';
export type OfferRecordKind = "external" | "mime";

const recordsMax = 8;
/** NLEN is two bytes; a Type 4 Tag NDEF file holds at most this much message. */
export const ndefMessageBytesMax = 0x7ffd;

export interface NdefRecord {
  tnf: number;
  type: Uint8Array;
  id: Uint8Array;
  payload: Uint8Array;
}

const text = new TextEncoder();

export function encodeNdefMessage(records: NdefRecord[]): Uint8Array {
  assert(records.length >= 1 && records.length <= recordsMax, `an NDEF message holds 1..${recordsMax} records`);
  const out: number[] = [];
  records.forEach((record, index) => {
    assert(record.type.length <= 0xff && record.id.length <= 0xff, "NDEF type and id are at most 255 bytes");
    const shortRecord = record.payload.length <= 0xff;
    let header = record.tnf & 0x07;
    if (index === 0) header |= 0x80;
    if (index === records.length - 1) header |= 0x40;
    if (shortRecord) header |= 0x10;
    if (record.id.length > 0) header |= 0x08;
    out.push(header, record.type.length);
    const length = record.payload.length;
    if (shortRecord) out.push(length);
    else out.push((length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
    if (record.id.length > 0) out.push(record.id.length);
    out.push(...record.type, ...record.id, ...record.payload);
  });
  assert(out.length <= ndefMessageBytesMax, `NDEF message of ${out.length} bytes exceeds ${ndefMessageBytesMax}`);
  return Uint8Array.from(out);
}

export function decodeNdefMessage(bytes: Uint8Array): NdefRecord[] {
  const records: NdefRecord[] = [];
  let i = 0;
  const need = (count: number, what: string): void => {
    if (i + count > bytes.length) throw apduError(`NDEF ${what} is truncated`);
  };
  while (i < bytes.length) {
    if (records.length >= recordsMax) throw apduError(`NDEF message has more than ${recordsMax} records`);
    need(2, "record header");
    const header = bytes[i++]!;
    const typeLength = bytes[i++]!;
    if (records.length === 0 && (header & 0x80) === 0) throw apduError("first NDEF record lacks MB");
    if ((header & 0x20) !== 0) throw apduError("chunked NDEF records are not supported");
    let payloadLength: number;
    if ((header & 0x10) !== 0) {
      need(1, "payload length");
      payloadLength = bytes[i++]!;
    } else {
      need(4, "payload length");
      payloadLength = ((bytes[i]! << 24) >>> 0) + (bytes[i + 1]! << 16) + (bytes[i + 2]! << 8) + bytes[i + 3]!;
      i += 4;
    }
    let idLength = 0;
    if ((header & 0x08) !== 0) {
      need(1, "id length");
      idLength = bytes[i++]!;
    }
    need(typeLength + idLength + payloadLength, "record body");
    const type = bytes.slice(i, (i += typeLength));
    const id = bytes.slice(i, (i += idLength));
    const payload = bytes.slice(i, (i += payloadLength));
    records.push({ tnf: header & 0x07, type, id, payload });
    if ((header & 0x40) !== 0) {
      if (i !== bytes.length) throw apduError("bytes after the NDEF record marked ME");
      return records;
    }
  }
  throw apduError("NDEF message has no record marked ME");
}

/** One record carrying the sealed TagOffer (COSE_Sign1 bytes), as an external type or as a MIME type. */
export function encodeOfferNdef(offerBytes: Uint8Array, kind: OfferRecordKind = "external"): Uint8Array {
  const record =
    kind === "external"
      ? { tnf: Tnf.external, type: text.encode(offerExternalType), id: new Uint8Array(0), payload: offerBytes }
      : { tnf: Tnf.mime, type: text.encode(offerMimeType), id: new Uint8Array(0), payload: offerBytes };
  return encodeNdefMessage([record]);
}

/** The offer bytes from the first tapwire offer record of either kind. */
export function extractOfferFromNdef(message: Uint8Array): Uint8Array {
  const decoder = new TextDecoder();
  const record = decodeNdefMessage(message).find(
    (r) =>
      (r.tnf === Tnf.external && decoder.decode(r.type).toLowerCase() === offerExternalType) ||
      (r.tnf === Tnf.mime && decoder.decode(r.type) === offerMimeType),
  );
  if (!record) throw apduError("NDEF message holds no tapwire offer record");
  return record.payload;
}

/** NDEF file content: NLEN (two bytes, big endian) then the message. */
export function encodeNdefFile(message: Uint8Array): Uint8Array {
  assert(message.length <= ndefMessageBytesMax, "NDEF message too long for a Type 4 Tag");
  return Uint8Array.from([message.length >> 8, message.length & 0xff, ...message]);
}

export interface CapabilityContainer {
  /** Largest R-APDU data a reader may ask for in one READ BINARY. */
  mleBytes: number;
  /** Largest C-APDU data the tag accepts in one UPDATE BINARY. */
  mlcBytes: number;
  ndefFileId: number;
  /** NLEN plus the largest message, in bytes. */
  ndefFileBytesMax: number;
  readOnly: boolean;
}

export function encodeCapabilityContainer(cc: CapabilityContainer): Uint8Array {
  assert(cc.mleBytes >= 0x0f && cc.mleBytes <= 0xffff, "MLe must be 15..65535");
  return Uint8Array.of(
    0x00,
    capabilityContainerBytes,
    type4MappingVersion,
    cc.mleBytes >> 8,
    cc.mleBytes & 0xff,
    cc.mlcBytes >> 8,
    cc.mlcBytes & 0xff,
    0x04,
    0x06,
    cc.ndefFileId >> 8,
    cc.ndefFileId & 0xff,
    cc.ndefFileBytesMax >> 8,
    cc.ndefFileBytesMax & 0xff,
    0x00,
    cc.readOnly ? 0xff : 0x00,
  );
}

export function decodeCapabilityContainer(bytes: Uint8Array): CapabilityContainer {
  if (bytes.length < capabilityContainerBytes) throw apduError(`capability container of ${bytes.length} bytes is too short`);
  const u16 = (at: number): number => (bytes[at]! << 8) | bytes[at + 1]!;
  if (u16(0) < capabilityContainerBytes) throw apduError("CCLEN is too small");
  if (bytes[2]! >> 4 !== type4MappingVersion >> 4) throw apduError(`unsupported Type 4 mapping version 0x${bytes[2]!.toString(16)}`);
  if (bytes[7] !== 0x04 || bytes[8]! < 0x06) throw apduError("capability container has no NDEF file control TLV");
  const mleBytes = u16(3);
  if (mleBytes < 0x0f) throw apduError("MLe below 15 bytes");
  if (bytes[13] !== 0x00) throw apduError("NDEF file is not readable without security");
  return {
    mleBytes,
    mlcBytes: u16(5),
    ndefFileId: u16(9),
    ndefFileBytesMax: u16(11),
    readOnly: bytes[14] !== 0x00,
  };
}
