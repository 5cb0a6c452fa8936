import firmataIo from "firmata-io";
import { afterEach, describe, expect, it } from "vitest";
import { PinMode } from "../../simulator/firmata/firmata-protocol.ts";
import type { SerialLinkEnd } from "../../simulator/firmata/serial-link-pair.ts";
import { VirtualFirmataBoard } from "../../simulator/firmata/virtual-firmata-board.ts";
import { ManualClock } from "../../core/sources.ts";

const links: SerialLinkEnd[] = [];
afterEach(() => {
  for (const link of links.splice(0)) link.close();
});

/** The parts of firmata-io's host API these tests drive (its typings in firmware-bridge cover only the panel's). */
interface FirmataHost {
  pinMode(pin: number, mode: number): void;
  digitalWrite(pin: number, value: number): void;
  digitalRead(pin: number, callback: (value: number) => void): void;
  analogRead(pin: number, callback: (value: number) => void): void;
  setSamplingInterval(intervalMs: number): void;
  queryPinState(pin: number, callback: () => void): void;
}

/** firmata-io itself as the host, the library johnny-five and the hub use, to check the board against it. */
async function readyHost(clock = new ManualClock()) {
  const { board, transport } = VirtualFirmataBoard.withLink({ clock, firmwareName: "TapwirePanel" });
  links.push(transport);
  const io = new firmataIo.Firmata(transport);
  await new Promise<void>((resolve) => io.once("ready", () => resolve()));
  return { board, io, host: io as unknown as FirmataHost, clock };
}

/** Collects a host callback's values; `count(n)` resolves once n have arrived. */
function readings() {
  const values: number[] = [];
  let wake: { count: number; resolve: () => void } | null = null;
  return {
    values,
    push: (value: number) => {
      values.push(value);
      if (wake !== null && values.length >= wake.count) wake.resolve();
    },
    count: (count: number) =>
      new Promise<void>((resolve) => (values.length >= count ? resolve() : (wake = { count, resolve }))),
  };
}

describe("VirtualFirmataBoard under firmata-io", () => {
  it("answers the handshake: version, firmware name and an Uno's pins", async () => {
    const { io } = await readyHost();

    expect(io.firmware).toEqual({ name: "TapwirePanel", version: { major: 2, minor: 5 } });
    expect(io.pins).toHaveLength(20);
    expect(io.pins[1]!.supportedModes).toEqual([]);
    expect(io.pins[5]!.supportedModes).toEqual(
      expect.arrayContaining([PinMode.INPUT, PinMode.OUTPUT, PinMode.PWM, PinMode.PULLUP, PinMode.SERVO]),
    );
    expect(io.pins[4]!.supportedModes).not.toContain(PinMode.PWM);
    expect(io.pins[14]!.analogChannel).toBe(0);
    expect(io.pins[13]!.analogChannel).toBe(127);
  });

  it("keeps pin state, answers PIN_STATE_QUERY, and times output edges on its clock", async () => {
    const { board, io, host, clock } = await readyHost();

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
    const { board, host } = await readyHost();
    const button = readings();

    host.pinMode(2, PinMode.PULLUP);
    host.digitalRead(2, button.push);
    await button.count(1);
    board.pressButton(2);
    board.pressButton(2);
    board.releaseButton(2);
    await button.count(3);

    expect(button.values).toEqual([1, 0, 1]);
  });

  it("streams an analog input: at once, then at the host's sampling interval", async () => {
    const { board, host } = await readyHost();
    const sensor = readings();
    board.setAnalogInput(0, 300);

    host.setSamplingInterval(50);
    host.analogRead(0, sensor.push);
    await sensor.count(1);
    board.setAnalogInput(0, 700);
    board.elapse(50);
    board.elapse(1);
    await sensor.count(2);

    expect(sensor.values).toEqual([300, 700]);
  });

  it("refuses a mode the sketch does not know with its string; a mode the pin lacks leaves it as it was", async () => {
    const { board, io, host } = await readyHost();
    const message = new Promise<string>((resolve) => io.once("string", resolve));

    host.pinMode(4, PinMode.PWM);
    host.pinMode(4, PinMode.STEPPER);

    expect(await message).toBe("Unknown pin mode");
    expect(board.pinState(4).mode).toBe(PinMode.OUTPUT);
  });
});
