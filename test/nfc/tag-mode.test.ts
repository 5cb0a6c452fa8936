import { afterEach, describe, expect, it } from "vitest";
import { TagMode, type TagModeOptions } from "../../firmware-bridge/nfc/tag-mode.ts";
import { Type4TagSession } from "../../firmware-bridge/nfc/type4-tag.ts";
import { openSealed, sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { tagOfferSchema, type TagOffer } from "../../protocol/messages.ts";
import { capabilityContainerFileId, encodeNdefFile, encodeOfferNdef, ndefApplicationAid, ndefFileId } from "../../protocol/ndef.ts";
import { decodeResponseApdu, readBinaryApdu, selectByNameApdu, selectFileApdu, StatusWord } from "../../protocol/nfc-apdu.ts";
import { SeededRandom, systemClock } from "../../core/sources.ts";
import type { TagLink, VirtualReader } from "../../simulator/pn532/field.ts";
import { TagReadingWallet } from "../../simulator/phones/tag-reading-wallet.ts";
import { rejectionCode, startedHarness, type Harness } from "./harness.ts";

const hubKeys = generateP256();
const nowMs = Date.UTC(2026, 10, 23, 12, 0, 0);
const offerBody: TagOffer = {
  type: "tag_offer",
  v: 1,
  hubId: "hub-01",
  merchantId: "merchant-7",
  offerId: "offer-0001",
  amountMinor: 1250,
  currency: "EUR",
  nonce: new Uint8Array(new SeededRandom(3).bytes(16)),
  iat: nowMs,
  exp: nowMs + 60_000,
};
const offerBytes = new Uint8Array(sealMessage(offerBody, hubKeys.privateKey));

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function tagMode(h: Harness, options: Partial<TagModeOptions> = {}): TagMode {
  return new TagMode(h.pn532, { clock: systemClock, random: new SeededRandom(9), apduTimeoutMs: 200, ...options });
}

function phoneReceivingOffer(): { phone: TagReadingWallet; offer: Promise<Uint8Array> } {
  let deliver!: (bytes: Uint8Array) => void;
  const offer = new Promise<Uint8Array>((resolve) => (deliver = resolve));
  return { phone: new TagReadingWallet({ onOffer: deliver, apduTimeoutMs: 300 }), offer };
}

describe("tag mode: the hub emulates a Type 4 tag, a phone in reader mode reads the offer", () => {
  it("hands the phone the exact sealed offer bytes, which open with the hub key", async () => {
    harness = await startedHarness();
    const { phone, offer } = phoneReceivingOffer();
    const presenting = tagMode(harness).presentOffer(offerBytes, 2_000);
    setTimeout(() => harness!.chip.placeInField(phone), 20);

    const presentation = await presenting;
    const received = await offer;

    expect(Buffer.from(received).equals(Buffer.from(offerBytes))).toBe(true);
    expect(openSealed(received, hubKeys.publicKey, tagOfferSchema).body).toMatchObject({ offerId: "offer-0001", amountMinor: 1250 });
    expect(presentation.taps).toBe(1);
    expect(harness.chip.commandsSeen.slice(0, 2)).toEqual([0x14, 0x8c]);
  });

  it("serves the MIME record kind and small MLe reads across many APDUs", async () => {
    harness = await startedHarness();
    const { phone, offer } = phoneReceivingOffer();
    harness.chip.placeInField(phone);

    const presentation = await tagMode(harness, { recordKind: "mime", mleBytes: 15 }).presentOffer(offerBytes, 3_000);

    expect(Buffer.from(await offer).equals(Buffer.from(offerBytes))).toBe(true);
    const ndefFileBytes = encodeNdefFile(encodeOfferNdef(offerBytes, "mime")).length;
    // SELECT app, SELECT CC, READ CC, SELECT NDEF, READ NLEN, then ⌈message / 15⌉ reads.
    expect(presentation.apdus).toBe(5 + Math.ceil((ndefFileBytes - 2) / 15));
  });

  it("keeps presenting after a phone leaves half-way and completes with the next tap", async () => {
    harness = await startedHarness();
    const quitter: VirtualReader = {
      role: "reader",
      async read(tag: TagLink) {
        await tag.transceive(selectByNameApdu(ndefApplicationAid), 200);
        harness!.chip.removeFromField();
      },
    };
    const { phone, offer } = phoneReceivingOffer();
    harness.chip.placeInField(quitter);
    const presenting = tagMode(harness).presentOffer(offerBytes, 3_000);
    setTimeout(() => harness!.chip.placeInField(phone), 80);

    const presentation = await presenting;
    expect(presentation.taps).toBe(2);
    expect(Buffer.from(await offer).equals(Buffer.from(offerBytes))).toBe(true);
  });

  it("fails with NfcTimeout when no phone reads the offer in time", async () => {
    harness = await startedHarness();
    expect(await rejectionCode(tagMode(harness).presentOffer(offerBytes, 150))).toBe(ErrorCode.NfcTimeout);
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
  });

  it("stops presenting when the AbortSignal fires (Cancelled)", async () => {
    harness = await startedHarness();
    const controller = new AbortController();
    const presenting = tagMode(harness).presentOffer(offerBytes, 5_000, controller.signal);
    setTimeout(() => controller.abort(), 30);
    expect(await rejectionCode(presenting)).toBe(ErrorCode.Cancelled);
  });

  it("survives a noisy link while the phone reads", async () => {
    harness = await startedHarness();
    const { phone, offer } = phoneReceivingOffer();
    harness.chip.placeInField(phone);
    harness.chip.setFaults({ garbageBeforeFrames: 4, splitChunks: true, badChecksumResponses: 2, silentCommands: 1 });
    await tagMode(harness).presentOffer(offerBytes, 3_000);
    expect(Buffer.from(await offer).equals(Buffer.from(offerBytes))).toBe(true);
  });
});

describe("Type 4 tag session", () => {
  const file = encodeNdefFile(encodeOfferNdef(offerBytes));
  const sw = (bytes: Uint8Array) => decodeResponseApdu(bytes).sw;

  it("answers 6A82 to another application and to unknown files, 6985 to a read with nothing selected", () => {
    const session = new Type4TagSession(file, 64);
    expect(sw(session.answer(readBinaryApdu(0, 2)))).toBe(StatusWord.conditionsNotSatisfied);
    expect(sw(session.answer(selectByNameApdu(Uint8Array.of(0xa0, 0, 0, 0, 3))))).toBe(StatusWord.fileNotFound);
    expect(sw(session.answer(selectFileApdu(ndefFileId)))).toBe(StatusWord.fileNotFound);
    expect(sw(session.answer(selectByNameApdu(ndefApplicationAid)))).toBe(StatusWord.ok);
    expect(sw(session.answer(selectFileApdu(0xe105)))).toBe(StatusWord.fileNotFound);
    expect(sw(session.answer(Uint8Array.of(0x00, 0xb0)))).toBe(StatusWord.wrongLength);
  });

  it("counts the NDEF file as read only when every byte went out, and caps reads at MLe", () => {
    const session = new Type4TagSession(file, 32);
    session.answer(selectByNameApdu(ndefApplicationAid));
    session.answer(selectFileApdu(capabilityContainerFileId));
    expect(decodeResponseApdu(session.answer(readBinaryApdu(0, 15))).data[4]).toBe(32);
    session.answer(selectFileApdu(ndefFileId));
    expect(decodeResponseApdu(session.answer(readBinaryApdu(0, 255))).data).toHaveLength(32);
    for (let offset = 32; offset < file.length - 1; offset += 32) session.answer(readBinaryApdu(offset, Math.min(32, file.length - 1 - offset)));
    expect(session.ndefFileRead).toBe(false);
    session.answer(readBinaryApdu(file.length - 1, 1));
    expect(session.ndefFileRead).toBe(true);
  });
});
