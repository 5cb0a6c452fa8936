import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { pooledCopy, pooledZeros, sha256 } from "../../protocol/bytes.ts";

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

  it("hashes with SHA-256 (FIPS 180-2 vectors), every byte value kept through the string form", () => {
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

    expect(hex(sha256(new TextEncoder().encode("abc")))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hex(sha256(new Uint8Array(0)))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // 256 digests hold every byte value many times over (0x80-0xff included): each equals node:crypto's own.
    const inputs = Array.from({ length: 256 }, (_, index) => new Uint8Array([index]));
    expect(inputs.every((input) => sha256(input).constructor === Uint8Array)).toBe(true);
    expect(inputs.map((input) => hex(sha256(input)))).toEqual(inputs.map((input) => createHash("sha256").update(input).digest("hex")));
  });
});
