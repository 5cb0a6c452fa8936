import { describe, expect, it } from "vitest";
import { ack, bytesCounting, ChipProbe, hex, informationFrame, ScriptedCard, ScriptedReader, settle } from "./probe.ts";

// MI (More Information) is bit 6 of the Tg byte the host sends and of the Status byte the chip returns; DataOut and
// DataIn carry at most 262 bytes per frame (UM0701-02 §7.3.8 InDataExchange, §7.3.16 TgGetData, §7.3.18 TgSetMetaData).
const host = (data: number[]): Uint8Array => informationFrame(0xd4, data);
const chip = (data: number[]): string => hex(informationFrame(0xd5, data));
const inListPassiveTarget106A = "00 00 FF 04 FC D4 4A 01 00 E1 00";

async function listed(card: ScriptedCard): Promise<ChipProbe> {
  const probe = new ChipProbe();
  await probe.open();
  probe.chip.placeInField(card);
  await probe.exchange(inListPassiveTarget106A);
  return probe;
}

describe("InDataExchange chaining (40, MI bit)", () => {
  it("returns an R-APDU longer than one frame in parts with MI set, the next part for each bare `40 Tg` (libnfc pn53x_transceive)", async () => {
    const rapdu = [...bytesCounting(300), 0x90, 0x00];
    const probe = await listed(new ScriptedCard(() => Uint8Array.from(rapdu)));
    // READ BINARY, extended Le; the answer's first 262 bytes go out in an extended frame with status 40.
    expect(await probe.exchange(host([0x40, 0x01, 0x00, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00]))).toBe(
      `${ack} ${chip([0x41, 0x40, ...rapdu.slice(0, 262)])}`,
    );
    expect(await probe.exchange(host([0x40, 0x01]))).toBe(`${ack} ${chip([0x41, 0x00, ...rapdu.slice(262)])}`);
  });

  it("collects a C-APDU sent in parts with MI set and hands the card the whole APDU (nfcpy in_data_exchange(more=True))", async () => {
    const card = new ScriptedCard();
    const probe = await listed(card);
    // UPDATE BINARY with extended Lc 012C: 7 + 300 = 307 bytes, more than the 262 one frame carries.
    const apdu = [0x00, 0xd6, 0x00, 0x00, 0x00, 0x01, 0x2c, ...bytesCounting(300)];
    expect(await probe.exchange(host([0x40, 0x41, ...apdu.slice(0, 262)]))).toBe(`${ack} ${chip([0x41, 0x00])}`);
    expect(card.received).toHaveLength(0);
    expect(await probe.exchange(host([0x40, 0x01, ...apdu.slice(262)]))).toBe(`${ack} ${chip([0x41, 0x00, 0x90, 0x00])}`);
    expect(card.received.map((received) => [...received])).toEqual([apdu]);
  });

  it("answers 01 to a chained part when the card has left, and starts afresh on the next exchange", async () => {
    const card = new ScriptedCard();
    const probe = await listed(card);
    expect(await probe.exchange(host([0x40, 0x41, 0x00, 0xd6]))).toBe(`${ack} ${chip([0x41, 0x00])}`);
    probe.chip.removeFromField();
    expect(await probe.exchange(host([0x40, 0x41, 0x00, 0x00]))).toBe(`${ack} ${chip([0x41, 0x01])}`);
    probe.chip.placeInField(card);
    await probe.exchange(inListPassiveTarget106A);
    expect(await probe.exchange(host([0x40, 0x01, 0x00, 0xb0, 0x00, 0x00, 0x02]))).toBe(`${ack} ${chip([0x41, 0x00, 0x90, 0x00])}`);
    expect(card.received.map((received) => [...received])).toEqual([[0x00, 0xb0, 0x00, 0x00, 0x02]]);
  });
});

describe("ISO-DEP chaining through InCommunicateThru (42), the host framing blocks itself (ISO/IEC 14443-4 chaining)", () => {
  it("acknowledges a chained I-block with R(ACK), splits a long answer to the FSD and sends the rest on R(ACK)", async () => {
    const rapdu = [...bytesCounting(100), 0x90, 0x00];
    const card = new ScriptedCard(() => Uint8Array.from(rapdu));
    const probe = new ChipProbe();
    await probe.open();
    await probe.exchange("00 00 FF 03 FD D4 12 00 1A 00"); // SetParameters 00: no automatic RATS (nfcpy)
    probe.chip.placeInField(card);
    await probe.exchange(inListPassiveTarget106A);
    // RATS with FSDI 5: FSD 64, so an I-block carries at most 64 − PCB − CRC = 61 INF bytes.
    expect(await probe.exchange(host([0x42, 0xe0, 0x50]))).toBe(`${ack} ${chip([0x43, 0x00, 0x05, 0x78, 0x80, 0x70, 0x02])}`);
    expect(await probe.exchange(host([0x42, 0x12, 0x00, 0xb0]))).toBe(`${ack} ${chip([0x43, 0x00, 0xa2])}`);
    expect(await probe.exchange(host([0x42, 0x03, 0x00, 0x00, 0x00]))).toBe(`${ack} ${chip([0x43, 0x00, 0x13, ...rapdu.slice(0, 61)])}`);
    expect(await probe.exchange(host([0x42, 0xa2]))).toBe(`${ack} ${chip([0x43, 0x00, 0x02, ...rapdu.slice(61)])}`);
    // R(NAK) as presence check: the card answers R(ACK) with its block number.
    expect(await probe.exchange(host([0x42, 0xb3]))).toBe(`${ack} ${chip([0x43, 0x00, 0xa2])}`);
    expect(card.received.map((received) => [...received])).toEqual([[0x00, 0xb0, 0x00, 0x00, 0x00]]);
  });
});

describe("TgGetData / TgSetMetaData chaining in card emulation (86, 94, 8E)", () => {
  it("hands the host a long C-APDU in parts with MI set and the reader a long R-APDU built from TgSetMetaData parts", async () => {
    const command = [0x00, 0xd6, 0x00, 0x00, 0x00, 0x01, 0x2c, ...bytesCounting(300)];
    const answer = [...bytesCounting(280, 7), 0x90, 0x00];
    const reader = new ScriptedReader([Uint8Array.from(command)]);
    const probe = new ChipProbe();
    await probe.open();
    probe.chip.placeInField(reader);
    // TgInitAsTarget as tapwire's driver sends it: PICC only, passive only, SENS_RES 04 00, NFCID1 12 34 56, SEL_RES 20.
    expect(await probe.exchange(host([0x8c, 0x05, 0x04, 0x00, 0x12, 0x34, 0x56, 0x20, ...new Array<number>(30).fill(0)]))).toBe(
      `${ack} ${chip([0x8d, 0x08, 0xe0, 0x80])}`,
    );
    await settle();
    expect(await probe.exchange(host([0x86]))).toBe(`${ack} ${chip([0x87, 0x40, ...command.slice(0, 262)])}`);
    expect(await probe.exchange(host([0x86]))).toBe(`${ack} ${chip([0x87, 0x00, ...command.slice(262)])}`);
    expect(await probe.exchange(host([0x94, ...answer.slice(0, 200)]))).toBe(`${ack} ${chip([0x95, 0x00])}`);
    expect(await probe.exchange(host([0x8e, ...answer.slice(200)]))).toBe(`${ack} ${chip([0x8f, 0x00])}`);
    await settle();
    expect(reader.answers.map((received) => [...received])).toEqual([answer]);
  });
});
