import {
  createOperatorCa,
  issueClientIdentity,
  issueServerCert,
  randomSerialHex,
  validityFrom,
  type CertifiedKey,
} from "../../broker/pki/certificates.ts";
import type { KeyObject } from "node:crypto";
import { sealMessage } from "../../protocol/envelope.ts";
import { protocolVersion, type Decision } from "../../protocol/messages.ts";
import type { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { systemClock, systemRandom } from "../../core/sources.ts";
import type { Principal } from "../../protocol/topics.ts";

const dayMs = 24 * 60 * 60 * 1000;

/** One operator CA with a server certificate for 127.0.0.1 and identities issued on demand. */
export interface TestPki {
  ca: CertifiedKey;
  server: CertifiedKey;
  identity(principal: Principal): Promise<{ caPem: string; certPem: string; keyPem: string }>;
}

export async function createTestPki(commonName = "tapwire test CA"): Promise<TestPki> {
  const ca = await createOperatorCa({ commonName, serialHex: randomSerialHex(systemRandom), ...validityFrom(systemClock, dayMs) });
  const server = await issueServerCert(ca, { serialHex: randomSerialHex(systemRandom), ...validityFrom(systemClock, dayMs) });
  return {
    ca,
    server,
    async identity(principal) {
      const issued = await issueClientIdentity(ca, {
        principal,
        serialHex: randomSerialHex(systemRandom),
        ...validityFrom(systemClock, dayMs),
      });
      return { caPem: ca.certPem, ...issued };
    },
  };
}

/** Collects the broker's refusals and lets a test wait for the first one with a given code. */
export class RefusalLog {
  readonly refusals: TapwireError[] = [];
  private readonly waiters: Array<{ code: ErrorCode; resolve: (refusal: TapwireError) => void }> = [];

  readonly record = (refusal: TapwireError): void => {
    this.refusals.push(refusal);
    for (const waiter of this.waiters.filter((w) => w.code === refusal.code)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(refusal);
    }
  };

  next(code: ErrorCode, timeoutMs = 3_000): Promise<TapwireError> {
    const seen = this.refusals.find((refusal) => refusal.code === code);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no refusal with code ${code} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ code, resolve: (refusal) => (clearTimeout(timer), resolve(refusal)) });
    });
  }

  codes(): ErrorCode[] {
    return this.refusals.map((refusal) => refusal.code);
  }
}

/** Resolves when `predicate` holds, polling every few ms; rejects after timeoutMs. */
export async function eventually(predicate: () => boolean, timeoutMs = 3_000): Promise<void> {
  const stepMs = 5;
  for (let waitedMs = 0; waitedMs <= timeoutMs; waitedMs += stepMs) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** A signed approval as the settlement service would send it. */
export function sealedDecision(requestId: string, hubId: string, signingKey: KeyObject, nowMs = Date.now()): Buffer {
  const decision: Decision = {
    type: "decision",
    v: protocolVersion,
    requestId,
    requestType: "payment_request",
    requestHash: new Uint8Array(32),
    principalKind: "hub",
    hubId,
    status: "approved",
    code: 0,
    reason: "ok",
    iat: nowMs,
    exp: nowMs + 60_000,
  };
  return sealMessage(decision, signingKey);
}
