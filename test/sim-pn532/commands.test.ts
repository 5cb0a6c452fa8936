import { describe, expect, it } from "vitest";
import { ack, ChipProbe, libnfcWakeUp, ScriptedCard, ScriptedReader } from "./probe.ts";

// Status bytes and answer layouts: UM0701-02 §7 (command by command) and §7.1 (error codes); frames §6.2.1.1.
const syntaxError = "00 00 FF 01 FF 7F 81 00";
const getFirmwareVersion = "00 00 FF 02 FE D4 02 2A 00";
const firmwareVersion = "00 00 FF 06 FA D5 03 32 01 06 07 E8 00";
const inListPassiveTarget106A = "00 00 FF 04 FC D4 4A 01 00 E1 00";
const getGeneralStatus = "00 00 FF 02 FE D4 04 28 00";

async function awake(): Promise<ChipProbe> {
  const probe = new ChipProbe();
  await probe.open();
  return probe;
}

async function listedCard(): Promise<{ probe: ChipProbe; card: ScriptedCard }> {
  const probe = await awake();
  const card = new ScriptedCard();
  probe.chip.placeInField(card);
  await probe.exchange(inListPassiveTarget106A);
  return { probe, card };
}

describe("virtual PN532 register file (ReadRegister 06 / WriteRegister 08, §7.2.4–§7.2.5)", () => {
  it("accepts any address, reads an unwritten one as 00 and keeps what is written", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 04 FC D4 06 12 34 E0 00")).toBe(`${ack} 00 00 FF 03 FD D5 07 00 24 00`);
    expect(await probe.exchange("00 00 FF 05 FB D4 08 12 34 A5 39 00")).toBe(`${ack} 00 00 FF 02 FE D5 09 22 00`);
    expect(await probe.exchange("00 00 FF 04 FC D4 06 12 34 E0 00")).toBe(`${ack} 00 00 FF 03 FD D5 07 A5 7F 00`);
  });

  it("takes the stackguides card-emulation register sequence (ReadRegister 6305 630D 6338, then WriteRegister)", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 08 F8 D4 06 63 05 63 0D 63 38 B3 00")).toBe(`${ack} 00 00 FF 05 FB D5 07 00 00 00 24 00`);
    expect(await probe.exchange("00 00 FF 11 EF D4 08 63 02 80 63 03 80 63 05 04 63 0D 00 63 38 00 E2 00")).toBe(
      `${ack} 00 00 FF 02 FE D5 09 22 00`,
    );
    expect(await probe.exchange("00 00 FF 08 F8 D4 06 63 05 63 0D 63 38 B3 00")).toBe(`${ack} 00 00 FF 05 FB D5 07 04 00 00 20 00`);
  });

  it("shows the RF field switched by RFConfiguration item 01 in CIU_TxControl (nfcpy sense_ttf reads it)", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 04 FC D4 32 01 01 F8 00")).toBe(`${ack} 00 00 FF 02 FE D5 33 F8 00`);
    expect(await probe.exchange("00 00 FF 04 FC D4 06 63 04 BF 00")).toBe(`${ack} 00 00 FF 03 FD D5 07 03 21 00`);
    await probe.exchange("00 00 FF 04 FC D4 32 01 00 F9 00");
    expect(await probe.exchange("00 00 FF 04 FC D4 06 63 04 BF 00")).toBe(`${ack} 00 00 FF 03 FD D5 07 00 24 00`);
  });

  it("refuses malformed parameters with the syntax error frame", async () => {
    const probe = await awake();
    const malformed = [
      "00 00 FF 03 FD D4 06 63 C3 00", // ReadRegister with half an address
      "00 00 FF 05 FB D4 32 01 00 00 F9 00", // RFConfiguration RF field with two data bytes
      "00 00 FF 04 FC D4 32 03 00 F7 00", // RFConfiguration CfgItem 03 does not exist
      "00 00 FF 03 FD D4 14 02 16 00", // SAMConfiguration virtual card mode without its timeout
      "00 00 FF 03 FD D4 14 05 13 00", // SAMConfiguration mode 5
      "00 00 FF 04 FC D4 4A 03 00 DF 00", // InListPassiveTarget MaxTg 3 (1 or 2)
      "00 00 FF 04 FC D4 4A 01 05 DC 00", // InListPassiveTarget BrTy 5
      "00 00 FF 03 FD D4 00 03 29 00", // Diagnose NumTst 03 (no such test)
      "00 00 FF 05 FB D4 56 00 00 02 D4 00", // InJumpForDEP announcing an NFCID3i it does not carry
    ];
    for (const command of malformed) expect(await probe.exchange(command)).toBe(`${ack} ${syntaxError}`);
    expect(await probe.exchange("00 00 FF 04 FC D4 14 02 17 FF 00")).toBe(`${ack} 00 00 FF 02 FE D5 15 16 00`);
  });
});

