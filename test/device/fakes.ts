import { decodeBody } from "../../protocol/cbor.ts";
import { decodeSign1 } from "../../protocol/cose.ts";
import { openSealed, sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import {
  bodyHash,
  decisionSchema,
  protocolVersion,
  type Decision,
  type DecisionStatus,
  type HceCredential,
  paymentRequestSchema,
} from "../../protocol/messages.ts";
import { SeededRandom, VirtualClock } from "../../core/sources.ts";
import { HubJournal, type JournalLimits, type JournalRequest } from "../../device/journal/hub-journal.ts";
import { ClockWatch } from "../../device/link/clock-watch.ts";
import { Outbox } from "../../device/link/outbox.ts";
import { defaultResendConfig, type OutboxConfig } from "../../device/link/outbox-config.ts";
import { RequestSealer } from "../../device/link/sealer.ts";
import type { HubSigner, SettlementPort } from "../../device/ports.ts";
import { defaultTapTiming } from "../../device/tap/tap-config.ts";

/**
 * The settlement side of a hub, faked at the port: it records every byte the outbox publishes and lets the test
 * answer with decisions signed by a test service key, as the real link hands them over (verified, with their
 * bytes). Beside it, a rig of the real pieces every hub runs on: an in-memory journal, the sealer, the outbox.
 */

export const hubId = "hub-1";
export const merchantId = "m-1";
export const hubKeys = generateP256();
const serviceKeys = generateP256();
export const signer: HubSigner = { seal: (body) => sealMessage(body, hubKeys.privateKey) };

export const credential: HceCredential = {
  kind: "hce",
  walletId: "w-1",
  atc: 7,
  unpredictableNumber: new Uint8Array(8).fill(1),
  cryptogram: new Uint8Array(64).fill(2),
};

/** A request as the service reads it: the signed body and its hash. */
export interface Published {
  bytes: Buffer;
  body: Record<string, unknown>;
  hash: Uint8Array;
  /** When it was published, by the rig's clock. */
  atMs: number;
}

function readPublished(bytes: Buffer, atMs: number): Published {
  const { payload } = decodeSign1(bytes);
  return { bytes, body: decodeBody(payload) as Record<string, unknown>, hash: bodyHash(payload), atMs };
}

export class FakeSettlement implements SettlementPort {
  readonly published: Published[] = [];
  private readonly decisionListeners = new Set<(decision: Decision, bytes: Buffer) => void>();
  private readonly statusListeners = new Set<(online: boolean) => void>();

  constructor(
    private readonly clock: VirtualClock,
    private isOnline = true,
  ) {}

  get online(): boolean {
    return this.isOnline;
  }

  publish(payload: Buffer): Promise<void> {
    if (!this.isOnline) return Promise.reject(new TapwireError("link down", ErrorCode.Offline));
    this.published.push(readPublished(payload, this.clock.nowMs()));
    return Promise.resolve();
  }

  onDecision(listener: (decision: Decision, bytes: Buffer) => void): () => void {
    this.decisionListeners.add(listener);
    return () => this.decisionListeners.delete(listener);
  }

  onStatus(listener: (online: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  setOnline(online: boolean): void {
    this.isOnline = online;
    for (const listener of [...this.statusListeners]) listener(online);
  }

  get listenerCount(): number {
    return this.decisionListeners.size + this.statusListeners.size;
  }

  /** Published requests of one body type (payment_request, reversal, payment_status, offline_capture …). */
  ofType(type: string): Published[] {
    return this.published.filter((request) => request.body["type"] === type);
  }

  /** Every publish of the request `requestId` (resends included). */
  sendsOf(requestId: string): Published[] {
    return this.published.filter((request) => request.body["requestId"] === requestId);
  }

  /** The decision the service would sign for `request`, with `overrides` (a wrong hash, another hub, a skewed iat). */
  decisionFor(request: Published, status: DecisionStatus, code = 0, overrides: Partial<Decision> = {}): Decision {
    const nowMs = this.clock.nowMs();
    return {
      type: "decision",
      v: protocolVersion,
      requestId: String(request.body["requestId"] ?? request.body["offerId"]),
      requestType: String(request.body["type"]),
      requestHash: new Uint8Array(request.hash),
      principalKind: "hub",
      hubId: String(request.body["hubId"]),
      status,
      code,
      reason: status,
      iat: nowMs,
      exp: nowMs + 330_000,
      ...overrides,
    };
  }

  /** Answers `request` as the service would: signed with the service key, then verified as the link does. */
  answer(request: Published, status: DecisionStatus, code = 0, overrides: Partial<Decision> = {}): void {
    this.deliver(this.decisionFor(request, status, code, overrides));
  }

  deliver(decision: Decision): void {
    const bytes = sealMessage(decision, serviceKeys.privateKey);
    const verified = openSealed(bytes, serviceKeys.publicKey, decisionSchema).body;
    for (const listener of [...this.decisionListeners]) listener(verified, bytes);
  }
}

export interface RigOptions {
  online?: boolean;
  seed?: number;
  limits?: Partial<JournalLimits>;
  outbox?: Partial<OutboxConfig>;
}

/** The outbox's production configuration, with the tap hub's lifetimes (as TapHub builds it). */
export const outboxConfig: OutboxConfig = {
  ...defaultResendConfig,
  reversalTtlMs: defaultTapTiming.reversalTtlMs,
  requestTtlMs: defaultTapTiming.requestTtlMs,
};

/** A hub's sending half over the real journal, sealer and outbox; restart() is a reboot over the same journal. */
export class HubRig {
  readonly clock = new VirtualClock();
  readonly journal: HubJournal;
  readonly settlement: FakeSettlement;
  readonly random: SeededRandom;
  sealer!: RequestSealer;
  clockWatch!: ClockWatch;
  outbox!: Outbox;

  constructor(private readonly options: RigOptions = {}) {
    this.journal = HubJournal.open({ path: ":memory:", clock: this.clock, ...(options.limits ? { limits: options.limits } : {}) });
    this.settlement = new FakeSettlement(this.clock, options.online ?? true);
    this.random = new SeededRandom(options.seed ?? 42);
    this.build();
  }

  /** A power cut and a reboot: the outbox's memory is gone, the journal is not. The new outbox is not started. */
  restart(): void {
    this.outbox.stop();
    this.build();
  }

  private build(): void {
    const { journal, clock, random, settlement } = this;
    this.sealer = new RequestSealer({ journal, signer, clock, random, identity: { hubId, merchantId } });
    this.clockWatch = new ClockWatch(clock);
    this.outbox = new Outbox({
      hubId,
      journal,
      sealer: this.sealer,
      settlement,
      clock,
      timers: clock,
      random,
      clockWatch: this.clockWatch,
      config: { ...outboxConfig, ...this.options.outbox },
    });
  }
}

/** Journals a reader-mode payment with its sale, as the tap machine's sealPayment actor does. */
export function sealPayment(rig: HubRig, amountMinor = 1_000): JournalRequest {
  const saleId = rig.random.uuid();
  return rig.sealer.seal(
    paymentRequestSchema,
    { kind: "payment", saleId, sale: { saleId, mode: "reader", amountMinor, currency: "EUR" }, ttlMs: defaultTapTiming.requestTtlMs },
    { type: "payment_request", amountMinor, currency: "EUR", mode: "reader", payer: credential },
  );
}

/** Lets settled promises run without moving any clock. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
