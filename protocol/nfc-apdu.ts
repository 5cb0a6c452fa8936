import { assert } from "../core/assert.ts";
import { ErrorCode, TapwireError } from "./errors.ts";
import { isId } from "./ids.ts";
import { amountMinorMax, isCurrency } from "./money.ts";
import { sameBytes } from "./bytes.ts";

/**
 * ISO/IEC 7816-4 APDUs and BER-TLV, and the EMV-shaped reader-mode exchange between a hub (terminal) and an
 * HCE wallet (phone or card): SELECT PPSE → SELECT tapwire AID → GET PROCESSING OPTIONS → cryptogram.
 * Hub and wallet both use this file, so the two sides cannot drift. Every parser is defensive: bad input
 * is a TapwireError with code NfcApduError, never an exception from an index out of range.
 */
export const StatusWord = {
  ok: 0x9000,
  wrongLength: 0x6700,
  conditionsNotSatisfied: 0x6985,
  wrongData: 0x6a80,
  fileNotFound: 0x6a82,
  wrongP1P2: 0x6b00,
  insNotSupported: 0x6d00,
  claNotSupported: 0x6e00,
} as const;

export const Ins = { select: 0xa4, readBinary: 0xb0, getProcessingOptions: 0xa8 } as const;

/** Short APDUs only: what a PN532 frame (≤ 262 bytes of data) can carry. */
export const apduDataBytesMax = 255;
const tlvDepthMax = 4;
const tlvItemsMax = 32;

export function apduError(message: string, context?: Record<string, unknown>): TapwireError {
  return new TapwireError(message, ErrorCode.NfcApduError, context);
}

export function isNfcApduError(error: unknown): error is TapwireError {
  return error instanceof TapwireError && error.code === ErrorCode.NfcApduError;
}

// ---- APDUs -------------------------------------------------------------------------------------------

export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data: Uint8Array;
  /** Expected response length; undefined = no Le; 256 is encoded as 00. */
  le?: number;
}

export function encodeCommandApdu(apdu: CommandApdu): Uint8Array {
  assert(apdu.data.length <= apduDataBytesMax, `APDU data of ${apdu.data.length} bytes exceeds ${apduDataBytesMax}`);
  const bytes = [apdu.cla, apdu.ins, apdu.p1, apdu.p2];
  if (apdu.data.length > 0) bytes.push(apdu.data.length, ...apdu.data);
  if (apdu.le !== undefined) {
    assert(apdu.le >= 1 && apdu.le <= 256, "Le must be 1..256");
    bytes.push(apdu.le & 0xff);
  }
  return Uint8Array.from(bytes);
}

export function decodeCommandApdu(bytes: Uint8Array): CommandApdu {
  if (bytes.length < 4) throw apduError(`command APDU of ${bytes.length} bytes is shorter than its header`);
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  const body = bytes.subarray(4);
  if (body.length === 0) return { cla, ins, p1, p2, data: new Uint8Array(0) };
  if (body.length === 1) return { cla, ins, p1, p2, data: new Uint8Array(0), le: body[0] || 256 };
  const lc = body[0]!;
  if (lc === 0) throw apduError("extended-length APDUs are not supported");
  if (body.length === 1 + lc) return { cla, ins, p1, p2, data: body.slice(1) };
  if (body.length === 2 + lc) return { cla, ins, p1, p2, data: body.slice(1, 1 + lc), le: body[1 + lc] || 256 };
  throw apduError(`command APDU Lc ${lc} does not match its ${body.length - 1} data bytes`);
}

export interface ResponseApdu {
  data: Uint8Array;
  sw: number;
}

export function encodeResponseApdu(data: Uint8Array, sw: number): Uint8Array {
  return Uint8Array.from([...data, sw >> 8, sw & 0xff]);
}

export function decodeResponseApdu(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < 2) throw apduError(`response APDU of ${bytes.length} bytes has no status word`);
  return { data: bytes.slice(0, -2), sw: (bytes[bytes.length - 2]! << 8) | bytes[bytes.length - 1]! };
}

/** The data of a 9000 response; any other status word is an NfcApduError carrying `sw`. */
export function expectOk(bytes: Uint8Array, what: string): Uint8Array {
  const response = decodeResponseApdu(bytes);
  if (response.sw !== StatusWord.ok) {
    throw apduError(`${what} answered status ${response.sw.toString(16).padStart(4, "0")}`, { sw: response.sw, what });
  }
  return response.data;
}

export function selectByNameApdu(name: Uint8Array): Uint8Array {
  return encodeCommandApdu({ cla: 0x00, ins: Ins.select, p1: 0x04, p2: 0x00, data: name, le: 256 });
}

