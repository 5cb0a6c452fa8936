import { describe, expect, it } from "vitest";
import { ack, ChipProbe, fromHex, hex, ScriptedCard } from "./probe.ts";

// GetFirmwareVersion and its answer, as drawn in libnfc pn53x-internal.h and checked by nfcpy's pn532 init.
const getFirmwareVersion = "00 00 FF 02 FE D4 02 2A 00";
const firmwareVersion = "00 00 FF 06 FA D5 03 32 01 06 07 E8 00";
// The syntax error frame, UM0701-02 §6.2.1.5 (also libnfc pn53x_error_frame).
const syntaxError = "00 00 FF 01 FF 7F 81 00";

async function awake(): Promise<ChipProbe> {
  const probe = new ChipProbe();
  await probe.open();
  return probe;
}

/** DCS of TFI + data (§6.2.1.1), for the frames too long to write out. */
function checksum(bytes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!;
  return (0x100 - (sum & 0xff)) & 0xff;
}

describe("virtual PN532 host link (UM0701-02 §6.2)", () => {
  it("wakes on the HSU preamble and answers SAMConfiguration with the bytes of a real Raspberry Pi exchange", async () => {
    const probe = new ChipProbe();
    // PROTOCOL-NOTES: host `… 00 00 FF 03 FD D4 14 01 17 00` → ACK, then `00 00 FF 02 FE D5 15 16 00`.
    expect(await probe.open()).toBe(`${ack} 00 00 FF 02 FE D5 15 16 00`);
  });

  it("loses the byte that wakes it: a frame sent to a sleeping chip without a preamble gets no answer", async () => {
    const probe = new ChipProbe();
    // The first 00 wakes the chip and is lost; `00 FF …` is not a start code (why libnfc sends 55 55 00 00 00 first).
    expect(await probe.exchange(getFirmwareVersion)).toBe("");
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
  });

  it("opens the way nfcpy does: ten zero bytes, then GetFirmwareVersion and SAMConfiguration with timeout and IRQ", async () => {
    const probe = new ChipProbe();
    const longPreamble = "00 ".repeat(10);
    // nfcpy clf/pn532.py init(): get_version_cmd / get_version_rsp, sam_configuration_cmd / sam_configuration_rsp.
    expect(await probe.exchange(longPreamble + getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
    expect(await probe.exchange(`${longPreamble} 00 00 FF 05 FB D4 14 01 00 00 17 00`)).toBe(`${ack} 00 00 FF 02 FE D5 15 16 00`);
  });

  it("resends its last response when the host NACKs it (§6.2.1.4)", async () => {
    const probe = await awake();
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
    expect(await probe.exchange("00 00 FF FF 00 00")).toBe(firmwareVersion);
  });

  it("drops a frame with a bad LCS or a bad DCS without any answer, then serves the next good one", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 02 FF D4 02 2A 00")).toBe("");
    expect(await probe.exchange("00 00 FF 02 FE D4 02 2B 00")).toBe("");
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
    expect(probe.chip.commandsSeen).toEqual([0x14, 0x02]);
  });

  it("hunts for 00 00 FF through garbage, including a lone 00 FF", async () => {
    const probe = await awake();
    expect(await probe.exchange(`13 37 00 FF 00 AB 55 ${getFirmwareVersion}`)).toBe(`${ack} ${firmwareVersion}`);
  });

  it("reads byte by byte: a frame that arrives inside a truncated one is lost, the host's resend is served", async () => {
    const probe = await awake();
    probe.write("00 00 FF 02 FE D4");
    // The truncated frame takes `00` as its last data byte and `00` as DCS: bad checksum, dropped with what it took.
    expect(await probe.exchange(getFirmwareVersion)).toBe("");
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
  });

  it("accepts frames split over many writes", async () => {
    const probe = await awake();
    for (const byte of fromHex(getFirmwareVersion)) probe.write(Uint8Array.of(byte));
    expect(await probe.read()).toBe(`${ack} ${firmwareVersion}`);
  });

  it("takes a short extended frame from the host and answers with a normal one (§6.2.1.2)", async () => {
    const probe = await awake();
    // LEN = LCS = FF marks the extended frame; LENM 00 LENL 02, LCS FE.
    expect(await probe.exchange("00 00 FF FF FF 00 02 FE D4 02 2A 00")).toBe(`${ack} ${firmwareVersion}`);
  });

  it("echoes the longest Diagnose line test in extended frames both ways (nfcpy diagnose('line'))", async () => {
    const probe = await awake();
    // nfcpy sends NumTst 00 and 262 bytes 00, 01, …: TFI + code + 263 = 265 bytes, LENM 01 LENL 09 LCS F6.
    const payload = [0x00, 0x00, ...Array.from({ length: 262 }, (_, i) => i & 0xff)];
    probe.write(Uint8Array.from([0x00, 0x00, 0xff, 0xff, 0xff, 0x01, 0x09, 0xf6, 0xd4, ...payload, checksum([0xd4, ...payload]), 0x00]));
    const answer = [0xd5, 0x01, ...payload.slice(1)];
    expect(await probe.read()).toBe(`${ack} ${hex([0x00, 0x00, 0xff, 0xff, 0xff, 0x01, 0x09, 0xf6, ...answer, checksum(answer), 0x00])}`);
  });

  it("drops an extended frame longer than its 265-byte buffer", async () => {
    const probe = await awake();
    const body = [0xd4, 0x00, 0x00, ...new Array<number>(263).fill(0x11)];
    probe.write(Uint8Array.from([0x00, 0x00, 0xff, 0xff, 0xff, 0x01, 0x0a, 0xf5, ...body, checksum(body), 0x00]));
    expect(await probe.read()).toBe("");
  });

  it("ACKs an unknown command code, then sends the syntax error frame (§6.2.1.5)", async () => {
    const probe = await awake();
    // 0x18 is AlparCommandForTDA, a PN533-only command (libnfc pn53x-internal.h).
    expect(await probe.exchange("00 00 FF 02 FE D4 18 14 00")).toBe(`${ack} ${syntaxError}`);
  });

  it("refuses a frame that is not a host command (TFI D5, or no command code) with the syntax error frame", async () => {
    const probe = await awake();
    // Model choice, not in the manual: the link layer ACKs any well-formed frame, the application refuses it.
    expect(await probe.exchange("00 00 FF 02 FE D5 02 29 00")).toBe(`${ack} ${syntaxError}`);
    expect(await probe.exchange("00 00 FF 01 FF D4 2C 00")).toBe(`${ack} ${syntaxError}`);
  });

  it("drops the preamble and postamble after SetParameters fRemovePrePostAmble (§7.2.9)", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 03 FD D4 12 40 DA 00")).toBe(`${ack} 00 00 FF 02 FE D5 13 18 00`);
    expect(await probe.exchange(getFirmwareVersion)).toBe("00 FF 00 FF 00 FF 06 FA D5 03 32 01 06 07 E8");
  });

  it("abandons a waiting InListPassiveTarget when the host sends ACK (§6.2.1.3)", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 04 FC D4 4A 01 00 E1 00")).toBe(ack);
    expect(await probe.exchange(ack)).toBe("");
    probe.chip.placeInField(new ScriptedCard());
    expect(await probe.read()).toBe("");
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
  });

  it("changes its HSU rate only once the host ACKs the SetSerialBaudRate response (nfcpy set_baudrate_cmd)", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 03 FD D4 10 05 17 00")).toBe(`${ack} 00 00 FF 02 FE D5 11 1A 00`);
    expect(probe.chip.serialBaudRateBps).toBe(115_200);
    await probe.exchange(ack);
    expect(probe.chip.serialBaudRateBps).toBe(230_400);
  });
});
