import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import type { Decision } from "../../protocol/messages.ts";
import { systemRandom, type Random } from "../../core/sources.ts";
import type { DecisionReply } from "../../firmware-bridge/mqtt/hub-link.ts";
import type { SignedRequest } from "./request-signer.ts";
import { sameBytes } from "../../protocol/bytes.ts";

/** What the client sends through: HubLink fits it. */
export interface DecisionTransport {
  request(payload: Buffer, requestId: string, timeoutMs: number): Promise<DecisionReply>;
}

export interface SimHubClientOptions {
  transport: DecisionTransport;
  /** Requests sent and not yet answered. Default 8. */
  inFlightMax?: number;
  /** Requests submitted and not yet decided (waiting + in flight); beyond it submit fails with OutboxFull. Default 1 024. */
  outboxMax?: number;
  /** How long one send waits for its decision. Default 5 000 ms. */
  decisionTimeoutMs?: number;
  /** Sends of one request before it fails with the last send's error. Default 20. */
  attemptsMax?: number;
  /** Backoff after a failed send, doubling with each failure in a row, ±25 % jitter. Defaults 50 and 2 000 ms. */
  retryDelayMsMin?: number;
  retryDelayMsMax?: number;
  random?: Random;
}

export interface Outcome {
  requestId: string;
  seq: number;
  decision: Decision;
  /** The signed decision exactly as received. */
  decisionBytes: Buffer;
  /** Sends it took; above 1 means the same bytes went out again after a timeout or an outage. */
  attempts: number;
}

export interface SimHubClientStats {
  sent: number;
  retried: number;
  decided: number;
  failed: number;
}

interface Entry {
  order: number;
  request: SignedRequest<{ requestId: string; seq: number }>;
  attempts: number;
  resolve: (outcome: Outcome) => void;
  reject: (error: TapwireError) => void;
}

/** Failures after which the same bytes may safely go out again: the request may or may not have arrived. */
const retryableCodes: ReadonlySet<number> = new Set([ErrorCode.DecisionTimeout, ErrorCode.Offline, ErrorCode.InflightFull]);
/** Dequeued slots kept before the fresh queue is compacted. */
const freshCompactMin = 1_024;
/** Refusals the service does not record, so the same bytes may be sent again later. */
const retryableDeclines: ReadonlySet<number> = new Set([ErrorCode.Overloaded]);

/**
 * A hub's request pipeline, as a device's outbox would run it: at most inFlightMax requests on the wire, sent in
 * submission (seq) order, each retried with exactly the bytes it was signed as until a decision arrives. After a
 * failed send nothing new goes out until every request on the wire has settled and the backoff has passed; then
 * the oldest undecided request goes first, so the service sees seqs in order again after an outage.
 */
export class SimHubClient {
  /** Requests never sent, oldest first; `freshHead` is the next one (a head index keeps dequeuing O(1)). */
  private fresh: Entry[] = [];
  private freshHead = 0;
  /** Requests whose send failed, oldest first: all older than any fresh one, so they go out first. */
  private readonly retrying: Entry[] = [];
  private readonly onWire = new Set<Entry>();
  private readonly random: Random;
  private readonly inFlightMax: number;
  private readonly outboxMax: number;
  private readonly decisionTimeoutMs: number;
  private readonly attemptsMax: number;
  private readonly retryDelayMsMin: number;
  private readonly retryDelayMsMax: number;
  private submitted = 0;
  private failuresInRow = 0;
  private recovering = false;
  private holdTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly counts: SimHubClientStats = { sent: 0, retried: 0, decided: 0, failed: 0 };

  constructor(private readonly options: SimHubClientOptions) {
    this.inFlightMax = positive(options.inFlightMax ?? 8, "inFlightMax");
    this.outboxMax = positive(options.outboxMax ?? 1_024, "outboxMax");
    this.decisionTimeoutMs = positive(options.decisionTimeoutMs ?? 5_000, "decisionTimeoutMs");
    this.attemptsMax = positive(options.attemptsMax ?? 20, "attemptsMax");
    this.retryDelayMsMin = positive(options.retryDelayMsMin ?? 50, "retryDelayMsMin");
    this.retryDelayMsMax = positive(options.retryDelayMsMax ?? 2_000, "retryDelayMsMax");
    assert(this.retryDelayMsMin <= this.retryDelayMsMax, "retryDelayMsMin must not exceed retryDelayMsMax");
    this.random = options.random ?? systemRandom;
  }

  /** Requests submitted and not yet decided. */
  get pending(): number {
    return this.retrying.length + this.fresh.length - this.freshHead + this.onWire.size;
  }

  get inFlight(): number {
    return this.onWire.size;
  }

  get stats(): SimHubClientStats {
    return { ...this.counts };
  }