/** SELECT by file identifier, first or only occurrence, no FCI wanted (as Type 4 Tag readers send it). */
export function selectFileApdu(fileId: number): Uint8Array {
  return encodeCommandApdu({ cla: 0x00, ins: Ins.select, p1: 0x00, p2: 0x0c, data: Uint8Array.of(fileId >> 8, fileId & 0xff) });
}

export function readBinaryApdu(offset: number, length: number): Uint8Array {
  assert(offset >= 0 && offset <= 0x7fff, "READ BINARY offset must fit 15 bits");
  return encodeCommandApdu({ cla: 0x00, ins: Ins.readBinary, p1: offset >> 8, p2: offset & 0xff, data: new Uint8Array(0), le: length });
}

// ---- BER-TLV -----------------------------------------------------------------------------------------

export interface Tlv {
  tag: number;
  value: Uint8Array;
}

function isConstructed(tag: number): boolean {
  const firstByte = tag > 0xff ? tag >> 8 : tag;
  return (firstByte & 0x20) !== 0;
}

function encodeTag(tag: number): number[] {
  assert(tag > 0 && tag <= 0xffff, "tapwire uses one- and two-byte tags");
  return tag > 0xff ? [tag >> 8, tag & 0xff] : [tag];
}

function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  if (length <= 0xff) return [0x81, length];
  assert(length <= 0xffff, "TLV value too long");
  return [0x82, length >> 8, length & 0xff];
}

export function encodeTlv(tag: number, value: Uint8Array): Uint8Array {
  return Uint8Array.from([...encodeTag(tag), ...encodeLength(value.length), ...value]);
}

export function encodeTlvs(items: Tlv[]): Uint8Array {
  return Uint8Array.from(items.flatMap((item) => [...encodeTlv(item.tag, item.value)]));
}

/** One level of TLVs; rejects truncation, indefinite lengths, three-byte tags and too many items. */
export function decodeTlvs(bytes: Uint8Array): Tlv[] {
  const items: Tlv[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (items.length >= tlvItemsMax) throw apduError(`more than ${tlvItemsMax} TLV items`);
    // 00 and FF between TLVs are padding (ISO/IEC 7816-4 §5.2.2.1).
    if (bytes[i] === 0x00 || bytes[i] === 0xff) {
      i++;
      continue;
    }
    let tag = bytes[i++]!;
    if ((tag & 0x1f) === 0x1f) {
      if (i >= bytes.length) throw apduError("TLV tag is truncated");
      const next = bytes[i++]!;
      if ((next & 0x80) !== 0) throw apduError("TLV tags longer than two bytes are not used");
      tag = (tag << 8) | next;
    }
    if (i >= bytes.length) throw apduError(`TLV ${tag.toString(16)} has no length`);
    let length = bytes[i++]!;
    if (length === 0x81 || length === 0x82) {
      const lengthBytes = length - 0x80;
      if (i + lengthBytes > bytes.length) throw apduError("TLV length is truncated");
      length = lengthBytes === 1 ? bytes[i]! : (bytes[i]! << 8) | bytes[i + 1]!;
      i += lengthBytes;
    } else if (length >= 0x80) {
      throw apduError(`TLV length form 0x${length.toString(16)} is not supported`);
    }
    if (i + length > bytes.length) throw apduError(`TLV ${tag.toString(16)} value is truncated`);
    items.push({ tag, value: bytes.slice(i, i + length) });
    i += length;
  }
  return items;
}

/** The value of the first `path` match, descending through constructed tags; undefined if absent. */
export function findTlv(bytes: Uint8Array, path: number[]): Uint8Array | undefined {
  assert(path.length >= 1 && path.length <= tlvDepthMax, `TLV path depth must be 1..${tlvDepthMax}`);
  const [head, ...rest] = path;
  const item = decodeTlvs(bytes).find((tlv) => tlv.tag === head);
  if (!item || rest.length === 0) return item?.value;
  if (!isConstructed(item.tag)) throw apduError(`TLV ${item.tag.toString(16)} is not constructed`);
  return findTlv(item.value, rest);
}

function requireTlv(bytes: Uint8Array, path: number[], what: string): Uint8Array {
  const value = findTlv(bytes, path);
  if (value === undefined) throw apduError(`${what} is missing (tag ${path.map((t) => t.toString(16)).join("/")})`);
  return value;
}

// ---- Reader mode (EMV-shaped) ------------------------------------------------------------------------

