import { createRequire } from "node:module";
import type { SerialPort } from "serialport";
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { HubPanel, type FirmataTransport } from "../../firmware-bridge/gpio/hub-panel.ts";
import type { HubPanelConfigInput } from "../../firmware-bridge/gpio/hub-panel-config.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { createSerialLinkPair, type SerialLinkEnd } from "../../simulator/firmata/serial-link-pair.ts";
import {
  VirtualFirmataBoard,
  type OutputEdge,
  type VirtualFirmataBoardOptions,
} from "../../simulator/firmata/virtual-firmata-board.ts";

// Green and red sit on PWM pins (johnny-five drives them with analogWrite), amber and blue on plain digital
// pins; the button shares port 0 with the LEDs, so LED writes must not drop its pull-up.
const pins = { green: 5, red: 6, amber: 7, blue: 4, buzzer: 8, cancelButton: 2 };
const beepTimings = { shortMs: 20, longMs: 120, gapMs: 20 };
const waitMs = 2_000;

const running: Array<{ panel: HubPanel; transport: SerialLinkEnd }> = [];

afterEach(async () => {
  for (const { panel, transport } of running.splice(0)) {
    await panel.stop();
    transport.close();
  }
  vi.restoreAllMocks();
});

function panelOnVirtualBoard(config: Partial<HubPanelConfigInput> = {}, boardOptions: VirtualFirmataBoardOptions = {}) {
  const { board, transport } = VirtualFirmataBoard.withLink(boardOptions);
  const panel = new HubPanel(transport, { pins, debounceMs: 15, beepTimings, readyTimeoutMs: 3_000, ...config });
  running.push({ panel, transport });
  return { board, panel, transport };
}

async function startedPanel(config: Partial<HubPanelConfigInput> = {}) {
  const setup = panelOnVirtualBoard(config);
  await setup.panel.start();
  return setup;
}

/** On-periods in milliseconds from a pin's edge history. */
function onPeriodsMs(edges: readonly OutputEdge[]): number[] {
  const periods: number[] = [];
  for (let index = 0; index + 1 < edges.length; index += 2) {
    expect(edges[index]!.on).toBe(true);
    expect(edges[index + 1]!.on).toBe(false);
    periods.push(edges[index + 1]!.atMs - edges[index]!.atMs);
  }
  return periods;
}

function lit(board: VirtualFirmataBoard): string[] {
  return (["green", "red", "amber", "blue"] as const).filter((role) => board.ledOn(pins[role]));
}

async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return isTapwireError(error) ? error.code : -1;
  }
}