describe("virtual PN532 Diagnose (00) and GetGeneralStatus (04), §7.2.1 and §7.2.3", () => {
  it("passes the ROM, RAM and antenna tests, fails every FeliCa poll of the polling test, and stays silent in echo-back", async () => {
    const probe = await awake();
    const passed = `${ack} 00 00 FF 03 FD D5 01 00 2A 00`;
    expect(await probe.exchange("00 00 FF 03 FD D4 00 01 2B 00")).toBe(passed);
    expect(await probe.exchange("00 00 FF 03 FD D4 00 02 2A 00")).toBe(passed);
    expect(await probe.exchange("00 00 FF 04 FC D4 00 07 00 25 00")).toBe(passed);
    // 128 FeliCa polls at 212 kbps, none answered: Result 0x80.
    expect(await probe.exchange("00 00 FF 04 FC D4 00 04 01 27 00")).toBe(`${ack} 00 00 FF 03 FD D5 01 80 AA 00`);
    // Echo-back runs until the next command and sends no response frame.
    expect(await probe.exchange("00 00 FF 06 FA D4 00 05 00 00 00 27 00")).toBe(ack);
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
  });

  it("reports Err, the external field, NbTg with each target (Tg, BrRx, BrTx, Type) and the SAM status", async () => {
    const probe = await awake();
    expect(await probe.exchange(getGeneralStatus)).toBe(`${ack} 00 00 FF 06 FA D5 05 00 00 00 00 26 00`);
    // Err is the status byte of the last command that reported one (InDataExchange 27: no target).
    await probe.exchange("00 00 FF 08 F8 D4 40 01 00 B0 00 00 00 3B 00");
    expect(await probe.exchange(getGeneralStatus)).toBe(`${ack} 00 00 FF 06 FA D5 05 27 00 00 00 FF 00`);
    // InListPassiveTarget reports no status byte, so Err still holds 27; the target is Tg 1, 106 kbps both ways, type A.
    probe.chip.placeInField(new ScriptedCard());
    await probe.exchange(inListPassiveTarget106A);
    expect(await probe.exchange(getGeneralStatus)).toBe(`${ack} 00 00 FF 0A F6 D5 05 27 00 01 01 00 00 00 00 FD 00`);
    // InRelease reports 00; a phone in reader mode makes an external field.
    probe.chip.placeInField(new ScriptedReader([]));
    await probe.exchange("00 00 FF 03 FD D4 52 00 DA 00");
    expect(await probe.exchange(getGeneralStatus)).toBe(`${ack} 00 00 FF 06 FA D5 05 00 01 00 00 25 00`);
  });
});

