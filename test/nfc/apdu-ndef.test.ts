import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { currencyExponents } from "../../protocol/money.ts";
import {
  decodeCapabilityContainer,
  decodeNdefMessage,
  encodeCapabilityContainer,
  encodeNdefMessage,
  encodeOfferNdef,
  extractOfferFromNdef,
  Tnf,
} from "../../protocol/ndef.ts";
import {
  currencyNumericCodes,
  decodeCommandApdu,
  decodeGpoCommand,
  decodeGpoResponse,
  decodeTlvs,
  encodeGpoCommand,
  encodeGpoResponse,
  encodeTlv,
  findTlv,
  isNfcApduError,
} from "../../protocol/nfc-apdu.ts";
import { SeededRandom } from "../../core/sources.ts";
import { fromHex, hex } from "./harness.ts";

function codeOf(work: () => unknown): number | undefined {
  try {
    work();
  } catch (error) {
    return (error as { code?: number }).code;
  }
  return undefined;
}

describe("BER-TLV and APDUs", () => {
  it("encodes one- and two-byte tags with short and long lengths, and finds nested values", () => {
    const long = new Uint8Array(200).fill(7);
    const bytes = encodeTlv(0x6f, Uint8Array.from([...encodeTlv(0x84, Uint8Array.of(1, 2)), ...encodeTlv(0x9f26, long)]));
    expect(hex(bytes.subarray(0, 3))).toBe("6f 81 d0");
    expect([...findTlv(bytes, [0x6f, 0x84])!]).toEqual([1, 2]);
    expect(findTlv(bytes, [0x6f, 0x9f26])).toHaveLength(200);
    expect(findTlv(bytes, [0x6f, 0x50])).toBeUndefined();
  });

  it("rejects truncated or malformed TLVs with NfcApduError", () => {
    expect(codeOf(() => decodeTlvs(fromHex("9f")))).toBe(ErrorCode.NfcApduError);
    expect(codeOf(() => decodeTlvs(fromHex("84 05 01 02")))).toBe(ErrorCode.NfcApduError);
    expect(codeOf(() => decodeTlvs(fromHex("84 83 00 00 01")))).toBe(ErrorCode.NfcApduError);
    expect(codeOf(() => decodeTlvs(fromHex("9f 80 01 00")))).toBe(ErrorCode.NfcApduError);
    expect(codeOf(() => decodeTlvs(new Uint8Array(100).fill(0x01).map((b, i) => (i % 2 ? 0 : b))))).toBe(ErrorCode.NfcApduError);
  });

  it("never throws anything but NfcApduError on random TLV and APDU input", () => {
    const random = new SeededRandom(11);
    for (let round = 0; round < 500; round++) {
      const bytes = random.bytes(random.bytes(1)[0]! % 40);
      for (const parse of [() => decodeTlvs(bytes), () => decodeCommandApdu(bytes), () => decodeNdefMessage(bytes)]) {
        try {
          parse();
        } catch (error) {
          expect(isNfcApduError(error)).toBe(true);
        }
      }
    }
  });

  it("round-trips GET PROCESSING OPTIONS with BCD amount and numeric currency", () => {
    const unpredictableNumber = Uint8Array.of(1, 2, 3, 4);
    const command = encodeGpoCommand({ amountMinor: 123456, currency: "EUR", unpredictableNumber, hubId: "hub-01" });
    expect(hex(command.subarray(0, 4))).toBe("80 a8 00 00");
    // EMV's command template 83 is primitive: its value is read as a second TLV list.
    const template = findTlv(decodeCommandApdu(command).data, [0x83])!;
    expect(hex(findTlv(template, [0x9f02])!)).toBe("00 00 00 12 34 56");
    expect(hex(findTlv(template, [0x5f2a])!)).toBe("09 78");
    expect(decodeGpoCommand(decodeCommandApdu(command))).toEqual({ amountMinor: 123456, currency: "EUR", unpredictableNumber, hubId: "hub-01" });
  });

  it("refuses amounts EMV cannot carry and currencies without a numeric code", () => {
    const base = { currency: "EUR", unpredictableNumber: new Uint8Array(4), hubId: "hub-01" };
    expect(codeOf(() => encodeGpoCommand({ ...base, amountMinor: 1_000_000_000_000 }))).toBe(ErrorCode.InvalidMoney);
    expect(codeOf(() => encodeGpoCommand({ ...base, amountMinor: 1, currency: "XAU" }))).toBe(ErrorCode.UnknownCurrency);
  });

  it("has an ISO 4217 numeric code for every currency tapwire accepts", () => {
    expect(Object.keys(currencyNumericCodes).sort()).toEqual(Object.keys(currencyExponents).sort());
  });

  it("round-trips the GPO response and rejects a short cryptogram or a zero ATC", () => {
    const cryptogram = new SeededRandom(2).bytes(64);
    const encoded = encodeGpoResponse({ walletId: "wallet-ann", atc: 513, cryptogram, cryptogramInfo: 0x80 });
    expect(decodeGpoResponse(encoded)).toEqual({ walletId: "wallet-ann", atc: 513, cryptogram, cryptogramInfo: 0x80 });
    const short = encodeGpoResponse({ walletId: "w", atc: 1, cryptogram: new Uint8Array(64), cryptogramInfo: 0x80 }).slice();
    expect(codeOf(() => decodeGpoResponse(short.subarray(0, short.length - 3)))).toBe(ErrorCode.NfcApduError);
    const zeroAtc = encodeTlv(0x77, Uint8Array.from([...encodeTlv(0x9f27, Uint8Array.of(0x80)), ...encodeTlv(0x9f36, Uint8Array.of(0, 0)), ...encodeTlv(0x9f26, cryptogram), ...encodeTlv(0xdf02, new TextEncoder().encode("w"))]));
    expect(codeOf(() => decodeGpoResponse(zeroAtc))).toBe(ErrorCode.NfcApduError);
  });
});

