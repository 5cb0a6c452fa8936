import { describe, expect, it } from "vitest";
import { ack, ChipProbe, libnfcWakeUp, ScriptedCard } from "./probe.ts";

// Frames below are the exact bytes each host stack writes (command codes and parameters from its source, framing by
// UM0701-02 §6.2.1.1); the answers are what the chip returns per UM0701-02 §7.
const getFirmwareVersion = "00 00 FF 02 FE D4 02 2A 00";
const firmwareVersion = "00 00 FF 06 FA D5 03 32 01 06 07 E8 00";
const rfConfigurationDone = "00 00 FF 02 FE D5 33 F8 00";
const inListPassiveTarget106A = "00 00 FF 04 FC D4 4A 01 00 E1 00";
// NbTg 1, Tg 1, SENS_RES 00 04, SEL_RES 20, NFCIDLength 4, NFCID1 08 12 34 56, ATS 05 78 80 70 02 (§7.3.5).
const listedWithAts = "00 00 FF 11 EF D5 4B 01 01 00 04 20 04 08 12 34 56 05 78 80 70 02 A3 00";
const noTargetListed = "00 00 FF 03 FD D5 4B 00 E0 00";

describe("libnfc pn532_uart open and initiator use (libnfc/drivers/pn532_uart.c, libnfc/chips/pn53x.c)", () => {
  it("answers check_communication, pn53x_init and the register write-back exactly", async () => {
    const probe = new ChipProbe();
    // pn532_uart_send in LowVBat: wake-up, then SAMConfiguration normal mode.
    expect(await probe.open()).toBe(`${ack} 00 00 FF 02 FE D5 15 16 00`);
    // pn53x_check_communication: Diagnose NumTst 00 with "libnfc", echoed as NumTst + InParam (§7.2.1).
    expect(await probe.exchange("00 00 FF 09 F7 D4 00 00 6C 69 62 6E 66 63 BE 00")).toBe(
      `${ack} 00 00 FF 09 F7 D5 01 00 6C 69 62 6E 66 63 BC 00`,
    );
    // pn53x_decode_firmware_version: 4 bytes, IC 0x32 = PN532.
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
    // pn53x_SetParameters(PARAM_AUTO_ATR_RES | PARAM_AUTO_RATS).
    expect(await probe.exchange("00 00 FF 03 FD D4 12 14 06 00")).toBe(`${ack} 00 00 FF 02 FE D5 13 18 00`);
    // pn53x_writeback_register: reads CIU_Status2, CIU_Control, CIU_BitFraming (masked writes), then writes Control.
    expect(await probe.exchange("00 00 FF 08 F8 D4 06 63 38 63 3C 63 3D 4C 00")).toBe(`${ack} 00 00 FF 05 FB D5 07 00 00 00 24 00`);
    expect(await probe.exchange("00 00 FF 05 FB D4 08 63 3C 10 75 00")).toBe(`${ack} 00 00 FF 02 FE D5 09 22 00`);
    // The written value stays: CIU_Control reads back 0x10.
    expect(await probe.exchange("00 00 FF 04 FC D4 06 63 3C 87 00")).toBe(`${ack} 00 00 FF 03 FD D5 07 10 14 00`);
  });

  it("configures the field, lists a card, checks its presence, deselects, releases and powers down", async () => {
    const probe = new ChipProbe();
    await probe.open();
    // pn53x_RFConfiguration__RF_field(false), __MaxRetries(FF, FF, FF) for NP_INFINITE_SELECT, __RF_field(true).
    expect(await probe.exchange("00 00 FF 04 FC D4 32 01 00 F9 00")).toBe(`${ack} ${rfConfigurationDone}`);
    expect(await probe.exchange("00 00 FF 06 FA D4 32 05 FF FF FF F8 00")).toBe(`${ack} ${rfConfigurationDone}`);
    expect(await probe.exchange("00 00 FF 04 FC D4 32 01 01 F8 00")).toBe(`${ack} ${rfConfigurationDone}`);
    // pn53x_InListPassiveTarget(PM_ISO14443A_106, 1): infinite retries, so the chip waits for the card.
    expect(await probe.exchange(inListPassiveTarget106A)).toBe(ack);
    const card = new ScriptedCard();
    probe.chip.placeInField(card);
    expect(await probe.read()).toBe(listedWithAts);
    // pn53x_initiator_target_is_present: Diagnose NumTst 06, one result byte (0x00 = still there, else a status).
    expect(await probe.exchange("00 00 FF 03 FD D4 00 06 26 00")).toBe(`${ack} 00 00 FF 03 FD D5 01 00 2A 00`);
    probe.chip.removeFromField();
    expect(await probe.exchange("00 00 FF 03 FD D4 00 06 26 00")).toBe(`${ack} 00 00 FF 03 FD D5 01 01 29 00`);
    // pn53x_initiator_deselect_target and pn53x_idle: InDeselect 0 and InRelease 0 (0 = all targets).
    expect(await probe.exchange("00 00 FF 03 FD D4 44 00 E8 00")).toBe(`${ack} 00 00 FF 03 FD D5 45 00 E6 00`);
    expect(await probe.exchange("00 00 FF 03 FD D4 52 00 DA 00")).toBe(`${ack} 00 00 FF 03 FD D5 53 00 D8 00`);
    // pn53x_PowerDown(0xF0), then the chip sleeps: the next frame needs pn532_uart_wakeup first.
    expect(await probe.exchange("00 00 FF 03 FD D4 16 F0 26 00")).toBe(`${ack} 00 00 FF 03 FD D5 17 00 14 00`);
    expect(await probe.exchange(getFirmwareVersion)).toBe("");
    probe.write(libnfcWakeUp);
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
  });

  it("polls with InAutoPoll as pn53x_initiator_poll_target does (types 20 then 10, nfc-poll's PollNr 20, Period 2)", async () => {
    const probe = new ChipProbe();
    await probe.open();
    const autoPoll = "00 00 FF 06 FA D4 60 14 02 20 10 86 00";
    // No target: NbTg 0 at once (PollNr is finite; Period is not modelled, no time passes in the chip).
    expect(await probe.exchange(autoPoll)).toBe(`${ack} 00 00 FF 03 FD D5 61 00 CA 00`);
    probe.chip.placeInField(new ScriptedCard());
    // NbTg 1, Type 20 (106 kbps ISO/IEC 14443-4A), AutoPollTargetData length 0E, then the InListPassiveTarget data (§7.3.13).
    expect(await probe.exchange(autoPoll)).toBe(
      `${ack} 00 00 FF 13 ED D5 61 01 20 0E 01 00 04 20 04 08 12 34 56 05 78 80 70 02 5F 00`,
    );
  });

  it("waits on an endless InAutoPoll (PollNr FF) until a card comes, and reports a Mifare poll without ATS", async () => {
    const probe = new ChipProbe();
    await probe.open();
    expect(await probe.exchange("00 00 FF 05 FB D4 60 FF 01 20 AC 00")).toBe(ack);
    probe.chip.placeInField(new ScriptedCard());
    expect(await probe.read()).toBe("00 00 FF 13 ED D5 61 01 20 0E 01 00 04 20 04 08 12 34 56 05 78 80 70 02 5F 00");
    expect(await probe.exchange("00 00 FF 05 FB D4 60 01 01 10 BA 00")).toBe(
      `${ack} 00 00 FF 0E F2 D5 61 01 10 09 01 00 04 20 04 08 12 34 56 E3 00`,
    );
  });
});

