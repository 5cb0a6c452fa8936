import { assert } from "../../core/assert.ts";
import type { Clock, Timers } from "../../core/sources.ts";
import type { Trace } from "./trace.ts";

/** One message on its way: handed over on arrival, acknowledged to the sender, or lost. */
export interface Parcel {
  /** What the message says, for the trace (never its bytes). */
  label: string;
  arrive: () => void;
  /** The broker has it (QoS 1 PUBACK): also for a message the broker then drops. */
  ack?: () => void;
  /** It never got there (the connection went first). */
  lost?: () => void;
}

interface Queued extends Parcel {
  dueMs: number;
}

export interface PipeDeps {
  name: string;
  clock: Clock;
  timers: Timers;
  trace: Trace;
  /** This hop's latency for the next message; draws from the world's random. */
  latencyMs: () => number;
  /** Messages in flight at once on this hop; beyond it a message is dropped, as a broker's queue limit does. */
  queueLengthMax: number;
}

/**
 * One direction of one connection: messages arrive in the order they were sent, each after the hop's latency.
 * Faults act here: a stall holds every message until a time, a drop loses the next message(s), a duplicate
 * delivers the next one twice (QoS 1 redelivery). Closing loses whatever is still on the way.
 */
export class Pipe {
  private readonly queue: Queued[] = [];
  private timer: unknown;
  private stalledUntilMs = 0;
  private dropsPending = 0;
  private duplicatesPending = 0;
  private open = true;

  constructor(private readonly deps: PipeDeps) {}

  get idle(): boolean {
    return this.queue.length === 0;
  }

  send(parcel: Parcel): void {
    if (!this.open) {
      parcel.lost?.();
      return;
    }
    if (this.queue.length >= this.deps.queueLengthMax) {
      this.deps.trace.record(this.deps.name, `overflow ${parcel.label}`);
      parcel.lost?.();
      return;
    }
    const nowMs = this.deps.clock.nowMs();
    const dueMs = Math.max(this.queue.at(-1)?.dueMs ?? 0, nowMs + this.deps.latencyMs());
    this.queue.push({ ...parcel, dueMs });
    this.arm();
  }

  stall(untilMs: number): void {
    this.stalledUntilMs = Math.max(this.stalledUntilMs, untilMs);
    this.deps.trace.record(this.deps.name, `stalled until +${untilMs - this.deps.clock.nowMs()}ms`);
  }

  dropNext(count: number): void {
    this.dropsPending += count;
  }

  duplicateNext(count: number): void {
    this.duplicatesPending += count;
  }

  /** Clears every fault: stalls end now, pending drops and duplicates are forgotten. */
  heal(): void {
    this.stalledUntilMs = 0;
    this.dropsPending = 0;
    this.duplicatesPending = 0;
    this.rearm();
  }

  /** The connection is gone: whatever is still on the way is lost. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (const parcel of this.queue.splice(0)) {
      this.deps.trace.record(this.deps.name, `lost ${parcel.label}`);
      parcel.lost?.();
    }
  }

  private rearm(): void {
    this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.arm();
  }

  private arm(): void {
    const head = this.queue[0];
    if (this.timer !== undefined || head === undefined || !this.open) return;
    const atMs = Math.max(head.dueMs, this.stalledUntilMs);
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      this.deliverHead();
    }, atMs - this.deps.clock.nowMs());
  }

  private deliverHead(): void {
    if (this.deps.clock.nowMs() < this.stalledUntilMs) return this.arm();
    const parcel = this.queue.shift();
    assert(parcel !== undefined, "a pipe's timer ran with nothing queued");
    if (this.dropsPending > 0) {
      this.dropsPending -= 1;
      this.deps.trace.record(this.deps.name, `dropped ${parcel.label}`);
      parcel.ack?.();
    } else {
      parcel.ack?.();
      parcel.arrive();
      if (this.duplicatesPending > 0) {
        this.duplicatesPending -= 1;
        this.deps.trace.record(this.deps.name, `duplicated ${parcel.label}`);
        parcel.arrive();
      }
    }
    this.arm();
  }
}
