import { assert } from "../../core/assert.ts";
import type { OfflineLimits } from "../../protocol/contract.ts";
import { decodeSign1 } from "../../protocol/cose.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { bodyHash, type Decision, type HceCredential } from "../../protocol/messages.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import type { HubJournal, JournalRequest, JournalSale, NewSale } from "../journal/hub-journal.ts";
import type { SettlementPort } from "../ports.ts";
import { classifyAnswer, saleOutcomeOf, type AnswerClass } from "./answer-class.ts";
import type { CrashPoint } from "../crash.ts";
import type { ClockWatch } from "./clock-watch.ts";
import { checkOfflineFloor } from "./offline-floor.ts";
import { resendDelayMs, type OutboxConfig } from "./outbox-config.ts";
import { WaiterTable } from "./waiter-table.ts";
import type { RequestSealer, ReversalReason } from "./sealer.ts";

const log = logger("tapwire:outbox");

/*
 * Longer than the house's ~300 lines on purpose: the outbox is the one owner of a hub's sending state (slots,
 * timers, waiters, the capture being forwarded), and every method keeps its invariants; its pure parts live beside
 * it (answer-class.ts, outbox-config.ts, waiter-table.ts, offline-floor.ts).
 */

export interface OutboxDeps {
  hubId: string;
  journal: HubJournal;
  sealer: RequestSealer;
  settlement: SettlementPort;
  clock: Clock;
  timers: Timers;
  random: Random;
  clockWatch: ClockWatch;
  config: OutboxConfig;
  /** Testing hook (crash.ts): called as a sale's payment is journaled, handed to the broker, decided, reversed. */
  crashPoint?: CrashPoint;
}

/** One decision about one request, and what it means (answer-class.ts). Retries never reach anyone. */
export interface Answer {
  requestId: string;
  decision: Decision;
  class: Exclude<AnswerClass, "retry">;
}

interface Slot {
  request: JournalRequest;
  /** SHA-256 of the signed body: a decision must carry it (offers excepted: the wallet's body is hashed there). */
  bodyHash: Uint8Array | undefined;
  attempts: number;
  held: boolean;
  timer: unknown;
}

/** Answers and sales kept for a late `answer()` or `saleOutcome()` call (the machine subscribes a tick late). */
const recentMax = 64;
/** Envelopes replaced in a row for one sale before the hub waits the longest backoff between them. */
const resealBackoffAttemptsMax = 16;

/**
 * The one owner of sending and resending for a hub (tap or glasses). Every request is already in the journal when
 * it gets here (the sealer puts it there); the outbox sends it, sends the SAME bytes again (on reconnect, and with
 * backoff while no decision comes), matches each decision to its request, and records in the journal, in one
 * transaction, the decision and what it means for the sale. It decides nothing a person sees; the machines ask it.
 *
 * Sales always end: a payment is answered (or refused unprocessed: not charged); a reversal is resent, and its
 * envelope replaced when it expires, until the service has undone the payment (or refused for good, which a person
 * must look at); a tag offer the hub lost track of is asked about (payment_status) and voided if unpaid; offline
 * captures are forwarded one at a time, oldest first, until each is settled.
 */
export class Outbox {
  private readonly slots = new Map<string, Slot>();
  private readonly answerWaiters = new WaiterTable<Answer>();
  private readonly saleWaiters = new WaiterTable<JournalSale>();
  /** Requests the service asked to retry later (Overloaded, storage): the hub shows "busy, retrying" for them. */
  private readonly retrying = new Set<string>();
  private readonly answerListeners = new Set<(answer: Answer) => void>();
  private readonly saleListeners = new Set<(sale: JournalSale) => void>();
  private readonly retryListeners = new Set<(requestId: string, retrying: boolean) => void>();
  private readonly recentAnswers = new Map<string, Answer>();
  private readonly resealAttempts = new Map<string, number>();
  /** Requests refused unprocessed whose new envelope is on its way: a duplicate of that refusal must not add one. */
  private readonly replacing = new Set<string>();
  private readonly unsubscribes: Array<() => void> = [];
  private forwarding: string | undefined;
  private started = false;