describe("Adafruit-PN532 sketch calls (Adafruit_PN532.cpp), after the HSU wake-up", () => {
  it("answers getFirmwareVersion, SAMConfig, setPassiveActivationRetries, readPassiveTargetID and inDataExchange", async () => {
    const probe = new ChipProbe();
    probe.write(libnfcWakeUp);
    // getFirmwareVersion checks the answer starts 00 FF 06 FA D5 03 (pn532response_firmwarevers).
    expect(await probe.exchange(getFirmwareVersion)).toBe(`${ack} ${firmwareVersion}`);
    // SAMConfig: normal mode, timeout 0x14 (1 s), use IRQ: answer code 0x15.
    expect(await probe.exchange("00 00 FF 05 FB D4 14 01 14 01 02 00")).toBe(`${ack} 00 00 FF 02 FE D5 15 16 00`);
    // setPassiveActivationRetries(5): RFConfiguration item 5 = FF 01 05.
    expect(await probe.exchange("00 00 FF 06 FA D4 32 05 FF 01 05 F0 00")).toBe(`${ack} ${rfConfigurationDone}`);
    // readPassiveTargetID with nothing in the field: finite retries, so NbTg 0 comes back instead of a wait.
    expect(await probe.exchange(inListPassiveTarget106A)).toBe(`${ack} ${noTargetListed}`);
    const card = new ScriptedCard();
    probe.chip.placeInField(card);
    expect(await probe.exchange(inListPassiveTarget106A)).toBe(`${ack} ${listedWithAts}`);
    // inDataExchange to _inListedTag 1: SELECT AID F0 01 02 03 04 05 06; status 00 then the card's 90 00.
    expect(await probe.exchange("00 00 FF 10 F0 D4 40 01 00 A4 04 00 07 F0 01 02 03 04 05 06 00 37 00")).toBe(
      `${ack} 00 00 FF 05 FB D5 41 00 90 00 5A 00`,
    );
    expect(card.received.map((apdu) => Buffer.from(apdu).toString("hex"))).toEqual(["00a4040007f0010203040506" + "00"]);
  });

  it("keeps writeGPIO's P3 pins (P32, P34 forced high) and reports the HSU interface in ReadGPIO", async () => {
    const probe = new ChipProbe();
    await probe.open();
    // Port latches reset high: P3 = 3F, P7 = 06 (P71, P72); IOI1 00 = UART per Adafruit's readGPIO comment.
    expect(await probe.exchange("00 00 FF 02 FE D4 0C 20 00")).toBe(`${ack} 00 00 FF 05 FB D5 0D 3F 06 00 D9 00`);
    // writeGPIO(0x01): validation bit | P30 | P32 | P34 = 95, P7 00 (not validated, left alone).
    expect(await probe.exchange("00 00 FF 04 FC D4 0E 95 00 89 00")).toBe(`${ack} 00 00 FF 02 FE D5 0F 1C 00`);
    expect(await probe.exchange("00 00 FF 02 FE D4 0C 20 00")).toBe(`${ack} 00 00 FF 05 FB D5 0D 15 06 00 03 00`);
  });
});

