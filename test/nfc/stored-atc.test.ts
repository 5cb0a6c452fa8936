import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ReaderMode } from "../../firmware-bridge/nfc/reader-mode.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { SeededRandom } from "../../core/sources.ts";
import { atcFileName, readNextAtc, writeNextAtc } from "../../simulator/phones/atc-file.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import { codeOf } from "../support/cli.ts";
import { startedHarness, type Harness } from "./harness.ts";

const walletKeys = generateP256();
const payment = { amountMinor: 1250, currency: "EUR" };

let walletDir: string;
let harness: Harness | undefined;
beforeEach(() => {
  walletDir = mkdtempSync(join(tmpdir(), "tapwire-atc-"));
});
afterEach(async () => {
  await harness?.close();
  harness = undefined;
  rmSync(walletDir, { recursive: true, force: true });
});

/** The phone `tapwire sim serve pn532 --wallet-dir` builds: its counter read from, and kept in, the wallet dir. */
function storedPhone(): HceWallet {
  return new HceWallet({ walletId: "w1", privateKey: walletKeys.privateKey, atcStart: readNextAtc(walletDir), onAtcUsed: (next) => writeNextAtc(walletDir, next) });
}

async function tap(phone: HceWallet): Promise<number> {
  harness!.chip.placeInField(phone);
  const credential = await new ReaderMode(harness!.pn532, { hubId: "h1", random: new SeededRandom(1), waitForCardMs: 500, apduTimeoutMs: 200 }).readCredential(payment);
  harness!.chip.removeFromField();
  return credential.atc;
}

describe("a virtual phone that keeps its ATC in its wallet dir", () => {
  it("goes on after a restart where it stopped, never reusing a counter", async () => {
    harness = await startedHarness();

    const phone = storedPhone();
    const beforeRestart = [await tap(phone), await tap(phone)];
    const afterRestart = await tap(storedPhone());

    expect(beforeRestart).toEqual([1, 2]);
    expect(afterRestart).toBe(3);
    expect(readNextAtc(walletDir)).toBe(4);
  });

  it("starts at 1 without a stored counter, and refuses a counter file it cannot read", async () => {
    const fresh = readNextAtc(walletDir);
    writeFileSync(join(walletDir, atcFileName), "twelve\n");

    expect(fresh).toBe(1);
    expect(await codeOf(async () => readNextAtc(walletDir))).toBe(ErrorCode.ConfigInvalid);
  });
});