  constructor(private readonly deps: OutboxDeps) {
    const { config } = deps;
    for (const [key, value] of Object.entries(config)) assert(Number.isSafeInteger(value) && value > 0, `outbox ${key} must be a positive integer`);
  }

  /** Takes over every open request of the journal (a restart mid-sale), then sends whatever the link allows. */
  start(): void {
    assert(!this.started, "Outbox started twice");
    this.unsubscribes.push(
      this.deps.settlement.onStatus((online) => (online ? this.flush() : this.pauseTimers())),
      this.deps.settlement.onDecision((decision, bytes) => this.receive(decision, bytes)),
    );
    // Taken over before the outbox counts as started, so nothing goes out twice: flush() sends it all, in seq order.
    this.recover();
    this.started = true;
    if (this.deps.settlement.online) this.flush();
  }

  stop(): void {
    this.started = false;
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    this.pauseTimers();
    this.slots.clear();
    const stopped = () => new TapwireError("outbox stopped", ErrorCode.Cancelled);
    this.answerWaiters.rejectAll(stopped);
    this.saleWaiters.rejectAll(stopped);
    this.replacing.clear();
    this.retrying.clear();
  }

  /** Requests this outbox is sending (or holding for a reconnect). */
  get size(): number {
    return this.slots.size;
  }

  has(requestId: string): boolean {
    return this.slots.has(requestId);
  }

  /** Whether the service asked to retry this request later and the outbox is waiting to (busy, retrying). */
  isRetrying(requestId: string): boolean {
    return this.retrying.has(requestId);
  }

  /** Sends a journaled request and resolves with its first answer that is not a retry. */
  send(request: JournalRequest, signal?: AbortSignal): Promise<Answer> {
    const answer = this.answer(request.requestId, signal);
    this.track(request);
    return answer;
  }

  /** Tag mode: the hub never sends its offer, but the wallet's payment of it is answered to the hub too. */
  expect(offer: JournalRequest, signal?: AbortSignal): Promise<Answer> {
    assert(offer.kind === "offer", "expect() is for tag offers");
    return this.send(offer, signal);
  }

  /**
   * The next answer to `requestId` that is not a retry (at once if it came moments ago). A recent held answer is
   * one the caller already acted on: it waits for the answer that follows (else a caller waiting out a hold would
   * be handed the same hold again, forever).
   */
  answer(requestId: string, signal?: AbortSignal): Promise<Answer> {
    const recent = this.recentAnswers.get(requestId);
    if (recent && recent.class !== "held") return Promise.resolve(recent);
    return this.answerWaiters.wait(requestId, signal);
  }

  /** Resolves once the sale has an outcome (at once if it has one). */
  saleOutcome(saleId: string, signal?: AbortSignal): Promise<JournalSale> {
    const sale = this.deps.journal.sale(saleId);
    assert(sale !== undefined, `no sale ${saleId}`);
    if (sale.outcome !== "pending") return Promise.resolve(sale);
    return this.saleWaiters.wait(saleId, signal);
  }

  /**
   * Undoes a sale's payment (or offer): the reversal is journaled, superseding the payment, in one transaction,
   * and resent until the service has undone it. Its sale's outcome then says what happened.
   */
  reverse(saleId: string, paymentRequestId: string, reason: ReversalReason): JournalRequest {
    const target = this.deps.journal.findRequest(paymentRequestId);
    const supersedes = target?.state === "open" ? paymentRequestId : undefined;
    const reversal = this.deps.sealer.reversal(saleId, paymentRequestId, reason, this.deps.config.reversalTtlMs, supersedes);
    this.deps.crashPoint?.("reversing");
    if (supersedes) this.untrack(supersedes);
    this.track(reversal);
    log.info({ saleId, paymentRequestId, reason, requestId: reversal.requestId }, "reversal journaled");
    return reversal;
  }

