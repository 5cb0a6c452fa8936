import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import type { TagLink, VirtualReader } from "../../simulator/pn532/field.ts";
import { ack, ChipProbe, fromHex, hex, informationFrame, ScriptedReader, settle } from "./probe.ts";

// Card emulation, UM0701-02 §7.3.14 (TgInitAsTarget) to §7.3.21 (TgGetTargetStatus).
const selectNdefApplication = fromHex("00 A4 04 00 07 D2 76 00 00 85 01 01 00");
const host = (data: number[]): Uint8Array => informationFrame(0xd4, data);
const chip = (data: number[]): string => hex(informationFrame(0xd5, data));
// The stackguides question "The PN532 configured as target has been released by its initiator": mode 05 (PICC only,
// passive only), SENS_RES 04 00, NFCID1 12 34 56, SEL_RES 20, the rest zero; LEN 27 as in that trace.
const tgInitAsTarget =
  "00 00 FF 27 D9 D4 8C 05 04 00 12 34 56 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 DB 00";
const tgGetData = "00 00 FF 02 FE D4 86 A6 00";
const tgGetTargetStatus = "00 00 FF 02 FE D4 8A A2 00";

describe("virtual PN532 as an ISO/IEC 14443-4 tag", () => {
  it("replays the stackguides trace with a phone that stays: activation, the C-APDU, the R-APDU, then 29 once it leaves", async () => {
    const probe = new ChipProbe();
    await probe.open();
    const phone = new ScriptedReader([selectNdefApplication]);
    probe.chip.placeInField(phone);
    // SetParameters 30: automatic RATS, ISO/IEC 14443-4 PICC emulation.
    expect(await probe.exchange("00 00 FF 03 FD D4 12 30 EA 00")).toBe(`${ack} 00 00 FF 02 FE D5 13 18 00`);
    // Mode 08 = 106 kbps, ISO/IEC 14443-4 PICC; the initiator's first command was RATS E0 80 ("D58D 08 E0 80" there).
    expect(await probe.exchange(tgInitAsTarget)).toBe(`${ack} 00 00 FF 05 FB D5 8D 08 E0 80 36 00`);
    expect(await probe.exchange(tgGetTargetStatus)).toBe(`${ack} 00 00 FF 04 FC D5 8B 81 00 1F 00`);
    expect(await probe.exchange(tgGetData)).toBe(`${ack} 00 00 FF 10 F0 D5 87 00 00 A4 04 00 07 D2 76 00 00 85 01 01 00 26 00`);
    expect(await probe.exchange("00 00 FF 04 FC D4 8E 90 00 0E 00")).toBe(`${ack} 00 00 FF 03 FD D5 8F 00 9C 00`);
    await settle();
    expect(phone.answers.map((answer) => hex(answer))).toEqual(["90 00"]);
    probe.chip.removeFromField();
    // 0x29: "the PN532 configured as target has been released by its initiator"; state PICC_RELEASED.
    expect(await probe.exchange(tgGetData)).toBe(`${ack} 00 00 FF 03 FD D5 87 29 7B 00`);
    expect(await probe.exchange(tgGetTargetStatus)).toBe(`${ack} 00 00 FF 04 FC D5 8B 80 00 20 00`);
  });

  it("waits in TgInitAsTarget until a reader comes, and reports 25 for a TgSetData no fetched C-APDU waits for", async () => {
    const probe = new ChipProbe();
    await probe.open();
    expect(await probe.exchange(tgGetTargetStatus)).toBe(`${ack} 00 00 FF 04 FC D5 8B 00 00 A0 00`);
    expect(await probe.exchange(tgInitAsTarget)).toBe(ack);
    const phone = new ScriptedReader([selectNdefApplication, selectNdefApplication]);
    probe.chip.placeInField(phone);
    expect(await probe.read()).toBe("00 00 FF 05 FB D5 8D 08 E0 80 36 00");
    await probe.exchange(tgGetData);
    await probe.exchange("00 00 FF 04 FC D4 8E 90 00 0E 00");
    // The phone's second C-APDU is there but the host has not fetched it: its TgSetData answers nothing.
    expect(await probe.exchange("00 00 FF 04 FC D4 8E 90 00 0E 00")).toBe(`${ack} 00 00 FF 03 FD D5 8F 25 77 00`);
    probe.chip.removeFromField();
  });

  it("lets the host run ISO-DEP itself without PICC emulation (nfcpy listen_tta): ATS and I-blocks through 90 / 88", async () => {
    const probe = new ChipProbe();
    await probe.open();
    const phone = new ScriptedReader([selectNdefApplication]);
    probe.chip.placeInField(phone);
    expect(await probe.exchange("00 00 FF 03 FD D4 12 00 1A 00")).toBe(`${ack} 00 00 FF 02 FE D5 13 18 00`);
    // nfcpy: mode 1, nfca_params 04 00 12 34 56 20, nfcf_params 00..11, NFCID3t = nfcf_params[0:8] + 00 00, no Gt, no Tk.
    const felica = Array.from({ length: 18 }, (_, i) => i);
    const init = [0x8c, 0x01, 0x04, 0x00, 0x12, 0x34, 0x56, 0x20, ...felica, ...felica.slice(0, 8), 0x00, 0x00, 0x00, 0x00];
    // Mode 00: 106 kbps type A without the PICC bit; the host must answer the RATS itself.
    expect(await probe.exchange(host(init))).toBe(`${ack} 00 00 FF 05 FB D5 8D 00 E0 80 3E 00`);
    expect(await probe.exchange("00 00 FF 07 F9 D4 90 05 78 80 70 02 2D 00")).toBe(`${ack} 00 00 FF 03 FD D5 91 00 9A 00`);
    expect(await probe.exchange("00 00 FF 02 FE D4 88 A4 00")).toBe(
      `${ack} 00 00 FF 11 EF D5 89 00 02 00 A4 04 00 07 D2 76 00 00 85 01 01 00 22 00`,
    );
    expect(await probe.exchange("00 00 FF 05 FB D4 90 02 90 00 0A 00")).toBe(`${ack} 00 00 FF 03 FD D5 91 00 9A 00`);
    await settle();
    expect(phone.answers.map((answer) => hex(answer))).toEqual(["90 00"]);
    // TgGetData belongs to PICC emulation or DEP: not in this context.
    expect(await probe.exchange(tgGetData)).toBe(`${ack} 00 00 FF 03 FD D5 87 27 7D 00`);
  });

  it("ends the emulation on InRelease 0 (libnfc pn53x_idle): the phone loses the tag and TgGetData is out of context", async () => {
    const probe = new ChipProbe();
    await probe.open();
    let failure: unknown;
    const phone: VirtualReader = {
      role: "reader",
      read: (tag: TagLink) =>
        tag.transceive(selectNdefApplication, 5_000).then(
          () => undefined,
          (error: unknown) => void (failure = error),
        ),
    };
    probe.chip.placeInField(phone);
    await probe.exchange(tgInitAsTarget);
    await settle();
    expect(await probe.exchange("00 00 FF 03 FD D4 52 00 DA 00")).toBe(`${ack} 00 00 FF 03 FD D5 53 00 D8 00`);
    await settle();
    expect(failure).toMatchObject({ code: ErrorCode.NfcTargetLost });
    expect(await probe.exchange(tgGetData)).toBe(`${ack} 00 00 FF 03 FD D5 87 27 7D 00`);
    expect(await probe.exchange(host([0x8e, 0x90, 0x00]))).toBe(`${ack} ${chip([0x8f, 0x27])}`);
  });
});
