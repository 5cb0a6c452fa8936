import { afterEach, describe, expect, it } from "vitest";
import { ackBytes, nackBytes } from "../../firmware-bridge/nfc/pn532-frame.ts";
import { Pn532, wakeUpPreamble } from "../../firmware-bridge/nfc/pn532.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { fromHex, hex, openHarness, rejectionCode, startedHarness, type Harness } from "./harness.ts";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const hostChunks = (h: Harness) => h.chip.wire.filter((record) => record.direction === "host").map((record) => hex(record.bytes));
const deviceBytes = (h: Harness) => hex(Uint8Array.from(h.chip.wire.filter((r) => r.direction === "device").flatMap((r) => [...r.bytes])));

describe("PN532 driver on the real SerialPortStream and the mock binding", () => {
  it("wakes the chip and configures the SAM with the exact bytes of a real exchange", async () => {
    harness = await openHarness();
    await harness.pn532.start();

    const wire = harness.chip.wire.map((record) => [record.direction, hex(record.bytes)]);
    expect(wire).toEqual([
      ["host", hex(Uint8Array.from([...wakeUpPreamble, ...fromHex("00 00 FF 03 FD D4 14 01 17 00")]))],
      ["device", "00 00 ff 00 ff 00"],
      ["device", "00 00 ff 02 fe d5 15 16 00"],
    ]);
  });

  it("reads the firmware version (PN532, 1.6)", async () => {
    harness = await startedHarness();
    expect(await harness.pn532.getFirmwareVersion()).toEqual({ ic: 0x32, version: 1, revision: 6, support: 7 });
  });

  it("finds the frame behind garbage bytes without resending", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ garbageBeforeFrames: 2 });
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
    expect(harness.chip.commandsSeen).toEqual([0x14, 0x02]);
  });

  it("reassembles answers sent one byte at a time", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ splitChunks: true });
    expect((await harness.pn532.getFirmwareVersion()).version).toBe(1);
  });

  it("resends a command the chip NACKs, up to retriesMax", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ nackCommands: 2 });
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
    expect(hostChunks(harness).slice(1)).toEqual(new Array(3).fill(hex(fromHex("00 00 FF 02 FE D4 02 2A 00"))));
  });

  it("gives up with NfcRetriesExhausted when every attempt is NACKed", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ nackCommands: 100 });
    expect(await rejectionCode(harness.pn532.getFirmwareVersion())).toBe(ErrorCode.NfcRetriesExhausted);
    expect(hostChunks(harness)).toHaveLength(1 + 4);
  });

  it("NACKs a response with a bad checksum and takes the retransmission", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ badChecksumResponses: 1 });
    expect((await harness.pn532.getFirmwareVersion()).revision).toBe(6);
    expect(hostChunks(harness).at(-1)).toBe(hex(nackBytes));
  });

  it("gives up with NfcRetriesExhausted when responses stay corrupt", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ badChecksumResponses: 100 });
    expect(await rejectionCode(harness.pn532.getFirmwareVersion())).toBe(ErrorCode.NfcRetriesExhausted);
  });

  it("resends a command the chip did not answer at all", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ silentCommands: 1 });
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
  });

  // How long the ACK waits take is a bench figure; here: the command is sent 1 + retriesMax times, then NfcTimeout.
  it("turns a silent chip into NfcTimeout after 1 + retriesMax unanswered sends", async () => {
    harness = await startedHarness({ ackTimeoutMs: 20, retriesMax: 2 });
    harness.chip.setFaults({ silentCommands: 100 });
    expect(await rejectionCode(harness.pn532.getFirmwareVersion())).toBe(ErrorCode.NfcTimeout);
    expect(hostChunks(harness).slice(1)).toEqual(new Array(3).fill(hex(fromHex("00 00 FF 02 FE D4 02 2A 00"))));
  });

  it("turns the application error frame into NfcApplicationError", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ applicationErrorCommands: 1 });
    expect(await rejectionCode(harness.pn532.getFirmwareVersion())).toBe(ErrorCode.NfcApplicationError);
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
  });

  it("aborts a command whose response never comes with an ACK frame, and the chip serves the next one", async () => {
    harness = await startedHarness();
    expect(await rejectionCode(harness.pn532.inListPassiveTarget({ timeoutMs: 50 }))).toBe(ErrorCode.NfcTimeout);
    expect(hostChunks(harness).at(-1)).toBe(hex(ackBytes));
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
  });

  it("cancels a waiting command through its AbortSignal", async () => {
    harness = await startedHarness();
    const controller = new AbortController();
    const waiting = harness.pn532.inListPassiveTarget({ timeoutMs: 5_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect(await rejectionCode(waiting)).toBe(ErrorCode.Cancelled);
  });

  it("runs one command at a time and refuses more than queueLengthMax", async () => {
    harness = await startedHarness({ queueLengthMax: 2 });
    const first = harness.pn532.getFirmwareVersion();
    const second = harness.pn532.getFirmwareVersion();
    const third = harness.pn532.getFirmwareVersion();
    expect(await rejectionCode(third)).toBe(ErrorCode.NfcQueueFull);
    await Promise.all([first, second]);
    expect(harness.chip.commandsSeen).toEqual([0x14, 0x02, 0x02]);
  });

  it("fails a waiting command with NfcPortClosed when the device is unplugged", async () => {
    harness = await startedHarness();
    const waiting = harness.pn532.inListPassiveTarget({ timeoutMs: 5_000 });
    setTimeout(() => harness!.binding.unplug("/dev/ttyS0"), 20);
    expect(await rejectionCode(waiting)).toBe(ErrorCode.NfcPortClosed);
    expect(await rejectionCode(harness.pn532.getFirmwareVersion())).toBe(ErrorCode.NfcPortClosed);
  });

  it("rejects out-of-range options with ConfigInvalid", async () => {
    harness = await openHarness();
    expect(() => new Pn532(harness!.port, { ackTimeoutMs: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    expect(() => new Pn532(harness!.port, { retriesMax: 1.5 })).toThrow(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
  });

  it("leaves the parser clean between commands even after noise", async () => {
    harness = await startedHarness();
    harness.chip.setFaults({ garbageBeforeFrames: 1, badChecksumResponses: 1, splitChunks: true });
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
    expect(deviceBytes(harness)).toContain("d5 03 32 01 06 07");
  });
});