  /**
   * Store and forward: approves a reader-mode sale while the link is down, within the floor limits (else
   * OfflineFloorExceeded), with the wallet's cryptogram kept in the journal until it is forwarded.
   */
  captureOffline(sale: NewSale, credential: HceCredential, limits: OfflineLimits): JournalSale {
    const nowMs = this.deps.clock.nowMs();
    const backlog = this.deps.journal.offlineBacklog();
    checkOfflineFloor(limits, backlog, sale.amountMinor, nowMs);
    const requestId = this.deps.random.uuid();
    const capture = this.deps.journal.storeCapture(sale, requestId, {
      credential,
      capturedAtMs: nowMs,
      backlog: {
        position: backlog.count + 1,
        totalMinor: backlog.totalMinor + sale.amountMinor,
        oldestCapturedAtMs: backlog.oldestCapturedAtMs ?? nowMs,
      },
      limits,
    });
    this.track(capture);
    const stored = this.deps.journal.sale(sale.saleId);
    assert(stored !== undefined, "stored capture without its sale");
    return stored;
  }

  /** Every answer matched to a journaled request (glasses: the end of a human review). */
  onAnswer(listener: (answer: Answer) => void): () => void {
    this.answerListeners.add(listener);
    return () => this.answerListeners.delete(listener);
  }

  /** Every change of a request's "waiting to retry" state (the service said Overloaded, then answered it). */
  onRetrying(listener: (requestId: string, retrying: boolean) => void): () => void {
    this.retryListeners.add(listener);
    return () => this.retryListeners.delete(listener);
  }

  /** Every sale the moment its outcome is known (also offline captures settled by the service later). */
  onSale(listener: (sale: JournalSale) => void): () => void {
    this.saleListeners.add(listener);
    return () => this.saleListeners.delete(listener);
  }

  private recover(): void {
    for (const request of this.deps.journal.openRequests()) {
      if (request.kind === "offer") {
        // The offer's sale was interrupted: a phone may have paid it. Ask; an unpaid one is voided afterwards.
        const query = this.deps.sealer.statusQuery(request.saleId, request.requestId, this.deps.config.requestTtlMs);
        log.warn({ saleId: request.saleId, offerId: request.requestId }, "tag offer interrupted; asking the service what became of it");
        this.track(query);
      } else {
        if (request.kind !== "capture") log.warn({ saleId: request.saleId, requestId: request.requestId, kind: request.kind }, "resuming an interrupted request");
        this.track(request);
      }
    }
  }

  private track(request: JournalRequest): void {
    if (this.slots.has(request.requestId)) return;
    const hashable = request.payload !== undefined && request.kind !== "offer";
    const slot: Slot = { request, bodyHash: hashable ? bodyHash(decodeSign1(request.payload!).payload) : undefined, attempts: 0, held: false, timer: undefined };
    this.slots.set(request.requestId, slot);
    if (request.kind === "payment" || request.kind === "offer") this.deps.crashPoint?.("sealed");
    if (!this.started || !this.deps.settlement.online) return;
    if (request.kind === "capture") this.forwardNext();
    else this.transmit(slot);
  }

  private untrack(requestId: string): void {
    const slot = this.slots.get(requestId);
    if (slot === undefined) return;
    this.deps.timers.clearTimeout(slot.timer);
    this.slots.delete(requestId);
    this.setRetrying(requestId, false);
    if (this.forwarding === requestId) this.forwarding = undefined;
  }

  /** The link is up: every open request goes out again, in seq order, then the next capture. */
  private flush(): void {
    const ordered = [...this.slots.values()].filter((slot) => slot.request.kind !== "capture").sort(bySeq);
    for (const slot of ordered) this.transmit(slot);
    if (this.forwarding !== undefined) {
      const forwarding = this.slots.get(this.forwarding);
      if (forwarding) this.transmit(forwarding);
    } else {
      this.forwardNext();
    }
  }

  private pauseTimers(): void {
    for (const slot of this.slots.values()) {
      this.deps.timers.clearTimeout(slot.timer);
      slot.timer = undefined;
    }
  }

