import { createRequire } from "node:module";
import type { SerialPort } from "serialport";
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { beepSteps } from "../../firmware-bridge/gpio/buzzer.ts";
import { HubPanel, type FirmataTransport } from "../../firmware-bridge/gpio/hub-panel.ts";
import type { HubPanelConfigInput } from "../../firmware-bridge/gpio/hub-panel-config.ts";
import type { BeepPattern } from "../../firmware-bridge/gpio/status-indicator.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { createSerialLinkPair, type SerialLinkEnd } from "../../simulator/firmata/serial-link-pair.ts";
import {
  VirtualFirmataBoard,
  type OutputEdge,
  type VirtualFirmataBoardOptions,
} from "../../simulator/firmata/virtual-firmata-board.ts";
import { ManualScheduler } from "./manual-scheduler.ts";

// Green and red sit on PWM pins (johnny-five drives them with analogWrite), amber and blue on plain digital
// pins; the button shares port 0 with the LEDs, so LED writes must not drop its pull-up.
const pins = { green: 5, red: 6, amber: 7, blue: 4, buzzer: 8, cancelButton: 2 };
const beepTimings = { shortMs: 20, longMs: 120, gapMs: 20 };
const debounceMs = 15;
/** Bounds each wait for the link, not a behaviour: the panel's own time runs on a ManualScheduler. */
const waitMs = 2_000;

const running: Array<{ panel: HubPanel; transport: SerialLinkEnd }> = [];

afterEach(async () => {
  for (const { panel, transport } of running.splice(0)) {
    await panel.stop();
    transport.close();
  }
  vi.restoreAllMocks();
});

/** The panel's timers (debounce, beeps, ready timeout) and the board's edge clock share one manual scheduler. */
function panelOnVirtualBoard(config: Partial<HubPanelConfigInput> = {}, boardOptions: VirtualFirmataBoardOptions = {}) {
  const scheduler = new ManualScheduler();
  const clock = { nowMs: () => scheduler.elapsedMs };
  const { board, transport } = VirtualFirmataBoard.withLink({ clock, ...boardOptions });
  const panel = new HubPanel(transport, { pins, debounceMs, beepTimings, readyTimeoutMs: 3_000, ...config }, { scheduler });
  running.push({ panel, transport });
  return { board, panel, transport, scheduler };
}

async function startedPanel(config: Partial<HubPanelConfigInput> = {}) {
  const setup = panelOnVirtualBoard(config);
  await setup.panel.start();
  return setup;
}

type Setup = ReturnType<typeof panelOnVirtualBoard>;

/** Plays a beep step by step: each level reaches the board before the scheduler moves past its duration. */
async function playBeep({ board, panel, scheduler }: Setup, pattern: BeepPattern): Promise<void> {
  const beeping = panel.beep(pattern);
  for (const step of beepSteps(pattern, beepTimings)) {
    await board.waitUntil(() => board.ledOn(pins.buzzer) === step.on, waitMs);
    scheduler.advance(step.durationMs);
  }
  await beeping;
  await board.waitUntil(() => !board.ledOn(pins.buzzer), waitMs);
}

/**
 * johnny-five's Switch passes a level change on after its own 5 ms debounce (lodash, real time, not injectable);
 * once it has reached the panel's debouncer a timer is pending, and the scheduler settles it.
 */
async function settleButton({ scheduler }: Setup): Promise<void> {
  await vi.waitFor(() => expect(scheduler.pending).toBe(1), { timeout: waitMs });
  scheduler.advance(debounceMs);
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
    const setup = await startedPanel();
    const { board, panel } = setup;
    panel.showState("waiting");
    await board.waitUntil(() => board.ledOn(pins.amber), waitMs);

    panel.showState("approved");
    await playBeep(setup, "approved");

    expect(lit(board)).toEqual(["green"]);
    expect(onPeriodsMs(board.outputHistory(pins.buzzer))).toEqual([beepTimings.shortMs]);
    expect(board.droppedBytes).toBe(0);
  });

  it("declined lights red alone and beeps twice, long", async () => {
    const setup = await startedPanel();
    const { board, panel } = setup;

    panel.showState("declined");
    await playBeep(setup, "declined");

    expect(lit(board)).toEqual(["red"]);
    expect(onPeriodsMs(board.outputHistory(pins.buzzer))).toEqual([beepTimings.longMs, beepTimings.longMs]);
  });

  it("error lights red and beeps three times; blue shows online independently", async () => {
    const setup = await startedPanel();
    const { board, panel } = setup;

    panel.showOnline(true);
    panel.showState("error");
    await playBeep(setup, "error");
    expect(lit(board)).toEqual(["red", "blue"]);

    panel.showState("idle");
    panel.showOnline(false);
    await board.waitUntil(() => lit(board).length === 0, waitMs);
    expect(onPeriodsMs(board.outputHistory(pins.buzzer))).toEqual(new Array(3).fill(beepTimings.shortMs));
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
    const setup = await startedPanel();
    const { board, panel } = setup;
    const cancelsAtPress: number[] = [];
    let press = 1;
    const unsubscribe = panel.onCancel(() => cancelsAtPress.push(press));

    for (const down of [true, false, true, false, true]) {
      if (down) board.pressButton(pins.cancelButton);
      else board.releaseButton(pins.cancelButton);
    }
    await settleButton(setup);
    board.releaseButton(pins.cancelButton);
    board.pressButton(pins.cancelButton);
    board.releaseButton(pins.cancelButton);
    await settleButton(setup);
    press = 2;
    board.pressButton(pins.cancelButton);
    await settleButton(setup);
    unsubscribe();

    expect(cancelsAtPress).toEqual([1, 2]);
  });

  it("a button wired to the supply with a pull-down (buttonWiring: pulldown) cancels too", async () => {
    const setup = await startedPanel({ buttonWiring: "pulldown" });
    const { board, panel } = setup;
    let cancels = 0;
    panel.onCancel(() => cancels++);

    board.pressButton(pins.cancelButton);
    await settleButton(setup);

    expect(cancels).toBe(1);
    expect(board.pinState(pins.cancelButton)).toMatchObject({ pullup: false, pressed: true });
  });

  it("start() against a board that never answers fails with GpioTimeout at readyTimeoutMs and releases the link", async () => {
    const scheduler = new ManualScheduler();
    const { host } = createSerialLinkPair();
    const panel = new HubPanel(host, { pins, readyTimeoutMs: 300, versionQueryDelayMs: 100 }, { scheduler });
    running.push({ panel, transport: host });
    let code: number | undefined | null = null;
    const starting = codeOf(panel.start()).then((settled) => (code = settled));

    scheduler.advance(299);
    await Promise.resolve();
    expect(code).toBeNull();
    scheduler.advance(1);
    await starting;

    expect(code).toBe(ErrorCode.GpioTimeout);
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

    const setup = await startedPanel();
    const { board, panel } = setup;
    panel.showState("approved");
    await playBeep(setup, "approved");
    board.pressButton(pins.cancelButton);
    await settleButton(setup);
    await panel.stop();

    for (const spy of printed) expect(spy).not.toHaveBeenCalled();
  });
});
