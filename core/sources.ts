import { randomBytes, randomFillSync, randomUUID } from "node:crypto";
import { assert } from "./assert.ts";

/**
 * Time, randomness and ids come from injected sources (house rule 4), so the simulator can replay a seed
 * and tests can move time without sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

export interface Random {
  bytes(length: number): Uint8Array;
  uuid(): string;
}

/**
 * One-shot timers, injected like the clock. The shape is XState's own clock interface, so the same object drives
 * the machines (`createActor(machine, { clock })`) and everything beside them (outbox retries, waits).
 */
export interface Timers {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

export const systemTimers: Timers = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Bytes of CSPRNG output drawn at once; a request for more than a quarter of it is served on its own. */
const csprngPoolBytes = 4_096;

/**
 * The operating system's CSPRNG through node:crypto, drawn 4 KB at a time, as Node's own randomUUID does: each call
 * into it costs about the same whatever it fills (on the 2-core EPYC VM, randomBytes(16) 4.9 µs of CPU, randomFillSync
 * of 4 KB 4.1), and hubs and the service ask for a few bytes at a time (a reader's unpredictable number, a nonce).
 * Bytes handed out are wiped from the pool, so it only ever holds bytes no one has seen.
 */
class PooledCsprng implements Random {
  private readonly pool = new Uint8Array(csprngPoolBytes);
  private used = csprngPoolBytes;

  bytes(length: number): Uint8Array {
    assert(Number.isSafeInteger(length) && length >= 0, `random byte count ${length}`);
    if (length > csprngPoolBytes / 4) return new Uint8Array(randomBytes(length));
    if (this.used + length > csprngPoolBytes) {
      randomFillSync(this.pool);
      this.used = 0;
    }
    const drawn = this.pool.slice(this.used, this.used + length);
    this.pool.fill(0, this.used, this.used + length);
    this.used += length;
    return drawn;
  }

  uuid(): string {
    return randomUUID();
  }
}

export const systemRandom: Random = new PooledCsprng();

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private currentMs = Date.UTC(2026, 10, 23, 12, 0, 0)) {}
  nowMs(): number {
    return this.currentMs;
  }
  advance(ms: number): void {
    this.currentMs += ms;
  }
}

/**
 * Virtual time for a whole simulated hub (and, later, a whole stack): `advance(ms)` moves the clock and runs every
 * timer that falls due, in due order (ties in the order they were set), each at its own time. Nothing here waits
 * for real time; callers flush promise chains between steps themselves.
 */
export class VirtualClock implements Clock, Timers {
  private currentMs: number;
  private nextId = 1;
  private readonly timers = new Map<number, { dueMs: number; callback: () => void }>();

  constructor(startMs = Date.UTC(2026, 10, 23, 12, 0, 0)) {
    this.currentMs = startMs;
  }

  nowMs(): number {
    return this.currentMs;
  }

  setTimeout(callback: () => void, delayMs: number): number {
    const id = this.nextId++;
    this.timers.set(id, { dueMs: this.currentMs + Math.max(0, delayMs), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Timers set and not yet run. */
  get pending(): number {
    return this.timers.size;
  }

  /** When the next timer is due, if any. */
  get nextDueMs(): number | undefined {
    let due: number | undefined;
    for (const timer of this.timers.values()) if (due === undefined || timer.dueMs < due) due = timer.dueMs;
    return due;
  }

  /** Runs due timers one at a time up to now + ms; `timersMax` bounds a timer that keeps re-arming itself at 0 ms. */
  advance(ms: number, timersMax = 100_000): void {
    const targetMs = this.currentMs + ms;
    for (let ran = 0; ran < timersMax; ran++) {
      let next: [number, { dueMs: number; callback: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].dueMs <= targetMs && (next === undefined || entry[1].dueMs < next[1].dueMs)) next = entry;
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.currentMs = next[1].dueMs;
      next[1].callback();
    }
    this.currentMs = Math.max(this.currentMs, targetMs);
  }
}

/** Deterministic randomness from a seed (xorshift128+), for reproducible simulations; not for keys. */
export class SeededRandom implements Random {
  private s0: bigint;
  private s1: bigint;
  constructor(seed: number) {
    this.s0 = BigInt(seed) ^ 0x9e3779b97f4a7c15n;
    this.s1 = (BigInt(seed) * 0xbf58476d1ce4e5b9n + 1n) & 0xffffffffffffffffn;
    for (let i = 0; i < 8; i++) this.next();
  }
  private next(): bigint {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= (x << 23n) & 0xffffffffffffffffn;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (this.s1 + y) & 0xffffffffffffffffn;
  }
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = Number(this.next() & 0xffn);
    return out;
  }
  uuid(): string {
    const b = this.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const hex = Buffer.from(b).toString("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}
