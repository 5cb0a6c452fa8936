import { describe, expect, it } from "vitest";
import {
  ackBytes,
  decodeFrame,
  encodeInformationFrame,
  errorFrameBytes,
  nackBytes,
} from "../../firmware-bridge/nfc/pn532-frame.ts";
import {
  encodeAck,
  encodeInformation,
  encodeNack,
  encodeSyntaxError,
  frameLengthMax,
  HostFrameReader,
} from "../../simulator/pn532/frame-codec.ts";
import { bytesCounting } from "./probe.ts";

// The chip's codec (simulator/pn532/frame-codec.ts) and tapwire's driver codec (firmware-bridge/nfc/pn532-frame.ts)
// were written apart from UM0701-02 §6.2; every frame one writes, the other must read back unchanged.
const withAmbles = { prePostAmble: true };

describe("the virtual chip's frame codec and the driver's agree", () => {
  it("on ACK, NACK and the syntax error frame", () => {
    expect([...encodeAck(withAmbles)]).toEqual([...ackBytes]);
    expect([...encodeNack(withAmbles)]).toEqual([...nackBytes]);
    expect([...encodeSyntaxError(withAmbles)]).toEqual([...errorFrameBytes]);
    expect(decodeFrame(encodeSyntaxError(withAmbles))).toEqual({ kind: "error" });
  });

  it("on every response length, normal and extended frames alike", () => {
    for (let dataBytes = 0; dataBytes < frameLengthMax; dataBytes++) {
      const data = Uint8Array.from(bytesCounting(dataBytes, dataBytes));
      expect(decodeFrame(encodeInformation(0xd5, data, withAmbles))).toEqual({ kind: "information", tfi: 0xd5, data, extended: dataBytes + 1 > 255 });
    }
  });

  it("on every command length the driver can send", () => {
    const reader = new HostFrameReader();
    for (let dataBytes = 0; dataBytes < frameLengthMax; dataBytes++) {
      const data = Uint8Array.from(bytesCounting(dataBytes, 3 * dataBytes));
      expect(reader.push(encodeInformationFrame(0xd4, data))).toEqual([{ kind: "information", tfi: 0xd4, data, extended: dataBytes + 1 > 255 }]);
    }
    expect(reader.push(Uint8Array.from([...ackBytes, ...nackBytes]))).toEqual([{ kind: "ack" }, { kind: "nack" }]);
  });
});
