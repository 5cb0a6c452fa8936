import { describe, expect, it } from "vitest";
import { systemRandom } from "../../core/sources.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("systemRandom", () => {
  it("never hands out the same bytes twice, across many refills of its pool", () => {
    // 5,000 × 16 bytes is about twenty pools of 4 KB; a repeat of 128 random bits would be a bug, not chance.
    const draws = Array.from({ length: 5_000 }, () => systemRandom.bytes(16));

    expect(new Set(draws.map(hex)).size).toBe(5_000);
    expect(draws.every((draw) => draw.constructor === Uint8Array && draw.length === 16)).toBe(true);
  });

  it("gives every length asked for, from none to more than the pool serves, as fresh random bytes", () => {
    const lengths = [0, 1, 3, 4, 31, 32, 1_024, 1_025, 4_096, 10_000];
    const draws = lengths.map((length) => systemRandom.bytes(length));

    expect(draws.map((draw) => draw.length)).toEqual(lengths);
    // Wiped bytes handed out by mistake would be zeros: no draw of 31 bytes or more is all zero by chance.
    expect(draws.filter((draw) => draw.length >= 31).every((draw) => draw.some((byte) => byte !== 0))).toBe(true);
  });

  it("refuses a length that is not a count of bytes", () => {
    expect(() => systemRandom.bytes(-1)).toThrow(/random byte count -1/);
    expect(() => systemRandom.bytes(1.5)).toThrow(/random byte count 1.5/);
  });
});
