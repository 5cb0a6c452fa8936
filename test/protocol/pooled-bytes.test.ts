import { describe, expect, it } from "vitest";
import { pooledCopy, pooledZeros } from "../../protocol/bytes.ts";

describe("pooled bytes", () => {
  it("copies into a plain Uint8Array that no longer follows its source", () => {
    const source = Buffer.from(Array.from({ length: 400 }, (_, index) => index & 0xff));
    const copy = pooledCopy(source);

    source.fill(0xee);

    expect(copy.constructor).toBe(Uint8Array);
    expect(copy.length).toBe(400);
    expect([...copy.subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    expect(copy[399]).toBe(399 & 0xff);
  });

  it("gives copies that do not overlap, and zeros that are zero where the pool held other bytes", () => {
    const copies = Array.from({ length: 64 }, (_, index) => pooledCopy(new Uint8Array(200).fill(index)));
    // Fills the pool with non-zero bytes before asking for zeros from it.
    for (let index = 0; index < 64; index += 1) Buffer.allocUnsafe(200).fill(0xff);
    const zeros = pooledZeros(128);

    expect(copies.every((copy, index) => copy.every((byte) => byte === index))).toBe(true);
    expect(zeros.length).toBe(128);
    expect(zeros.every((byte) => byte === 0)).toBe(true);
  });
});
