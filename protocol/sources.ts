import { randomBytes, randomUUID } from "node:crypto";

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

export const systemClock: Clock = { nowMs: () => Date.now() };

export const systemRandom: Random = {
  bytes: (length) => new Uint8Array(randomBytes(length)),
  uuid: () => randomUUID(),
};

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
