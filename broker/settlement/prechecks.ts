import type { KeyObject } from "node:crypto";
import { decodeBody } from "../../protocol/cbor.ts";
import { decodeSign1, verifySign1, type Sign1Parts } from "../../protocol/cose.ts";
import { TapwireError, isTapwireError, type ErrorCode } from "../../protocol/errors.ts";
import { verifyCryptogram, type CryptogramInput } from "../../protocol/payer.ts";
import type { Inbound } from "../decisions/verdicts.ts";
import { UnverifiedReading } from "../decisions/unverified-reading.ts";
import type { PublicKeyCache } from "../registry/public-keys.ts";
import type { Registry } from "../registry/registry.ts";
import { pooledCopy, sameBytes } from "../../protocol/bytes.ts";

/**
 * The pure signature checks of a hub request, done ahead of the drain loop on a worker thread (verify-pool.ts)
 * so the main thread, which owns the SQLite transaction, spends its time on state.
 *
 * A precheck is only a cache of deterministic functions: the outcome of `verifySign1` for these exact bytes
 * and this exact hub key, and of `verifyCryptogram` for this exact input, cryptogram and wallet key. The
 * main thread still runs every step in its usual order and asks the cache at the point where it would verify;
 * when the bytes or the key differ from what the worker saw (a key looked up again, a body that does not
 * match), it verifies inline. So a decision never depends on whether or when a worker answered.
 */
export interface PrecheckJob {
  /** A private copy of the COSE_Sign1 bytes as received. */
  bytes: Uint8Array;
  hubId: string;
  hubKeyPem: string;
  /** Present when the unverified body names an enrolled wallet as an `hce` payer. */
  payer?: { walletId: string; walletKeyPem: string };
}

/** What a check threw, so the main thread throws the same; undefined when it threw anything else. */
export type CheckOutcome = { ok: true } | { ok: false; code: ErrorCode; message: string; context?: Record<string, unknown> };

export interface CryptogramVerdict {
  input: CryptogramInput;
  cryptogram: Uint8Array;
  outcome: CheckOutcome;
}

export interface PrecheckResult {
  /**
   * verifySign1(decodeSign1(bytes), hub key); absent when the envelope does not decode or the key does not
   * import. (Admission's readEnvelope adds only the size check, which it makes before asking for this.)
   */
  envelope?: CheckOutcome;
  payer?: CryptogramVerdict;
}

/** Where admission and the hce verifier check signatures: inline, or answered from a precheck. */
export interface SignatureChecks {
  /** verifySign1(parts, key): `parts` is readEnvelope(bytes), `keyPem` the PEM `key` was imported from. */
  verifyEnvelope(bytes: Uint8Array, parts: Sign1Parts, key: KeyObject, keyPem: string): Uint8Array;
  verifyCryptogram(input: CryptogramInput, cryptogram: Uint8Array, key: KeyObject, keyPem: string): void;
}

export const inlineChecks: SignatureChecks = {
  verifyEnvelope: (_bytes, parts, key) => verifySign1(parts, key),
  verifyCryptogram: (input, cryptogram, key) => verifyCryptogram(input, cryptogram, key),
};


function sameCryptogramInput(a: CryptogramInput, b: CryptogramInput): boolean {
  return (
    a.walletId === b.walletId &&
    a.hubId === b.hubId &&
    a.amountMinor === b.amountMinor &&
    a.currency === b.currency &&
    a.atc === b.atc &&
    sameBytes(a.unpredictableNumber, b.unpredictableNumber)
  );
}

/** Returns normally or throws exactly what the precheck saw thrown. */
function replay(outcome: CheckOutcome): void {
  if (!outcome.ok) throw new TapwireError(outcome.message, outcome.code, outcome.context);
}

/** A worker's answer for one job, consulted by admission and the hce verifier. */
export class Prechecked implements SignatureChecks {
  constructor(
    private readonly job: PrecheckJob,
    private readonly result: PrecheckResult,
  ) {}

  verifyEnvelope(bytes: Uint8Array, parts: Sign1Parts, key: KeyObject, keyPem: string): Uint8Array {
    const outcome = this.result.envelope;
    if (outcome === undefined || keyPem !== this.job.hubKeyPem || !sameBytes(bytes, this.job.bytes)) return verifySign1(parts, key);
    replay(outcome);
    return parts.payload;
  }

  verifyCryptogram(input: CryptogramInput, cryptogram: Uint8Array, key: KeyObject, keyPem: string): void {
    const verdict = this.result.payer;
    if (
      verdict === undefined ||
      keyPem !== this.job.payer?.walletKeyPem ||
      !sameCryptogramInput(input, verdict.input) ||
      !sameBytes(cryptogram, verdict.cryptogram)
    ) {
      verifyCryptogram(input, cryptogram, key);
      return;
    }
    replay(verdict.outcome);
  }
}