describe("nfcpy pn532 Device (nfcpy clf/pn532.py, clf/pn53x.py)", () => {
  it("answers the device setup: SetParameters 0, RFConfiguration timings, retries and all analog settings, mute", async () => {
    const probe = new ChipProbe();
    await probe.open();
    expect(await probe.exchange("00 00 FF 03 FD D4 12 00 1A 00")).toBe(`${ack} 00 00 FF 02 FE D5 13 18 00`);
    const rfConfigurations = [
      "00 00 FF 06 FA D4 32 02 00 0B 0A E3 00", // various timings: RFU, ATR_RES 0B, retry 0A
      "00 00 FF 04 FC D4 32 04 00 F6 00", // MaxRtyCOM 0
      "00 00 FF 06 FA D4 32 05 01 00 01 F3 00", // MaxRetries ATR 1, PSL 0, passive activation 1
      "00 00 FF 0E F2 D4 32 0A 59 F4 3F 11 4D 85 61 6F 26 62 87 A2 00", // analog, type A 106 kbps
      "00 00 FF 0B F5 D4 32 0B 69 FF 3F 11 41 85 61 6F A1 00", // analog, 212/424 kbps
      "00 00 FF 06 FA D4 32 0C FF 04 85 66 00", // analog, type B
      "00 00 FF 0C F4 D4 32 0D 85 15 8A 85 08 B2 85 01 DA 2A 00", // analog, 212/424/848 kbps ISO/IEC 14443-4
      "00 00 FF 04 FC D4 32 01 02 F7 00", // mute(): RF field off, AutoRFCA
    ];
    for (const command of rfConfigurations) expect(await probe.exchange(command)).toBe(`${ack} ${rfConfigurationDone}`);
  });

  it("senses an empty field (SENS_REQ left in the CIU FIFO), then a card it activates itself with RATS over InCommunicateThru", async () => {
    const probe = new ChipProbe();
    await probe.open();
    await probe.exchange("00 00 FF 03 FD D4 12 00 1A 00");
    await probe.exchange("00 00 FF 06 FA D4 32 05 01 00 01 F3 00");
    // sense_tta: in_list_passive_target(1, 0, ""), then read_register("CIU_FIFOData") == 0x26 means no tag.
    expect(await probe.exchange(inListPassiveTarget106A)).toBe(`${ack} ${noTargetListed}`);
    expect(await probe.exchange("00 00 FF 04 FC D4 06 63 39 8A 00")).toBe(`${ack} 00 00 FF 03 FD D5 07 26 FE 00`);
    const card = new ScriptedCard();
    probe.chip.placeInField(card);
    // Without fAutomaticRATS the target data carries no ATS.
    expect(await probe.exchange(inListPassiveTarget106A)).toBe(`${ack} 00 00 FF 0C F4 D5 4B 01 01 00 04 20 04 08 12 34 56 12 00`);
    // send_cmd_recv_rsp: read TxMode, RxMode, TxAuto; write them for 106A; set the response timeout.
    expect(await probe.exchange("00 00 FF 08 F8 D4 06 63 02 63 03 63 05 F3 00")).toBe(`${ack} 00 00 FF 05 FB D5 07 00 00 00 24 00`);
    expect(await probe.exchange("00 00 FF 0B F5 D4 08 63 02 00 63 03 00 63 05 40 B1 00")).toBe(`${ack} 00 00 FF 02 FE D5 09 22 00`);
    expect(await probe.exchange("00 00 FF 06 FA D4 32 02 0A 0B 0B D8 00")).toBe(`${ack} ${rfConfigurationDone}`);
    // RATS E0 80 → ATS; I-block 02 SELECT NDEF application → I-block 02 with 90 00; S(DESELECT) C2 → C2.
    expect(await probe.exchange("00 00 FF 04 FC D4 42 E0 80 8A 00")).toBe(`${ack} 00 00 FF 08 F8 D5 43 00 05 78 80 70 02 79 00`);
    expect(await probe.exchange("00 00 FF 10 F0 D4 42 02 00 A4 04 00 07 D2 76 00 00 85 01 01 00 6A 00")).toBe(
      `${ack} 00 00 FF 06 FA D5 43 00 02 90 00 56 00`,
    );
    expect(await probe.exchange("00 00 FF 03 FD D4 42 C2 28 00")).toBe(`${ack} 00 00 FF 04 FC D5 43 00 C2 26 00`);
    expect(card.received).toHaveLength(1);
  });
});
