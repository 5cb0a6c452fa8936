import { afterEach, describe, expect, it, vi } from "vitest";
import { NfcTapReader } from "../../firmware-bridge/nfc/nfc-tap-reader.ts";
import { ackBytes } from "../../firmware-bridge/nfc/pn532-frame.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { verifyCryptogram } from "../../protocol/payer.ts";
import { SeededRandom, systemClock } from "../../core/sources.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import { TagReadingWallet } from "../../simulator/phones/tag-reading-wallet.ts";
import { rejectionCode, startedHarness, type Harness } from "./harness.ts";

/** PN532 InListPassiveTarget (UM0701-02 §7.3.5): the command that waits for a card. */
const inListPassiveTarget = 0x4a;

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function tapReader(h: Harness): NfcTapReader {
  return new NfcTapReader(h.pn532, { clock: systemClock, random: new SeededRandom(4), waitForCardMs: 2_000, apduTimeoutMs: 200, presentTimeoutMs: 2_000 });
}

describe("NfcTapReader: the PN532 as device/'s TapReaderPort", () => {
  it("reads a card for the hub id of the call and presents an offer to a tag-reading phone", async () => {
    harness = await startedHarness();
    const keys = generateP256();
    harness.chip.placeInField(new HceWallet({ walletId: "wallet-bo", privateKey: keys.privateKey, atcStart: 3 }));
    const reader = tapReader(harness);

    const credential = await reader.readCard({ hubId: "hub-9", amountMinor: 700, currency: "USD", signal: new AbortController().signal });
    verifyCryptogram({ walletId: "wallet-bo", hubId: "hub-9", amountMinor: 700, currency: "USD", unpredictableNumber: credential.unpredictableNumber, atc: 3 }, credential.cryptogram, keys.publicKey);

    const received: Uint8Array[] = [];
    harness.chip.placeInField(new TagReadingWallet({ onOffer: (bytes) => void received.push(bytes), apduTimeoutMs: 300 }));
    await reader.presentOffer({ offer: Buffer.from("sealed-offer-bytes"), signal: new AbortController().signal });
    expect(Buffer.from(received[0]!).toString()).toBe("sealed-offer-bytes");
  });

  it("rejects with Cancelled when the machine aborts, and aborts the chip's wait with an ACK", async () => {
    harness = await startedHarness();
    const controller = new AbortController();
    const reading = tapReader(harness).readCard({ hubId: "hub-9", amountMinor: 1, currency: "EUR", signal: controller.signal });
    await vi.waitFor(() => expect(harness!.chip.commandsSeen).toContain(inListPassiveTarget));
    controller.abort();
    expect(await rejectionCode(reading)).toBe(ErrorCode.Cancelled);
    const lastHostBytes = harness.chip.wire.filter((record) => record.direction === "host").at(-1)!.bytes;
    expect(Buffer.from(lastHostBytes).equals(Buffer.from(ackBytes))).toBe(true);
  });
});