  private transmit(slot: Slot): void {
    this.deps.timers.clearTimeout(slot.timer);
    slot.timer = undefined;
    const { payload, kind, requestId } = slot.request;
    if (kind === "offer" || payload === undefined || !this.deps.settlement.online) return;
    slot.attempts += 1;
    this.deps.settlement.publish(payload).then(
      () => {
        if (kind === "payment") this.deps.crashPoint?.("sent");
      },
      (error: unknown) => {
        if (isTapwireError(error, ErrorCode.Offline)) return;
        log.error({ err: error, requestId }, "publish failed; the request stays in the journal and goes again");
      },
    );
    const delayMs = slot.held ? this.deps.config.heldResendMs : resendDelayMs(this.deps.config, slot.attempts, this.deps.random);
    slot.timer = this.deps.timers.setTimeout(() => {
      slot.timer = undefined;
      if (this.slots.get(requestId) === slot && this.deps.settlement.online) this.transmit(slot);
    }, delayMs);
  }

  /** Offline captures go one at a time, oldest first: each gets its envelope (and seq) as it leaves. */
  private forwardNext(): void {
    if (this.forwarding !== undefined || !this.deps.settlement.online) return;
    const next = [...this.slots.values()].find((slot) => slot.request.kind === "capture");
    if (next === undefined) return;
    this.forwarding = next.request.requestId;
    if (next.request.payload === undefined) this.reseal(next);
    else this.transmit(next);
  }

  private reseal(slot: Slot): void {
    slot.request = this.deps.sealer.forward(slot.request, this.deps.config.requestTtlMs);
    slot.bodyHash = bodyHash(decodeSign1(slot.request.payload!).payload);
    slot.attempts = 0;
    this.transmit(slot);
  }

  private receive(decision: Decision, bytes: Buffer): void {
    if (decision.hubId !== this.deps.hubId) {
      log.warn({ requestId: decision.requestId, hubId: decision.hubId }, "decision for another hub ignored");
      return;
    }
    const slot = this.slots.get(decision.requestId);
    const request = slot?.request ?? this.deps.journal.findRequest(decision.requestId);
    if (request === undefined || request.state === "decided") {
      log.debug({ requestId: decision.requestId, status: decision.status }, "decision for no open request; ignored");
      return;
    }
    const expectedHash = slot?.bodyHash ?? (request.payload && request.kind !== "offer" ? bodyHash(decodeSign1(request.payload).payload) : undefined);
    if (expectedHash && Buffer.compare(expectedHash, decision.requestHash) !== 0) {
      log.error({ requestId: decision.requestId }, "decision answers other bytes than the hub sent; ignored");
      return;
    }
    this.deps.clockWatch.observe(decision, request.kind === "offer" ? undefined : request.iatMs);
    const answerClass = classifyAnswer(decision);
    if (answerClass === "retry") {
      if (slot) this.retryLater(slot, decision);
      return;
    }
    this.setRetrying(request.requestId, false);
    if (answerClass === "held") {
      if (slot) {
        slot.held = true;
        this.rearm(slot, this.deps.config.heldResendMs);
      }
    } else if (answerClass === "not_processed") {
      this.notProcessed(request, decision, bytes);
    } else {
      this.final(request, decision, bytes);
    }
    this.deliver({ requestId: request.requestId, decision, class: answerClass });
  }

  /** Overloaded, storage trouble: the same bytes go again after the service's retry-after (or the backoff), jittered. */
  private retryLater(slot: Slot, decision: Decision): void {
    const delayMs = resendDelayMs(this.deps.config, slot.attempts, this.deps.random, decision.retryAfterMs);
    log.info({ requestId: decision.requestId, code: decision.code, delayMs }, "service asks to retry later");
    this.setRetrying(slot.request.requestId, true);
    this.rearm(slot, delayMs);
  }

  private setRetrying(requestId: string, retrying: boolean): void {
    if (this.retrying.has(requestId) === retrying) return;
    if (retrying) this.retrying.add(requestId);
    else this.retrying.delete(requestId);
    for (const listener of [...this.retryListeners]) listener(requestId, retrying);
  }

  private rearm(slot: Slot, delayMs: number): void {
    this.deps.timers.clearTimeout(slot.timer);
    slot.timer = this.deps.timers.setTimeout(() => {
      slot.timer = undefined;
      if (this.slots.get(slot.request.requestId) === slot && this.deps.settlement.online) this.transmit(slot);
    }, delayMs);
  }

