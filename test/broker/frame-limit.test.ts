import { describe, expect, it } from "vitest";
import { MqttFrameScanner } from "../../broker/mqtt/frame-limit.ts";

/** A PUBLISH fixed header with the given Remaining Length, then that many body bytes. */
function packet(remainingLength: number): Buffer {
  const length: number[] = [];
  let value = remainingLength;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    length.push(byte);
  } while (value > 0);
  return Buffer.concat([Buffer.from([0x30, ...length]), Buffer.alloc(remainingLength)]);
}

describe("MqttFrameScanner", () => {
  it("passes packets up to the limit, however the stream is split", () => {
    const stream = Buffer.concat([packet(0), packet(127), packet(128), packet(1000)]);

    for (const chunkBytes of [1, 2, 7, stream.length]) {
      const scanner = new MqttFrameScanner(1000);
      for (let offset = 0; offset < stream.length; offset += chunkBytes) {
        expect(scanner.feed(stream.subarray(offset, offset + chunkBytes))).toBeUndefined();
      }
    }
  });

  it("reports the first packet over the limit from its header alone", () => {
    const scanner = new MqttFrameScanner(1000);

    expect(scanner.feed(packet(10))).toBeUndefined();
    expect(scanner.feed(packet(200_000).subarray(0, 4))).toBe(200_000);
  });

  it("reports a Remaining Length longer than four bytes as malformed", () => {
    const scanner = new MqttFrameScanner(1000);

    expect(scanner.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff]))).toBe(-1);
  });
});