export const EmvTag = {
  fci: 0x6f,
  dfName: 0x84,
  fciProprietary: 0xa5,
  fciIssuerDiscretionary: 0xbf0c,
  directoryEntry: 0x61,
  aid: 0x4f,
  label: 0x50,
  commandTemplate: 0x83,
  responseTemplate2: 0x77,
  amountAuthorised: 0x9f02,
  transactionCurrency: 0x5f2a,
  unpredictableNumber: 0x9f37,
  atc: 0x9f36,
  cryptogram: 0x9f26,
  cryptogramInfo: 0x9f27,
  /** Private-class tags: EMV has no field for a hub id or a wallet id of this shape. */
  hubId: 0xdf01,
  walletId: 0xdf02,
} as const;

export const ppseName = new TextEncoder().encode("2PAY.SYS.DDF01");
/** Proprietary AID (first nibble F = not registered): "F0" + "tapwire" + version 01. */
export const tapwireAid = Uint8Array.of(0xf0, 0x74, 0x61, 0x70, 0x77, 0x69, 0x72, 0x65, 0x01);
export const unpredictableNumberBytes = 4;
/** EMV 9F27: the wallet asks the terminal to go online (an ARQC). */
export const cidGoOnline = 0x80;
/** n12 BCD: the largest amount 9F02 carries. */
export const emvAmountMinorMax = 999_999_999_999;

/** ISO 4217 numeric codes (EMV 5F2A is numeric) for every currency money.ts accepts. */
export const currencyNumericCodes: Readonly<Record<string, number>> = {
  EUR: 978,
  USD: 840,
  GBP: 826,
  CHF: 756,
  CNY: 156,
  HKD: 344,
  SGD: 702,
  JPY: 392,
  KRW: 410,
  BHD: 48,
  KWD: 414,
};

function toBcd(value: number, bytes: number): Uint8Array {
  const digits = value.toString().padStart(bytes * 2, "0");
  assert(digits.length === bytes * 2, `${value} does not fit ${bytes} BCD bytes`);
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (Number(digits[2 * i]) << 4) | Number(digits[2 * i + 1]);
  return out;
}

function fromBcd(bytes: Uint8Array, what: string): number {
  let value = 0;
  for (const byte of bytes) {
    const high = byte >> 4;
    const low = byte & 0x0f;
    if (high > 9 || low > 9) throw apduError(`${what} is not BCD`);
    value = value * 100 + high * 10 + low;
  }
  return value;
}

function currencyToNumeric(currency: string): number {
  const code = currencyNumericCodes[currency];
  if (code === undefined || !isCurrency(currency)) {
    throw new TapwireError(`no ISO 4217 numeric code for ${currency}`, ErrorCode.UnknownCurrency);
  }
  return code;
}

function currencyFromNumeric(code: number): string {
  const entry = Object.entries(currencyNumericCodes).find(([, numeric]) => numeric === code);
  if (!entry) throw apduError(`unknown ISO 4217 numeric currency ${code}`);
  return entry[0];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeId(bytes: Uint8Array, what: string): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw apduError(`${what} is not UTF-8`);
  }
  if (!isId(text)) throw apduError(`${what} is not a valid id`);
  return text;
}

/** PPSE FCI: the directory a phone answers to SELECT 2PAY.SYS.DDF01, listing its payment applications. */
export function encodePpseFci(aids: Uint8Array[]): Uint8Array {
  const entries = aids.map((aid) => ({ tag: EmvTag.directoryEntry, value: encodeTlv(EmvTag.aid, aid) }));
  const proprietary = encodeTlv(EmvTag.fciIssuerDiscretionary, encodeTlvs(entries));
  return encodeTlv(EmvTag.fci, encodeTlvs([{ tag: EmvTag.dfName, value: ppseName }, { tag: EmvTag.fciProprietary, value: proprietary }]));
}

export function decodePpseFci(bytes: Uint8Array): Uint8Array[] {
  const directory = requireTlv(bytes, [EmvTag.fci, EmvTag.fciProprietary, EmvTag.fciIssuerDiscretionary], "PPSE directory");
  return decodeTlvs(directory)
    .filter((entry) => entry.tag === EmvTag.directoryEntry)
    .map((entry) => requireTlv(entry.value, [EmvTag.aid], "PPSE directory AID"));
}

export function encodeAppFci(aid: Uint8Array, label: string): Uint8Array {
  const proprietary = encodeTlv(EmvTag.label, new TextEncoder().encode(label));
  return encodeTlv(EmvTag.fci, encodeTlvs([{ tag: EmvTag.dfName, value: aid }, { tag: EmvTag.fciProprietary, value: proprietary }]));
}

export function decodeAppFciName(bytes: Uint8Array): Uint8Array {
  return requireTlv(bytes, [EmvTag.fci, EmvTag.dfName], "application DF name");
}