describe("NDEF and the Type 4 capability container", () => {
  const offer = new SeededRandom(5).bytes(300);

  it("round-trips the offer as an external-type record and as a MIME record", () => {
    const external = encodeOfferNdef(offer, "external");
    expect(decodeNdefMessage(external)[0]!.tnf).toBe(Tnf.external);
    expect(new TextDecoder().decode(decodeNdefMessage(external)[0]!.type)).toBe("tapwire.io:offer");
    expect([...extractOfferFromNdef(external)]).toEqual([...offer]);
    const mime = encodeOfferNdef(offer.subarray(0, 100), "mime");
    expect(decodeNdefMessage(mime)[0]!.tnf).toBe(Tnf.mime);
    expect(mime[0]! & 0x10).toBe(0x10);
    expect([...extractOfferFromNdef(mime)]).toEqual([...offer.subarray(0, 100)]);
  });

  it("rejects truncated messages, missing ME and messages without an offer record", () => {
    const message = encodeOfferNdef(offer);
    expect(codeOf(() => decodeNdefMessage(message.subarray(0, 20)))).toBe(ErrorCode.NfcApduError);
    const noMe = message.slice();
    noMe[0] = noMe[0]! & ~0x40;
    expect(codeOf(() => decodeNdefMessage(noMe))).toBe(ErrorCode.NfcApduError);
    const uri = encodeNdefMessage([{ tnf: Tnf.wellKnown, type: Uint8Array.of(0x55), id: new Uint8Array(0), payload: Uint8Array.of(4, 0x61) }]);
    expect(codeOf(() => extractOfferFromNdef(uri))).toBe(ErrorCode.NfcApduError);
  });

  it("round-trips the capability container and rejects a bad one", () => {
    const cc = { mleBytes: 128, mlcBytes: 128, ndefFileId: 0xe104, ndefFileBytesMax: 400, readOnly: true };
    const bytes = encodeCapabilityContainer(cc);
    expect(hex(bytes)).toBe("00 0f 20 00 80 00 80 04 06 e1 04 01 90 00 ff");
    expect(decodeCapabilityContainer(bytes)).toEqual(cc);
    const badVersion = bytes.slice();
    badVersion[2] = 0x30;
    expect(codeOf(() => decodeCapabilityContainer(badVersion))).toBe(ErrorCode.NfcApduError);
    expect(codeOf(() => decodeCapabilityContainer(bytes.subarray(0, 10)))).toBe(ErrorCode.NfcApduError);
  });
});