  /**
   * Queues a signed request; resolves with its decision, whatever its status. Rejects with OutboxFull when the
   * outbox is full, Cancelled after stop(), and with the last send's error once attemptsMax sends failed.
   */
  submit(request: SignedRequest<{ requestId: string; seq: number }>): Promise<Outcome> {
    if (this.stopped) return Promise.reject(new TapwireError("hub client stopped", ErrorCode.Cancelled, { requestId: request.requestId }));
    if (this.pending >= this.outboxMax) {
      return Promise.reject(new TapwireError(`more than ${this.outboxMax} requests undecided`, ErrorCode.OutboxFull, { requestId: request.requestId }));
    }
    return new Promise((resolve, reject) => {
      this.submitted += 1;
      this.fresh.push({ order: this.submitted, request, attempts: 0, resolve, reject });
      this.pump();
    });
  }

  /** Stops sending: undecided requests fail with Cancelled (those on the wire as soon as their send settles). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const undecided = [...this.retrying.splice(0), ...this.fresh.slice(this.freshHead)];
    this.fresh = [];
    this.freshHead = 0;
    for (const entry of undecided) this.fail(entry, new TapwireError("hub client stopped", ErrorCode.Cancelled, { requestId: entry.request.requestId }));
  }

  private pump(): void {
    if (this.stopped || this.holdTimer !== undefined) return;
    if (this.recovering) {
      if (this.onWire.size > 0) return;
      this.recovering = false;
    }
    while (this.onWire.size < this.inFlightMax) {
      const entry = this.retrying.shift() ?? this.takeFresh();
      if (entry === undefined) return;
      this.send(entry);
    }
  }

  private takeFresh(): Entry | undefined {
    if (this.freshHead >= this.fresh.length) return undefined;
    const entry = this.fresh[this.freshHead]!;
    this.freshHead += 1;
    if (this.freshHead >= freshCompactMin && this.freshHead * 2 >= this.fresh.length) {
      this.fresh = this.fresh.slice(this.freshHead);
      this.freshHead = 0;
    }
    return entry;
  }

  private send(entry: Entry): void {
    entry.attempts += 1;
    this.counts.sent += 1;
    if (entry.attempts > 1) this.counts.retried += 1;
    this.onWire.add(entry);
    const { bytes, requestId } = entry.request;
    this.options.transport.request(bytes, requestId, this.decisionTimeoutMs).then(
      (reply) => this.answered(entry, reply),
      (error: unknown) => this.sendFailed(entry, asTapwireError(error, ErrorCode.Offline)),
    );
  }

  private answered(entry: Entry, reply: DecisionReply): void {
    this.onWire.delete(entry);
    const { decision } = reply;
    if (!sameBytes(decision.requestHash, entry.request.hash)) {
      this.fail(entry, new TapwireError("decision answers other bytes than the ones sent", ErrorCode.DecisionMismatch, { requestId: decision.requestId }));
    } else if (decision.status === "declined" && retryableDeclines.has(decision.code) && entry.attempts < this.attemptsMax && !this.stopped) {
      this.retryLater(entry);
    } else {
      this.failuresInRow = 0;
      this.counts.decided += 1;
      entry.resolve({ requestId: entry.request.requestId, seq: entry.request.seq, decision, decisionBytes: reply.bytes, attempts: entry.attempts });
    }
    this.pump();
  }

  private sendFailed(entry: Entry, error: TapwireError): void {
    this.onWire.delete(entry);
    if (this.stopped) this.fail(entry, new TapwireError("hub client stopped", ErrorCode.Cancelled, { requestId: entry.request.requestId }));
    else if (retryableCodes.has(error.code) && entry.attempts < this.attemptsMax) this.retryLater(entry);
    else this.fail(entry, error);
    this.pump();
  }

  /** Puts the entry back in submission order and holds all sending for the backoff. */
  private retryLater(entry: Entry): void {
    let index = this.retrying.length;
    while (index > 0 && this.retrying[index - 1]!.order > entry.order) index -= 1;
    this.retrying.splice(index, 0, entry);
    this.recovering = true;
    if (this.holdTimer !== undefined) return;
    const delayMs = this.backoffMs(this.failuresInRow);
    this.failuresInRow += 1;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.pump();
    }, delayMs);
  }

  private fail(entry: Entry, error: TapwireError): void {
    this.counts.failed += 1;
    entry.reject(error);
  }

  private backoffMs(failuresInRow: number): number {
    const baseMs = Math.min(this.retryDelayMsMax, this.retryDelayMsMin * 2 ** Math.min(failuresInRow, 20));
    const jitter = (this.random.bytes(1)[0]! / 255 - 0.5) / 2;
    return Math.max(this.retryDelayMsMin, Math.round(baseMs * (1 + jitter)));
  }
}

function positive(value: number, name: string): number {
  assert(Number.isSafeInteger(value) && value > 0, `${name} must be a positive integer, got ${value}`);
  return value;
}

