import { assert } from "../../core/assert.ts";
import type { Cursor } from "./event-cursor.ts";
import type { EvidenceReader } from "./evidence-reader.ts";
import type { MerchantEvent } from "../../protocol/merchant-feed.ts";
import { eventOf, RequestMerchants } from "./merchant-event.ts";

export interface DispatchOptions {
  reader: EvidenceReader;
  merchantId: string;
  cursor: Cursor;
  /** True once the event is delivered (a 2xx, or printed); false to try it again later. */
  deliver: (event: MerchantEvent) => Promise<boolean>;
  /** Evidence rows read per step. */
  pageRows: number;
  /** Request rows remembered for the merchant of later decisions (held payments decided minutes later). */
  requestsRemembered: number;
}

export const dispatchDefaults = { pageRows: 500, requestsRemembered: 100_000 };

/**
 * A merchant's events from the evidence chain, delivered in order, each once its receiver took it: the cursor
 * moves past an event only after delivery, so an event that failed blocks the ones behind it until it succeeds
 * (at least once, in order; the delivery id makes it exactly once for a receiver that drops repeats).
 */
export class MerchantEventDispatch {
  private readonly requests: RequestMerchants;
  private scannedSeq: number;
  private deliveredSeq: number;

  constructor(private readonly options: DispatchOptions) {
    assert(options.pageRows > 0 && options.requestsRemembered > 0, "dispatch limits must be positive");
    this.requests = new RequestMerchants(options.requestsRemembered);
    this.deliveredSeq = options.cursor.read();
    // The requests behind the cursor still name the merchants of decisions ahead of it: read them back first.
    this.scannedSeq = Math.max(0, this.deliveredSeq - options.requestsRemembered);
    this.scanUpTo(this.deliveredSeq);
  }

  get cursorSeq(): number {
    return this.deliveredSeq;
  }

  /**
   * Delivers what the chain holds after the cursor, in order; stops at the first event not delivered. Resolves
   * with how many were delivered and whether one is still waiting.
   */
  async step(): Promise<{ delivered: number; blocked: boolean }> {
    let delivered = 0;
    for (;;) {
      const entries = this.options.reader.entriesAfter(this.deliveredSeq, this.options.pageRows);
      if (entries.length === 0) return { delivered, blocked: false };
      // Nothing is told to a merchant that a power cut could still take back.
      await this.options.reader.committedDurable();
      for (const entry of entries) {
        const event = eventOf(entry, this.sources());
        this.scannedSeq = Math.max(this.scannedSeq, entry.seq);
        if (event !== undefined && event.merchantId === this.options.merchantId) {
          if (!(await this.options.deliver(event))) {
            this.options.cursor.write(this.deliveredSeq);
            return { delivered, blocked: true };
          }
          delivered += 1;
        }
        this.deliveredSeq = entry.seq;
      }
      // Once a page (not once a row): a crash in between only repeats deliveries, which receivers drop by id.
      this.options.cursor.write(this.deliveredSeq);
    }
  }

  private scanUpTo(seq: number): void {
    while (this.scannedSeq < seq) {
      const entries = this.options.reader.entriesAfter(this.scannedSeq, Math.min(this.options.pageRows, seq - this.scannedSeq));
      if (entries.length === 0) return;
      for (const entry of entries) if (entry.kind === "request") eventOf(entry, this.sources());
      this.scannedSeq = entries.at(-1)!.seq;
    }
  }

  private sources() {
    const { reader } = this.options;
    return { merchantOfHub: (hubId: string) => reader.merchantOfHub(hubId), merchantOfPayment: (paymentId: string) => reader.merchantOfPayment(paymentId), requests: this.requests };
  }
}