  /** A stored answer: record it, settle the sale when it decides it, and take the next step if there is one. */
  private final(request: JournalRequest, decision: Decision, bytes: Buffer): void {
    const decides = request.state === "open" ? saleOutcomeOf(request, decision) : undefined;
    this.deps.journal.recordDecision(request.requestId, { status: decision.status, code: decision.code, bytes }, decides);
    if (decides && (request.kind === "payment" || request.kind === "offer")) this.deps.crashPoint?.("decided");
    this.untrack(request.requestId);
    this.resealAttempts.delete(request.saleId);
    if (decides) this.announceSale(request.saleId);
    if (request.kind === "capture") {
      if (decision.status !== "approved") {
        log.error({ requestId: request.requestId, code: decision.code }, "offline capture declined by the service: the merchant's loss");
      }
      this.forwardNext();
    }
    if (request.kind === "status" && request.state === "open" && decides === undefined) {
      // The service has no payment under the offer: void it, so no phone can pay it any more.
      this.reverse(request.saleId, request.targetRequestId!, "timeout");
    }
  }

  /** Refused unprocessed for good: a payment is then not charged; anything that must still arrive gets a new envelope. */
  private notProcessed(request: JournalRequest, decision: Decision, bytes: Buffer): void {
    if (request.kind === "payment" || request.kind === "step_up" || request.state !== "open") {
      const decides = request.kind === "payment" && request.state === "open" ? { outcome: "declined" as const, code: decision.code } : undefined;
      this.deps.journal.recordDecision(request.requestId, { status: decision.status, code: decision.code, bytes }, decides);
      this.untrack(request.requestId);
      if (decides) this.announceSale(request.saleId);
      return;
    }
    if (this.replacing.has(request.requestId)) return;
    this.replacing.add(request.requestId);
    const attempts = (this.resealAttempts.get(request.saleId) ?? 0) + 1;
    this.resealAttempts.set(request.saleId, attempts);
    const delayMs = resendDelayMs(this.deps.config, Math.min(attempts, resealBackoffAttemptsMax), this.deps.random) - this.deps.config.attemptTimeoutMs;
    log.warn({ requestId: request.requestId, kind: request.kind, code: decision.code, delayMs }, "envelope refused unprocessed; a new one follows");
    const slot = this.slots.get(request.requestId);
    if (slot) this.deps.timers.clearTimeout(slot.timer);
    const replace = () => {
      this.replacing.delete(request.requestId);
      if (!this.started) return;
      if (request.kind === "capture") {
        const current = this.slots.get(request.requestId);
        if (current) this.reseal(current);
      } else {
        this.untrack(request.requestId);
        const renewed =
          request.kind === "reversal"
            ? this.deps.sealer.reversal(request.saleId, request.targetRequestId!, (request.reason ?? "timeout") as ReversalReason, this.deps.config.reversalTtlMs, request.requestId)
            : this.deps.sealer.statusQuery(request.saleId, request.targetRequestId!, this.deps.config.requestTtlMs);
        if (request.kind === "status") this.deps.journal.recordDecision(request.requestId, { status: decision.status, code: decision.code, bytes });
        this.track(renewed);
      }
    };
    if (delayMs <= 0) replace();
    else this.deps.timers.setTimeout(replace, delayMs);
  }

  private announceSale(saleId: string): void {
    const sale = this.deps.journal.sale(saleId);
    assert(sale !== undefined, `no sale ${saleId}`);
    log.info({ saleId, outcome: sale.outcome, code: sale.code }, "sale settled");
    this.saleWaiters.resolve(saleId, sale);
    for (const listener of [...this.saleListeners]) listener(sale);
  }

  private deliver(answer: Answer): void {
    this.recentAnswers.set(answer.requestId, answer);
    if (this.recentAnswers.size > recentMax) this.recentAnswers.delete(this.recentAnswers.keys().next().value!);
    this.answerWaiters.resolve(answer.requestId, answer);
    for (const listener of [...this.answerListeners]) listener(answer);
  }
}

function bySeq(a: Slot, b: Slot): number {
  return (a.request.seq ?? Number.MAX_SAFE_INTEGER) - (b.request.seq ?? Number.MAX_SAFE_INTEGER);
}