describe("HubPanel over johnny-five, firmata-io and the virtual Firmata board", () => {
  it("approved lights green alone and beeps once, short", async () => {
    const { board, panel } = await startedPanel();
    panel.showState("waiting");
    await board.waitUntil(() => board.ledOn(pins.amber), waitMs);

    panel.showState("approved");
    await panel.beep("approved");
    await board.waitUntil(() => board.outputHistory(pins.buzzer).length === 2, waitMs);

    expect(lit(board)).toEqual(["green"]);
    const periods = onPeriodsMs(board.outputHistory(pins.buzzer));
    expect(periods).toHaveLength(1);
    expect(periods[0]).toBeGreaterThanOrEqual(beepTimings.shortMs - 2);
    expect(board.droppedBytes).toBe(0);
  });

  it("declined lights red alone and beeps twice, long", async () => {
    const { board, panel } = await startedPanel();

    panel.showState("declined");
    await panel.beep("declined");
    await board.waitUntil(() => board.outputHistory(pins.buzzer).length === 4, waitMs);

    expect(lit(board)).toEqual(["red"]);
    const periods = onPeriodsMs(board.outputHistory(pins.buzzer));
    expect(periods).toHaveLength(2);
    for (const period of periods) expect(period).toBeGreaterThanOrEqual(beepTimings.longMs - 2);
  });

  it("error lights red and beeps three times; blue shows online independently", async () => {
    const { board, panel } = await startedPanel();

    panel.showOnline(true);
    panel.showState("error");
    await panel.beep("error");
    await board.waitUntil(() => board.outputHistory(pins.buzzer).length === 6, waitMs);
    expect(lit(board)).toEqual(["red", "blue"]);

    panel.showState("idle");
    panel.showOnline(false);
    await board.waitUntil(() => lit(board).length === 0, waitMs);
    expect(onPeriodsMs(board.outputHistory(pins.buzzer))).toHaveLength(3);
  });

  it("an aborted beep leaves the buzzer off", async () => {
    const { board, panel } = await startedPanel({ beepTimings: { shortMs: 20, longMs: 5_000, gapMs: 20 } });
    const abort = new AbortController();

    const beeping = panel.beep("declined", { signal: abort.signal });
    await board.waitUntil(() => board.ledOn(pins.buzzer), waitMs);
    abort.abort();
    await beeping;
    await board.waitUntil(() => !board.ledOn(pins.buzzer), waitMs);

    expect(board.outputHistory(pins.buzzer).map((edge) => edge.on)).toEqual([true, false]);
  });

  it("a bouncing press of the cancel button emits cancel exactly once per press", async () => {
    const { board, panel } = await startedPanel();
    const cancelsAtPress: number[] = [];
    let press = 0;
    const unsubscribe = panel.onCancel(() => cancelsAtPress.push(press));
    const cancelled = () => new Promise<void>((resolve) => panel.once("cancel", resolve));

    press = 1;
    let next = cancelled();
    for (const down of [true, false, true, false, true]) {
      if (down) board.pressButton(pins.cancelButton);
      else board.releaseButton(pins.cancelButton);
    }
    await next;
    board.releaseButton(pins.cancelButton);
    board.pressButton(pins.cancelButton);
    board.releaseButton(pins.cancelButton);
    // Long enough for the release to settle, so the next press is a new one.
    await new Promise((resolve) => setTimeout(resolve, 60));

    press = 2;
    next = cancelled();
    board.pressButton(pins.cancelButton);
    await next;
    board.releaseButton(pins.cancelButton);
    unsubscribe();

    expect(cancelsAtPress).toEqual([1, 2]);
  });

  it("a button wired to the supply with a pull-down (buttonWiring: pulldown) cancels too", async () => {
    const { board, panel } = await startedPanel({ buttonWiring: "pulldown" });
    const cancelled = new Promise<void>((resolve) => panel.once("cancel", resolve));

    board.pressButton(pins.cancelButton);
    await cancelled;

    expect(board.pinState(pins.cancelButton)).toMatchObject({ pullup: false, pressed: true });
  });

  it("start() against a board that never answers fails with GpioTimeout within its timeout and releases the link", async () => {
    const { host } = createSerialLinkPair();
    const panel = new HubPanel(host, { pins, readyTimeoutMs: 300, versionQueryDelayMs: 100 });
    running.push({ panel, transport: host });
    const startedMs = Date.now();

    expect(await codeOf(panel.start())).toBe(ErrorCode.GpioTimeout);

    const elapsedMs = Date.now() - startedMs;
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    expect(elapsedMs).toBeLessThan(1_500);
    expect(host.listenerCount("data")).toBe(0);
  });

  it("stop() during start() ends the wait with GpioNotReady", async () => {
    const { host } = createSerialLinkPair();
    const panel = new HubPanel(host, { pins, readyTimeoutMs: 10_000 });
    running.push({ panel, transport: host });

    const starting = codeOf(panel.start());
    await panel.stop();

    expect(await starting).toBe(ErrorCode.GpioNotReady);
    expect(host.listenerCount("data")).toBe(0);
  });

  it("asks a board that does not announce itself for its version", async () => {
    const { board, panel } = panelOnVirtualBoard({ versionQueryDelayMs: 50 }, { announceOnStart: false });

    await panel.start();
    panel.showState("authorizing");

    await board.waitUntil(() => board.ledOn(pins.amber), waitMs);
  });

  it("bad pin config is ConfigInvalid (800), before and after the board reports its pins", async () => {
    const { transport } = VirtualFirmataBoard.withLink();
    const construct = (config: unknown) => async () => new HubPanel(transport, config as HubPanelConfigInput);

    expect(await codeOf(construct({ pins: { ...pins, red: pins.green } })())).toBe(ErrorCode.ConfigInvalid);
    expect(await codeOf(construct({ pins: { ...pins, buzzer: 128 } })())).toBe(ErrorCode.ConfigInvalid);
    expect(await codeOf(construct({ pins: { ...pins, blue: 4.5 } })())).toBe(ErrorCode.ConfigInvalid);
    expect(await codeOf(construct({ pins, debounceMs: 0 })())).toBe(ErrorCode.ConfigInvalid);
    expect(await codeOf(construct({ pins: { green: 5 } })())).toBe(ErrorCode.ConfigInvalid);
    transport.close();

    // Pin 1 is the Uno's UART and pin 40 does not exist: only the capability report can tell.
    for (const badPins of [{ ...pins, buzzer: 1 }, { ...pins, amber: 40 }]) {
      const { panel, transport: link } = panelOnVirtualBoard({ pins: badPins });
      expect(await codeOf(panel.start())).toBe(ErrorCode.ConfigInvalid);
      expect(link.listenerCount("data")).toBe(0);
    }
  });

  it("is GpioNotReady before start()", () => {
    const { panel } = panelOnVirtualBoard();

    expect(() => panel.showState("approved")).toThrowError(expect.objectContaining({ code: ErrorCode.GpioNotReady }));
  });

  it("stop() turns everything off and detaches; the panel starts again on the same link", async () => {
    // The board announced itself once, at boot; the second start has to ask.
    const { board, panel, transport } = panelOnVirtualBoard({ versionQueryDelayMs: 50 });
    const dataListenersBefore = transport.listenerCount("data");
    await panel.start();
    panel.showState("approved");
    panel.showOnline(true);
    await board.waitUntil(() => lit(board).length === 2, waitMs);

    await panel.stop();
    await board.waitUntil(() => lit(board).length === 0, waitMs);
    expect(transport.listenerCount("data")).toBe(dataListenersBefore);

    await panel.start();
    panel.showState("declined");
    await board.waitUntil(() => board.ledOn(pins.red), waitMs);
  });

  it("a pulled cable emits disconnect and later updates are dropped instead of thrown", async () => {
    const { panel, transport } = await startedPanel();
    const disconnected = new Promise<void>((resolve) => panel.once("disconnect", resolve));

    transport.close();
    await disconnected;

    expect(panel.isReady).toBe(false);
    expect(() => panel.showState("error")).not.toThrow();
    await panel.beep("error");
  });

  it("takes a serialport SerialPort or any Duplex as its transport", () => {
    expectTypeOf<SerialPort>().toExtend<FirmataTransport>();
    expectTypeOf<SerialLinkEnd>().toExtend<FirmataTransport>();
  });

  it("johnny-five never loads its own serialport or firmata on this path", async () => {
    await startedPanel();

    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.some((path) => path.includes("/johnny-five/lib/board.js"))).toBe(true);
    expect(loaded.filter((path) => /\/node_modules\/(firmata|serialport|@serialport)\//.test(path))).toEqual([]);
  });

  it("johnny-five prints nothing", async () => {
    const printed = [
      vi.spyOn(console, "log"),
      vi.spyOn(console, "info"),
      vi.spyOn(console, "warn"),
      vi.spyOn(console, "error"),
    ];

    const { board, panel } = await startedPanel();
    panel.showState("approved");
    await panel.beep("approved");
    board.pressButton(pins.cancelButton);
    await new Promise<void>((resolve) => panel.once("cancel", resolve));
    await panel.stop();

    for (const spy of printed) expect(spy).not.toHaveBeenCalled();
  });
});
