import firmataIo from "firmata-io";
import { afterEach, describe, expect, it } from "vitest";
import { FirmataDecoder, PinMode, sysexDataBytesMax } from "../../simulator/firmata/firmata-decoder.ts";
import type { SerialLinkEnd } from "../../simulator/firmata/serial-link-pair.ts";
import { VirtualFirmataBoard } from "../../simulator/firmata/virtual-firmata-board.ts";
import { ManualClock } from "../../protocol/sources.ts";

const links: SerialLinkEnd[] = [];
afterEach(() => {
  for (const link of links.splice(0)) link.close();
});

/** firmata-io itself as the host, to check the board against the library the hub really uses. */
async function readyHost(clock = new ManualClock()) {
  const { board, transport } = VirtualFirmataBoard.withLink({ clock, firmwareName: "TapwirePanel" });
  links.push(transport);
  const io = new firmataIo.Firmata(transport);
  await new Promise<void>((resolve) => io.once("ready", () => resolve()));
  return { board, io, clock };
}

describe("VirtualFirmataBoard answers firmata-io's handshake", () => {
  it("reports version, firmware name and an Uno's pins", async () => {
    const { io } = await readyHost();

    expect(io.firmware).toEqual({ name: "TapwirePanel", version: { major: 2, minor: 5 } });
    expect(io.pins).toHaveLength(20);
    expect(io.pins[1]!.supportedModes).toEqual([]);
    expect(io.pins[5]!.supportedModes).toEqual(
      expect.arrayContaining([PinMode.INPUT, PinMode.OUTPUT, PinMode.PWM, PinMode.PULLUP]),
    );
    expect(io.pins[14]!.analogChannel).toBe(0);
  });

  it("keeps pin state, answers PIN_STATE_QUERY, and times output edges on its clock", async () => {
    const { board, io, clock } = await readyHost();
    const host = io as unknown as {
      pinMode(pin: number, mode: number): void;
      digitalWrite(pin: number, value: number): void;
      queryPinState(pin: number, callback: () => void): void;
    };

    host.pinMode(8, PinMode.OUTPUT);
    host.digitalWrite(8, 1);
    await board.waitUntil(() => board.ledOn(8), 1_000);
    clock.advance(250);
    host.digitalWrite(8, 0);
    await new Promise<void>((resolve) => host.queryPinState(8, resolve));

    expect(board.pinState(8)).toMatchObject({ mode: PinMode.OUTPUT, state: 0 });
    expect(io.pins[8]).toMatchObject({ mode: PinMode.OUTPUT, state: 0 });
    const edges = board.outputHistory(8);
    expect(edges.map((edge) => edge.on)).toEqual([true, false]);
    expect(edges[1]!.atMs - edges[0]!.atMs).toBe(250);
  });

  it("reports a pulled-up button going low when pressed, once per change", async () => {
    const { board, io } = await readyHost();
    const host = io as unknown as {
      pinMode(pin: number, mode: number): void;
      digitalRead(pin: number, callback: (value: number) => void): void;
    };
    const readings: number[] = [];
    let wake: { count: number; resolve: () => void } | null = null;
    const readingCount = (count: number) =>
      new Promise<void>((resolve) => (readings.length >= count ? resolve() : (wake = { count, resolve })));
    const onReading = (value: number) => {
      readings.push(value);
      if (wake !== null && readings.length >= wake.count) wake.resolve();
    };

    host.pinMode(2, PinMode.PULLUP);
    host.digitalRead(2, onReading);
    await readingCount(1);
    board.pressButton(2);
    board.pressButton(2);
    board.releaseButton(2);
    await readingCount(3);

    expect(readings).toEqual([1, 0, 1]);
  });

  it("refuses a mode the pin lacks, as StandardFirmata does", async () => {
    const { board, io } = await readyHost();
    const message = new Promise<string>((resolve) => io.once("string", resolve));

    (io as unknown as { pinMode(pin: number, mode: number): void }).pinMode(4, PinMode.PWM);

    expect(await message).toBe("Unknown pin mode");
    expect(board.pinState(4).mode).toBe(PinMode.OUTPUT);
  });
});

describe("FirmataDecoder", () => {
  it("resynchronises after garbage, a cut-short message and an oversized sysex", () => {
    const decoder = new FirmataDecoder();
    const oversized = [0xf0, 0x71, ...new Array<number>(sysexDataBytesMax + 5).fill(0x41), 0xf7];

    const commands = decoder.push(
      Uint8Array.from([0x12, 0x34, 0xf4, 0x05, 0x91, 0x01, 0x00, ...oversized, 0xf4, 0x08, 0x01, 0xf9]),
    );

    expect(commands).toEqual([
      { kind: "digitalPort", port: 1, value: 1 },
      { kind: "pinMode", pin: 8, mode: 1 },
      { kind: "reportVersion" },
    ]);
    expect(decoder.droppedBytes).toBeGreaterThan(0);
  });

  it("decodes a message split across chunks", () => {
    const decoder = new FirmataDecoder();

    expect(decoder.push(Uint8Array.from([0xf0, 0x6d]))).toEqual([]);
    expect(decoder.push(Uint8Array.from([0x08, 0xf7, 0xe5]))).toEqual([{ kind: "sysex", command: 0x6d, data: [8] }]);
    expect(decoder.push(Uint8Array.from([0x7f, 0x01]))).toEqual([{ kind: "analogWrite", pin: 5, value: 255 }]);
  });
});