/** What the terminal sends in GET PROCESSING OPTIONS. */
export interface ProcessingOptions {
  amountMinor: number;
  currency: string;
  unpredictableNumber: Uint8Array;
  hubId: string;
}

/**
 * GPO `80 A8 00 00 Lc 83 L … 00`. EMV puts raw PDOL values under tag 83; tapwire puts TLVs there instead,
 * because the hub id has no fixed length.
 */
export function encodeGpoCommand(options: ProcessingOptions): Uint8Array {
  if (!Number.isSafeInteger(options.amountMinor) || options.amountMinor < 1 || options.amountMinor > Math.min(amountMinorMax, emvAmountMinorMax)) {
    throw new TapwireError(`amount ${options.amountMinor} does not fit EMV 9F02 (n12)`, ErrorCode.InvalidMoney);
  }
  assert(options.unpredictableNumber.length === unpredictableNumberBytes, "unpredictable number must be 4 bytes");
  assert(isId(options.hubId), "hub id must be a valid id");
  const items = encodeTlvs([
    { tag: EmvTag.amountAuthorised, value: toBcd(options.amountMinor, 6) },
    { tag: EmvTag.transactionCurrency, value: toBcd(currencyToNumeric(options.currency), 2) },
    { tag: EmvTag.unpredictableNumber, value: options.unpredictableNumber },
    { tag: EmvTag.hubId, value: new TextEncoder().encode(options.hubId) },
  ]);
  return encodeCommandApdu({ cla: 0x80, ins: Ins.getProcessingOptions, p1: 0, p2: 0, data: encodeTlv(EmvTag.commandTemplate, items), le: 256 });
}

export function decodeGpoCommand(apdu: CommandApdu): ProcessingOptions {
  if (apdu.cla !== 0x80 || apdu.ins !== Ins.getProcessingOptions) throw apduError("not a GET PROCESSING OPTIONS command");
  const template = requireTlv(apdu.data, [EmvTag.commandTemplate], "GPO command template");
  const amount = requireTlv(template, [EmvTag.amountAuthorised], "amount 9F02");
  const currency = requireTlv(template, [EmvTag.transactionCurrency], "currency 5F2A");
  const unpredictableNumber = requireTlv(template, [EmvTag.unpredictableNumber], "unpredictable number 9F37");
  if (amount.length !== 6 || currency.length !== 2 || unpredictableNumber.length !== unpredictableNumberBytes) {
    throw apduError("GPO field has the wrong length");
  }
  const amountMinor = fromBcd(amount, "amount");
  if (amountMinor < 1) throw apduError("GPO amount must be positive");
  return {
    amountMinor,
    currency: currencyFromNumeric(fromBcd(currency, "currency")),
    unpredictableNumber,
    hubId: decodeId(requireTlv(template, [EmvTag.hubId], "hub id DF01"), "hub id"),
  };
}

/** What the wallet answers to GPO (EMV response format 2, tag 77). 9F26 is 64 bytes here: ES256, not a MAC. */
export interface ProcessingResult {
  walletId: string;
  atc: number;
  cryptogram: Uint8Array;
  cryptogramInfo: number;
}

export function encodeGpoResponse(result: ProcessingResult): Uint8Array {
  assert(result.atc >= 1 && result.atc <= 0xffff, "ATC must be 1..65535");
  return encodeTlv(
    EmvTag.responseTemplate2,
    encodeTlvs([
      { tag: EmvTag.cryptogramInfo, value: Uint8Array.of(result.cryptogramInfo) },
      { tag: EmvTag.atc, value: Uint8Array.of(result.atc >> 8, result.atc & 0xff) },
      { tag: EmvTag.cryptogram, value: result.cryptogram },
      { tag: EmvTag.walletId, value: new TextEncoder().encode(result.walletId) },
    ]),
  );
}

export function decodeGpoResponse(bytes: Uint8Array): ProcessingResult {
  const template = requireTlv(bytes, [EmvTag.responseTemplate2], "GPO response template 77");
  const cid = requireTlv(template, [EmvTag.cryptogramInfo], "cryptogram information 9F27");
  const atc = requireTlv(template, [EmvTag.atc], "ATC 9F36");
  const cryptogram = requireTlv(template, [EmvTag.cryptogram], "cryptogram 9F26");
  if (cid.length !== 1 || atc.length !== 2 || cryptogram.length !== 64) throw apduError("GPO response field has the wrong length");
  const atcValue = (atc[0]! << 8) | atc[1]!;
  if (atcValue === 0) throw apduError("ATC must not be zero");
  return {
    walletId: decodeId(requireTlv(template, [EmvTag.walletId], "wallet id DF02"), "wallet id"),
    atc: atcValue,
    cryptogram,
    cryptogramInfo: cid[0]!,
  };
}

