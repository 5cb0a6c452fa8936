import { isTapwireError } from "../../protocol/errors.ts";
import type { VirtualClock } from "../../core/sources.ts";
import type { HubJournal, JournalRequest, NewSale, RequestKind, SealedEnvelope, StoredCapture } from "../../device/journal/hub-journal.ts";
import { credential } from "./fakes.ts";

/** Builders for journal tests: sales and envelopes whose bytes say which request and seq they carry. */

export const limitsOffline = { saleMaxMinor: 5_000, totalMaxMinor: 20_000, countMax: 10, ageMsMax: 3_600_000 };

export function newSale(saleId: string, amountMinor = 1_000): NewSale {
  return { saleId, mode: "reader", amountMinor, currency: "EUR" };
}

/** The bytes a request would be sent as: distinct per request and seq, `sizeBytes` long. */
export function envelopeBytes(requestId: string, seq: number, sizeBytes = 300): Buffer {
  const text = `${requestId}#${seq}|`;
  return Buffer.from(text.repeat(Math.ceil(sizeBytes / text.length)).slice(0, sizeBytes));
}

export function envelope(clock: VirtualClock, requestId: string, sizeBytes?: number): (seq: number) => SealedEnvelope {
  return (seq) => ({ payload: envelopeBytes(requestId, seq, sizeBytes), iatMs: clock.nowMs(), expMs: clock.nowMs() + 60_000 });
}

/** Journals a request of `kind` the way the sealer does (a payment opens its sale). */
export function seal(
  journal: HubJournal,
  clock: VirtualClock,
  kind: RequestKind,
  requestId: string,
  saleId: string,
  extra: { targetRequestId?: string; supersedes?: string; sizeBytes?: number; amountMinor?: number } = {},
): JournalRequest {
  const opensSale = kind === "payment" || kind === "offer";
  return journal.seal(
    {
      kind,
      saleId,
      requestId,
      ...(opensSale ? { sale: newSale(saleId, extra.amountMinor) } : {}),
      ...(kind === "offer" ? { seq: false } : {}),
      ...(extra.targetRequestId ? { targetRequestId: extra.targetRequestId } : {}),
      ...(extra.supersedes ? { supersedes: extra.supersedes } : {}),
    },
    envelope(clock, requestId, extra.sizeBytes),
  );
}

export function capture(clock: VirtualClock, position = 1, totalMinor = 1_000): StoredCapture {
  return { credential, capturedAtMs: clock.nowMs(), backlog: { position, totalMinor, oldestCapturedAtMs: clock.nowMs() }, limits: limitsOffline };
}

/** A decision's bytes as the journal keeps them (their content does not matter to the journal). */
export function decided(status: string, code = 0): { status: string; code: number; bytes: Buffer } {
  return { status, code, bytes: Buffer.from(`decision:${status}:${code}`) };
}

/** The TapwireError code `work` throws, undefined when it returns; anything else it throws fails the test. */
export function codeOf(work: () => unknown): number | undefined {
  try {
    work();
  } catch (error) {
    if (isTapwireError(error)) return error.code;
    throw error;
  }
  return undefined;
}
