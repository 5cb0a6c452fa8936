import { readFileSync } from "node:fs";
import { join } from "node:path";
import { systemClock, systemRandom } from "../core/sources.ts";
import { contract } from "../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { importPrivatePem } from "../protocol/keys.ts";
import { issuePaymentCode } from "../protocol/payment-code.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

export const walletCodeUsage = `tapwire wallet code --wallet-dir DIR --wallet-id W [--lifetime-ms N]
  Prints a fresh payment code of the wallet (signed with DIR/key.pem, as \`tapwire wallet enroll --out DIR\` wrote
  it): the TW1: text a phone shows as a QR code for the counter's scanner. It pays one sale, within its lifetime
  (default and most ${contract.paymentCodeLifetimeMsMax / 1000} s).
  example: tapwire wallet code --wallet-dir .tapwire/wallets/w1 --wallet-id w1`;

export async function walletCodeCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { "wallet-dir": { type: "string" }, "wallet-id": { type: "string" }, "lifetime-ms": { type: "string" } });
  const dir = requireFlag(values["wallet-dir"], "wallet-dir");
  const walletId = requireFlag(values["wallet-id"], "wallet-id");
  const lifetimeMs = integerFlag(values["lifetime-ms"], "lifetime-ms", 1_000, contract.paymentCodeLifetimeMsMax, contract.paymentCodeLifetimeMsMax);
  let keyPem: string;
  try {
    keyPem = readFileSync(join(dir, "key.pem"), "utf8");
  } catch (error) {
    throw new TapwireError(`--wallet-dir: cannot read ${join(dir, "key.pem")}: ${(error as Error).message}`, ErrorCode.ConfigInvalid);
  }
  const { text } = issuePaymentCode({ walletId, privateKey: importPrivatePem(keyPem), nowMs: systemClock.nowMs(), random: systemRandom, lifetimeMs });
  process.stdout.write(`${text}\n`);
  return 0;
}