function field(value: unknown, name: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/** Hub and wallet PEMs the main thread remembers for building jobs. */
export const jobKeysCachedMax = 10_000;

/**
 * Main thread, when a message arrives: what a worker needs to check it. Only hub requests whose envelope
 * decodes are worth a job; everything else is checked inline, as before. Enrolled keys never change, and a
 * PEM remembered here is only a guess anyway: a verdict is used only for the PEM admission looks up itself.
 */
export class PrecheckJobs {
  private readonly pems = new Map<string, string>();

  constructor(private readonly registry: Registry) {}

  /** `reading` is the message's one decoding on the main thread, shared with the provider stage and admission. */
  jobFor(inbound: Inbound, reading = new UnverifiedReading(inbound.payload)): PrecheckJob | undefined {
    if (inbound.kind !== "hub") return undefined;
    try {
      reading.envelope();
    } catch {
      return undefined;
    }
    const hubKeyPem = this.pemOf("hub", inbound.id);
    if (hubKeyPem === undefined) return undefined;
    const job: PrecheckJob = { bytes: pooledCopy(inbound.payload), hubId: inbound.id, hubKeyPem };
    let payer: unknown;
    try {
      payer = field(reading.body(), "payer");
    } catch {
      return job;
    }
    const walletId = field(payer, "walletId");
    if (field(payer, "kind") !== "hce" || typeof walletId !== "string") return job;
    const walletKeyPem = this.pemOf("wallet", walletId);
    return walletKeyPem === undefined ? job : { ...job, payer: { walletId, walletKeyPem } };
  }

  private pemOf(kind: "hub" | "wallet", id: string): string | undefined {
    const name = `${kind}/${id}`;
    let pem = this.pems.get(name);
    if (pem === undefined) {
      pem = (kind === "hub" ? this.registry.findHub(id) : this.registry.findWallet(id))?.publicKeyPem;
      if (pem === undefined) return undefined;
      if (this.pems.size >= jobKeysCachedMax) this.pems.clear();
      this.pems.set(name, pem);
    }
    return pem;
  }
}

function outcomeOf(check: () => void): CheckOutcome | undefined {
  try {
    check();
    return { ok: true };
  } catch (error) {
    if (!isTapwireError(error)) return undefined;
    return { ok: false, code: error.code, message: error.message, ...(error.context ? { context: error.context } : {}) };
  }
}

/** A key that does not import leaves its check to the main thread, which refuses it there as it always did. */
function keyOf(keys: PublicKeyCache, pem: string): KeyObject | undefined {
  try {
    return keys.get(pem);
  } catch {
    return undefined;
  }
}

/**
 * Worker thread: the checks admission and the hce verifier would make. The cryptogram is checked on the
 * body's fields as decoded, without the schema: the main thread uses the verdict only if its validated
 * request has exactly these values (Prechecked.verifyCryptogram), and verifies inline otherwise.
 */
export function runPrecheck(job: PrecheckJob, keys: PublicKeyCache): PrecheckResult {
  let parts: Sign1Parts;
  try {
    parts = decodeSign1(job.bytes);
  } catch {
    return {};
  }
  const hubKey = keyOf(keys, job.hubKeyPem);
  if (hubKey === undefined) return {};
  const envelope = outcomeOf(() => verifySign1(parts, hubKey));
  if (envelope === undefined) return {};
  if (!envelope.ok || job.payer === undefined) return { envelope };
  const payer = hcePayerOf(parts.payload, job.payer.walletId, job.hubId);
  const walletKey = keyOf(keys, job.payer.walletKeyPem);
  if (payer === undefined || walletKey === undefined) return { envelope };
  const outcome = outcomeOf(() => verifyCryptogram(payer.input, payer.cryptogram, walletKey));
  return outcome === undefined ? { envelope } : { envelope, payer: { ...payer, outcome } };
}

/** Hub requests whose `payer` is a cryptogram over the body's own amount and currency. */
const cryptogramBodyTypes: ReadonlySet<unknown> = new Set(["payment_request", "offline_capture"]);

/** The cryptogram input a payment or offline capture body carries, if its fields have the types the schema demands. */
function hcePayerOf(payload: Uint8Array, walletId: string, hubId: string): Omit<CryptogramVerdict, "outcome"> | undefined {
  let body: unknown;
  try {
    body = decodeBody(payload);
  } catch {
    return undefined;
  }
  const payer = field(body, "payer");
  const amountMinor = field(body, "amountMinor");
  const currency = field(body, "currency");
  const atc = field(payer, "atc");
  const unpredictableNumber = field(payer, "unpredictableNumber");
  const cryptogram = field(payer, "cryptogram");
  if (
    !cryptogramBodyTypes.has(field(body, "type")) ||
    field(payer, "kind") !== "hce" ||
    field(payer, "walletId") !== walletId ||
    typeof amountMinor !== "number" ||
    typeof currency !== "string" ||
    typeof atc !== "number" ||
    !(unpredictableNumber instanceof Uint8Array) ||
    !(cryptogram instanceof Uint8Array)
  ) {
    return undefined;
  }
  return { input: { walletId, hubId, amountMinor, currency, unpredictableNumber, atc }, cryptogram };
}
