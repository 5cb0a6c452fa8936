import type { Random } from "../../core/sources.ts";
import { encodeBody, structCodec } from "../../protocol/cbor.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { bodyHash } from "../../protocol/messages.ts";
import { sealedHeader, type SealedRequest } from "../evidence/sealed-form.ts";
import { openBox, sealBox, type PersonalKeys } from "./personal-keys.ts";
import { retentionDays, type RetentionKind } from "./retention.ts";

/**
 * Crypto-shredding of personal fields in the evidence chain.
 *
 * A signed request cannot lose a field without losing its signature, so a request that carries personal fields
 * (free context such as a glasses utterance or an agent's notes, an agent's cart, a glasses assertion naming its
 * owner, a dispute's reason) is stored whole, sealed (the form: broker/evidence/sealed-form.ts): its COSE_Sign1 bytes under
 * AES-256-GCM with the person's data key of that period (personal-keys.ts), beside the SHA-256 of the signed
 * payload (what the decision's requestHash names) and the request's non-personal fields (type, ids, merchant,
 * amount, currency, mode) that the dashboard and merchant events read. The chain's bytesHash covers these stored
 * bytes, never the plaintext, so destroying the key (erase, retention) leaves every row hash, every decision
 * signature and the decision-to-request link intact: `tapwire evidence verify` passes before and after. Rows
 * stored before sealing existed are plain COSE_Sign1 and verify as they always did; being append-only, they stay
 * readable after an erase (export lists them), and only rows sealed from then on can be shredded.
 */

/** Request body fields that name no one: the ones kept readable beside the sealed request. */
const clearFields = ["type", "v", "hubId", "agentId", "requestId", "merchantId", "amountMinor", "currency", "mode", "category", "paymentRequestId", "paymentId"] as const;

/** Whether a request body holds personal fields (so its evidence row is sealed); a dispute's reason is the person's own words. */
export function holdsPersonalFields(body: Record<string, unknown>): boolean {
  const payer = body["payer"] as { kind?: unknown } | undefined;
  return body["context"] !== undefined || body["cart"] !== undefined || payer?.kind === "glasses" || body["type"] === "dispute_open";
}

/** The request's COSE_Sign1 bytes (`payload` its signed payload, `body` that decoded) sealed under `person`'s current evidence key. */
export function sealRequest(
  request: { bytes: Uint8Array; payload: Uint8Array; body: Record<string, unknown> },
  person: string,
  keys: PersonalKeys,
  random: Random,
  nowMs: number,
): Uint8Array {
  const { bytes, payload, body } = request;
  const { ref, key } = keys.current(person, "evidence_personal", nowMs);
  const clear = encodeBody(Object.fromEntries(clearFields.filter((f) => body[f] !== undefined).map((f) => [f, body[f]])));
  const header = sealedHeader({ ...ref, requestHash: bodyHash(payload), clear: new Uint8Array(clear) });
  const box = sealBox(key, bytes, structCodec.encode(header), random);
  return new Uint8Array(structCodec.encode([...header, box]));
}

/** The original COSE_Sign1 bytes; PersonalDataShredded once the person's key for it is destroyed. */
export function openSealedRequest(sealed: SealedRequest, keys: PersonalKeys): Uint8Array {
  if (!(sealed.kind in retentionDays)) throw new TapwireError(`sealed under an unknown key kind ${sealed.kind}`, ErrorCode.PersonalDataShredded, { person: sealed.person });
  const key = keys.get({ person: sealed.person, kind: sealed.kind as RetentionKind, periodStartMs: sealed.periodStartMs });
  return openBox(key, sealed.box, structCodec.encode(sealedHeader(sealed)));
}
