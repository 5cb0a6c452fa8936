import type { KeyObject } from "node:crypto";
import { z } from "zod";
import type { Random } from "../core/sources.ts";
import { decodeBase45, encodeBase45 } from "./base45.ts";
import { decodeBody } from "./cbor.ts";
import { contract } from "./contract.ts";
import { decodeSign1 } from "./cose.ts";
import { openSealed, sealMessage } from "./envelope.ts";
import { ErrorCode, TapwireError, isTapwireError } from "./errors.ts";
import { idSchema } from "./ids.ts";
import { parseBody, protocolVersion } from "./messages.ts";

/**
 * The dynamic payment code a wallet shows on the phone's screen for the merchant to scan (Alipay's most common
 * in-store flow): a COSE_Sign1 by the wallet's key over who it is and a fresh code id, living a minute at most,
 * as text for a QR code: `TW1:` and the bytes in Base45 (RFC 9285), as EU health certificates put them behind
 * `HC1:`. It names no amount: the merchant's hub names that, the service checks the wallet's limits, and the
 * code id pays once.
 */
export const paymentCodePrefix = "TW1:";
/** Longest text a scanner may deliver for one code: a signed claim is under 300 bytes, 450 characters. */
export const paymentCodeTextMax = 600;

export const paymentCodeClaimSchema = z.strictObject({
  type: z.literal("payment_code"),
  v: z.literal(protocolVersion),
  walletId: idSchema,
  /** Random, one per code shown: the service accepts each once. */
  codeId: idSchema,
  iat: z.number().int().min(0),
  exp: z.number().int().min(0),
});
/** What a payment code's signature covers: the wallet, a one-time code id, and its lifetime. */
export type PaymentCodeClaim = z.infer<typeof paymentCodeClaimSchema>;

/** A fresh code for the phone to show. */
export function issuePaymentCode(input: { walletId: string; privateKey: KeyObject; nowMs: number; random: Random; lifetimeMs?: number }): {
  text: string;
  claim: PaymentCodeClaim;
} {
  const lifetimeMs = input.lifetimeMs ?? contract.paymentCodeLifetimeMsMax;
  const claim: PaymentCodeClaim = {
    type: "payment_code",
    v: protocolVersion,
    walletId: input.walletId,
    codeId: Buffer.from(input.random.bytes(16)).toString("hex"),
    iat: input.nowMs,
    exp: input.nowMs + lifetimeMs,
  };
  return { text: paymentCodePrefix + encodeBase45(sealMessage(claim, input.privateKey)), claim };
}

/**
 * What a hub can know of a scanned code without the wallet's key: that it is a tapwire code, well formed, and
 * which wallet it names (unverified; the service verifies). ScanInvalid otherwise.
 */
export function readPaymentCode(text: string): { code: Uint8Array<ArrayBuffer>; walletId: string } {
  if (text.length > paymentCodeTextMax) throw new TapwireError(`scanned text of ${text.length} characters is no payment code`, ErrorCode.ScanInvalid);
  if (!text.startsWith(paymentCodePrefix)) throw new TapwireError("scanned text is not a tapwire payment code", ErrorCode.ScanInvalid);
  const code = decodeBase45(text.slice(paymentCodePrefix.length));
  try {
    const claim = parseBody(paymentCodeClaimSchema, decodeBody(decodeSign1(code).payload));
    return { code, walletId: claim.walletId };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    throw new TapwireError(`scanned payment code unreadable: ${error.message}`, ErrorCode.ScanInvalid, undefined, { cause: error });
  }
}

/**
 * The service's check: signed by the wallet's key, naming that wallet, within its lifetime on the service's clock
 * (the phone's may run `skewMs` ahead), living no longer than the contract allows. PayerCredentialInvalid,
 * MessageExpired or MessageNotYetValid.
 */
export function verifyPaymentCode(code: Uint8Array, expected: { walletId: string; publicKey: KeyObject; nowMs: number; skewMs: number }): PaymentCodeClaim {
  let claim: PaymentCodeClaim;
  try {
    claim = openSealed(code, expected.publicKey, paymentCodeClaimSchema).body;
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    throw new TapwireError(`payment code rejected: ${error.message}`, ErrorCode.PayerCredentialInvalid, { walletId: expected.walletId }, { cause: error });
  }
  const context = { walletId: claim.walletId, codeId: claim.codeId };
  if (claim.walletId !== expected.walletId) throw new TapwireError(`payment code names wallet ${claim.walletId}`, ErrorCode.PayerCredentialInvalid, context);
  if (claim.exp - claim.iat > contract.paymentCodeLifetimeMsMax || claim.exp < claim.iat) {
    throw new TapwireError(`payment code lives ${claim.exp - claim.iat} ms`, ErrorCode.PayerCredentialInvalid, context);
  }
  if (claim.iat > expected.nowMs + expected.skewMs) throw new TapwireError("payment code issued in the future", ErrorCode.MessageNotYetValid, context);
  if (claim.exp < expected.nowMs) throw new TapwireError("payment code expired", ErrorCode.MessageExpired, context);
  return claim;
}