describe("virtual PN532 status bytes for commands out of context (§7.1)", () => {
  it("answers 27 to data exchange, release or selection of a target it does not have, and to target commands as initiator", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 08 F8 D4 40 01 00 B0 00 00 00 3B 00")).toBe(`${ack} 00 00 FF 03 FD D5 41 27 C3 00`);
    expect(await probe.exchange("00 00 FF 03 FD D4 52 02 D8 00")).toBe(`${ack} 00 00 FF 03 FD D5 53 27 B1 00`);
    expect(await probe.exchange("00 00 FF 03 FD D4 54 01 D7 00")).toBe(`${ack} 00 00 FF 03 FD D5 55 27 AF 00`);
    expect(await probe.exchange("00 00 FF 02 FE D4 86 A6 00")).toBe(`${ack} 00 00 FF 03 FD D5 87 27 7D 00`);
  });

  it("deselects a target (InDeselect 44), refuses data exchange until InSelect (54) brings it back, 01 once the card left", async () => {
    const { probe, card } = await listedCard();
    expect(await probe.exchange("00 00 FF 03 FD D4 44 01 E7 00")).toBe(`${ack} 00 00 FF 03 FD D5 45 00 E6 00`);
    expect(await probe.exchange("00 00 FF 08 F8 D4 40 01 00 B0 00 00 00 3B 00")).toBe(`${ack} 00 00 FF 03 FD D5 41 27 C3 00`);
    expect(await probe.exchange("00 00 FF 03 FD D4 54 01 D7 00")).toBe(`${ack} 00 00 FF 03 FD D5 55 00 D6 00`);
    expect(await probe.exchange("00 00 FF 08 F8 D4 40 01 00 B0 00 00 00 3B 00")).toBe(`${ack} 00 00 FF 05 FB D5 41 00 90 00 5A 00`);
    expect(card.received).toHaveLength(1);
    probe.chip.removeFromField();
    await probe.exchange("00 00 FF 03 FD D4 44 01 E7 00");
    expect(await probe.exchange("00 00 FF 03 FD D4 54 01 D7 00")).toBe(`${ack} 00 00 FF 03 FD D5 55 01 D5 00`);
  });

  it("answers 01 (timeout) to a data exchange with a card that left the field, and to an ATR_REQ the card ignores", async () => {
    const { probe } = await listedCard();
    probe.chip.removeFromField();
    expect(await probe.exchange("00 00 FF 08 F8 D4 40 01 00 B0 00 00 00 3B 00")).toBe(`${ack} 00 00 FF 03 FD D5 41 01 E9 00`);
    expect(await probe.exchange("00 00 FF 04 FC D4 50 01 00 DB 00")).toBe(`${ack} 00 00 FF 03 FD D5 51 01 D9 00`);
  });

  it("selects only the card whose UID the host names in InListPassiveTarget's InitiatorData", async () => {
    const probe = await awake();
    probe.chip.placeInField(new ScriptedCard());
    await probe.exchange("00 00 FF 06 FA D4 32 05 FF 01 00 F5 00");
    expect(await probe.exchange("00 00 FF 08 F8 D4 4A 01 00 08 12 34 57 3C 00")).toBe(`${ack} 00 00 FF 03 FD D5 4B 00 E0 00`);
    expect(await probe.exchange("00 00 FF 08 F8 D4 4A 01 00 08 12 34 56 3D 00")).toBe(
      `${ack} 00 00 FF 11 EF D5 4B 01 01 00 04 20 04 08 12 34 56 05 78 80 70 02 A3 00`,
    );
    // BrTy 01 (FeliCa 212 kbps, polling 00 FF FF 00 00): no FeliCa card here.
    expect(await probe.exchange("00 00 FF 09 F7 D4 4A 01 01 00 FF FF 00 00 E2 00")).toBe(`${ack} 00 00 FF 03 FD D5 4B 00 E0 00`);
  });

  it("finds no NFCIP-1 target: InJumpForDEP times out (01), InATR and InPSL are out of context (27), so is TgSetGeneralBytes", async () => {
    const probe = await awake();
    probe.chip.placeInField(new ScriptedCard());
    expect(await probe.exchange("00 00 FF 05 FB D4 56 00 00 00 D6 00")).toBe(`${ack} 00 00 FF 03 FD D5 57 01 D3 00`);
    expect(await probe.exchange("00 00 FF 04 FC D4 50 01 00 DB 00")).toBe(`${ack} 00 00 FF 03 FD D5 51 27 B3 00`);
    expect(await probe.exchange("00 00 FF 05 FB D4 4E 01 00 00 DD 00")).toBe(`${ack} 00 00 FF 03 FD D5 4F 27 B5 00`);
    expect(await probe.exchange("00 00 FF 05 FB D4 92 46 66 6D 81 00")).toBe(`${ack} 00 00 FF 03 FD D5 93 27 71 00`);
  });
});

describe("virtual PN532 power and test modes", () => {
  it("sends only the ACK to RFRegulationTest (58) and serves the next command (§7.3.2)", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 03 FD D4 58 00 D4 00")).toBe(ack);
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
  });

  it("stays asleep on HSU traffic after a PowerDown without the HSU wake-up source (WakeUpEnable 20 = SPI)", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 03 FD D4 16 20 F6 00")).toBe(`${ack} 00 00 FF 03 FD D5 17 00 14 00`);
    probe.write(libnfcWakeUp);
    expect(await probe.exchange(getFirmwareVersion)).toBe("");
  });

  it("wakes from PowerDown on an external RF field when WakeUpEnable has the RF level detector (08)", async () => {
    const probe = await awake();
    expect(await probe.exchange("00 00 FF 03 FD D4 16 08 0E 00")).toBe(`${ack} 00 00 FF 03 FD D5 17 00 14 00`);
    probe.chip.placeInField(new ScriptedReader([]));
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
  });
});
