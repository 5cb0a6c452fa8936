import { afterEach, describe, expect, it } from "vitest";
import { ReaderMode } from "../../firmware-bridge/nfc/reader-mode.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { encodeResponseApdu, StatusWord } from "../../protocol/nfc-apdu.ts";
import { verifyCryptogram } from "../../protocol/payer.ts";
import { SeededRandom } from "../../core/sources.ts";
import type { VirtualCard } from "../../simulator/pn532/field.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import { rejectionCode, startedHarness, type Harness } from "./harness.ts";

const hubId = "hub-01";
const payment = { amountMinor: 1250, currency: "EUR" };
const walletKeys = generateP256();

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function readerMode(h: Harness, seed = 42): ReaderMode {
  return new ReaderMode(h.pn532, { hubId, random: new SeededRandom(seed), waitForCardMs: 500, apduTimeoutMs: 200 });
}

function wallet(atcStart = 7): HceWallet {
  return new HceWallet({ walletId: "wallet-ann", privateKey: walletKeys.privateKey, atcStart });
}

describe("reader mode: hub PN532 ↔ HCE phone, EMV-shaped", () => {
  it("reads a cryptogram that verifies with the wallet's key over amount, currency, UN, hub and ATC", async () => {
    harness = await startedHarness();
    const phone = wallet(7);
    harness.chip.placeInField(phone);

    const credential = await readerMode(harness).readCredential(payment);

    expect(credential).toMatchObject({ kind: "hce", walletId: "wallet-ann", atc: 7 });
    expect([...credential.unpredictableNumber]).toEqual([...new SeededRandom(42).bytes(4)]);
    expect(() =>
      verifyCryptogram({ walletId: "wallet-ann", hubId, ...payment, unpredictableNumber: credential.unpredictableNumber, atc: 7 }, credential.cryptogram, walletKeys.publicKey),
    ).not.toThrow();
    expect(harness.chip.commandsSeen).toEqual([0x14, 0x4a, 0x40, 0x40, 0x40, 0x52]);
  });

  it("moves the ATC forward on every tap and waits for a phone placed after the read started", async () => {
    harness = await startedHarness();
    const phone = wallet(300);
    const reader = readerMode(harness);
    harness.chip.placeInField(phone);
    expect((await reader.readCredential(payment)).atc).toBe(300);
    harness.chip.removeFromField();

    const second = reader.readCredential({ amountMinor: 99, currency: "JPY" });
    setTimeout(() => harness!.chip.placeInField(phone), 30);
    const credential = await second;
    expect(credential.atc).toBe(301);
    expect(() =>
      verifyCryptogram({ walletId: "wallet-ann", hubId, amountMinor: 99, currency: "JPY", unpredictableNumber: credential.unpredictableNumber, atc: 301 }, credential.cryptogram, walletKeys.publicKey),
    ).not.toThrow();
  });

  it("hands over a replayed cryptogram unchanged; it fails verification against the new UN", async () => {
    harness = await startedHarness();
    const phone = wallet(10);
    harness.chip.placeInField(phone);
    const reader = readerMode(harness);
    const first = await reader.readCredential(payment);
    phone.replayNextCryptogram();

    const replayed = await reader.readCredential(payment);

    expect(replayed.atc).toBe(first.atc);
    expect([...replayed.cryptogram]).toEqual([...first.cryptogram]);
    let code: number | undefined;
    try {
      verifyCryptogram({ walletId: "wallet-ann", hubId, ...payment, unpredictableNumber: replayed.unpredictableNumber, atc: replayed.atc }, replayed.cryptogram, walletKeys.publicKey);
    } catch (error) {
      code = (error as TapwireError).code;
    }
    expect(code).toBe(ErrorCode.PayerCredentialInvalid);
  });

  it("fails with NfcTimeout when no phone comes within waitForCardMs", async () => {
    harness = await startedHarness();
    expect(await rejectionCode(readerMode(harness).readCredential(payment))).toBe(ErrorCode.NfcTimeout);
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
  });

  it("turns a phone removed mid-exchange into NfcTargetLost, then reads the next tap", async () => {
    harness = await startedHarness();
    const phone = wallet(20);
    harness.chip.placeInField(phone);
    harness.chip.setFaults({ removeTargetAtApdu: 3 });
    const reader = readerMode(harness);

    expect(await rejectionCode(reader.readCredential(payment))).toBe(ErrorCode.NfcTargetLost);
    expect(phone.atc).toBe(20);

    harness.chip.placeInField(phone);
    expect((await reader.readCredential(payment)).atc).toBe(20);
  });

  it("turns a phone that stops answering into NfcTargetLost once the APDU timeout passes, instead of hanging", async () => {
    harness = await startedHarness();
    const silent: VirtualCard = {
      role: "card",
      identity: wallet().identity,
      transceive: () => new Promise<Uint8Array>(() => undefined),
    };
    harness.chip.placeInField(silent);
    expect(await rejectionCode(readerMode(harness).readCredential(payment))).toBe(ErrorCode.NfcTargetLost);
  });

  it("refuses a card without the tapwire application with NfcApduError (6A82)", async () => {
    harness = await startedHarness();
    const transitCard: VirtualCard = {
      role: "card",
      identity: wallet().identity,
      transceive: () => encodeResponseApdu(new Uint8Array(0), StatusWord.fileNotFound),
    };
    harness.chip.placeInField(transitCard);
    let error: unknown;
    await readerMode(harness).readCredential(payment).catch((e: unknown) => (error = e));
    expect(error).toMatchObject({ code: ErrorCode.NfcApduError, context: { sw: StatusWord.fileNotFound } });
  });

  it("stops waiting for a card when the AbortSignal fires (Cancelled)", async () => {
    harness = await startedHarness();
    const controller = new AbortController();
    const reading = readerMode(harness).readCredential(payment, controller.signal);
    setTimeout(() => controller.abort(), 20);
    expect(await rejectionCode(reading)).toBe(ErrorCode.Cancelled);
  });

  it("survives a noisy link during the exchange (garbage, split chunks, a corrupt response)", async () => {
    harness = await startedHarness();
    harness.chip.placeInField(wallet(5));
    harness.chip.setFaults({ garbageBeforeFrames: 3, splitChunks: true, badChecksumResponses: 1, nackCommands: 1 });
    expect((await readerMode(harness).readCredential(payment)).atc).toBe(5);
  });
});
