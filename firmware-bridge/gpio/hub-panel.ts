import { EventEmitter } from "node:events";
import firmataIo from "firmata-io";
import five from "johnny-five";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import { BuzzerSequencer, beepSteps } from "./buzzer.ts";
import { Debouncer } from "./debouncer.ts";
import {
  parseHubPanelConfig,
  type HubPanelConfig,
  type HubPanelConfigInput,
  type HubPanelPins,
  type PanelRole,
} from "./hub-panel-config.ts";
import { systemScheduler, type Scheduler } from "./scheduler.ts";
import type { BeepOptions, BeepPattern, IndicatorState, StatusIndicator, Unsubscribe } from "./status-indicator.ts";

const log = logger("tapwire:gpio");

/**
 * The serial link to the board. A serialport `SerialPort` satisfies it, and so does any Duplex stream. A
 * transport without `isOpen` counts as open when handed over; one with `isOpen: false` must emit "open" (as an
 * auto-opening SerialPort does). The caller owns the transport: stop() detaches from it but does not close it.
 */
export type FirmataTransport = NodeJS.EventEmitter & {
  write(chunk: Buffer, callback?: (error?: Error | null) => void): unknown;
  readonly isOpen?: boolean;
};

export interface HubPanelEvents {
  cancel: [];
  /** The link closed after start(); the panel stops writing until it is started again. */
  disconnect: [];
}

export interface HubPanelDependencies {
  scheduler?: Scheduler;
}

type Firmata = InstanceType<typeof firmataIo.Firmata>;
type LedRole = "green" | "red" | "amber" | "blue";

const ledsForState: Record<IndicatorState, readonly LedRole[]> = {
  idle: [],
  waiting: ["amber"],
  authorizing: ["amber"],
  approved: ["green"],
  declined: ["red"],
  error: ["red"],
  fault: ["red", "amber"],
};

/** Events on which firmata-io listens to the transport; stop() removes exactly the listeners it added. */
const transportEvents = ["data", "open", "close", "error"] as const;

interface Components {
  leds: Record<LedRole, five.Led>;
  buzzer: five.Pin;
}

interface Session {
  active: boolean;
  connected: boolean;
  io: Firmata;
  board: five.Board;
  transportListeners: Array<[string, (...args: unknown[]) => void]>;
  /** Set once the board is ready and the pins are set up. */
  components: Components | null;
  /** Ends a start() still waiting for the board. */
  abandonStart: (() => void) | null;
  debouncer: Debouncer;
  sequencer: BuzzerSequencer;
  shownState: IndicatorState | null;
}

/**
 * The hub's status panel on a Firmata board (an Arduino-class microcontroller on the Pi's serial port), driven
 * through johnny-five: green approved, red declined or error, amber waiting or authorizing, blue online; an
 * active buzzer; a cancel button, debounced, that emits "cancel".
 *
 * Slightly over the house's ~300 lines: johnny-five's board lifecycle (ready, fail, a board that never gets
 * ready, detaching exactly the listeners firmata-io added) is what most of it is, and it only makes sense whole.
 */
export class HubPanel extends EventEmitter<HubPanelEvents> implements StatusIndicator {
  readonly config: HubPanelConfig;
  private readonly scheduler: Scheduler;
  private session: Session | null = null;

  constructor(
    private readonly transport: FirmataTransport,
    config: HubPanelConfigInput,
    dependencies: HubPanelDependencies = {},
  ) {
    super();
    this.config = parseHubPanelConfig(config);
    this.scheduler = dependencies.scheduler ?? systemScheduler();
  }

  get isReady(): boolean {
    return this.session?.components != null && this.session.connected;
  }

  /**
   * Handshakes with the board (version, firmware, capabilities), checks the configured pins against what the
   * board reports, and sets them up. GpioTimeout when the board has not answered within `readyTimeoutMs`;
   * GpioNotReady when the link fails first; ConfigInvalid when a pin cannot do its job on this board.
   */
  async start(): Promise<void> {
    assert(this.session === null, "HubPanel.start() called twice without stop()");
    const session = this.openSession();
    this.session = session;
    try {
      await this.waitUntilReady(session);
      this.checkPins(session.io);
      this.setUpComponents(session);
    } catch (error) {
      this.release(session);
      throw error;
    }
    log.info({ firmware: session.io.firmware.name, pins: this.config.pins }, "hub panel ready");
  }

  /**
   * Turns every output off and detaches from the transport; the panel can be started again. A start() still
   * waiting for the board fails with GpioNotReady.
   */
  async stop(): Promise<void> {
    const session = this.session;
    if (session === null) return;
    session.sequencer.cancel();
    session.debouncer.cancelPending();
    if (session.components !== null && session.connected) {
      for (const led of Object.values(session.components.leds)) led.off();
    }
    this.release(session);
  }

  showState(state: IndicatorState): void {
    const ready = this.ready();
    if (ready === null || ready.session.shownState === state) return;
    ready.session.shownState = state;
    const lit = ledsForState[state];
    const { leds } = ready.components;
    for (const role of ["green", "red", "amber"] as const) if (!lit.includes(role)) leds[role].off();
    for (const role of lit) leds[role].on();
  }

  showOnline(online: boolean): void {
    const ready = this.ready();
    if (ready === null) return;
    if (online) ready.components.leds.blue.on();
    else ready.components.leds.blue.off();
  }

  beep(pattern: BeepPattern, options: BeepOptions = {}): Promise<void> {
    const ready = this.ready();
    if (ready === null) return Promise.resolve();
    return ready.session.sequencer.play(beepSteps(pattern, this.config.beepTimings), options.signal);
  }

  onCancel(listener: () => void): Unsubscribe {
    this.on("cancel", listener);
    return () => this.off("cancel", listener);
  }

  /** Null while the link is down: a dark LED must not fail a payment. Before start() it is a caller's bug. */
  private ready(): { session: Session; components: Components } | null {
    const session = this.session;
    if (session === null || session.components === null) {
      throw new TapwireError("hub panel is not started", ErrorCode.GpioNotReady);
    }
    return session.connected ? { session, components: session.components } : null;
  }

  private openSession(): Session {
    const before = new Map(transportEvents.map((event) => [event, new Set(this.transport.listeners(event))]));
    const io = new firmataIo.Firmata(this.transport, { reportVersionTimeout: this.config.versionQueryDelayMs });
    const transportListeners = transportEvents.flatMap((event) =>
      this.transport
        .listeners(event)
        .filter((listener) => !before.get(event)!.has(listener))
        .map((listener): [string, (...args: unknown[]) => void] => [event, listener as (...args: unknown[]) => void]),
    );
    const board = new five.Board({
      io,
      repl: false,
      debug: false,
      // johnny-five would otherwise install a process-wide SIGINT handler that exits the process.
      sigint: false,
      timeout: this.config.readyTimeoutMs,
    } as five.BoardOption);
    const session: Session = {
      active: true,
      connected: true,
      io,
      board,
      transportListeners,
      components: null,
      abandonStart: null,
      debouncer: new Debouncer(this.scheduler, this.config.debounceMs, (pressed) => {
        if (pressed && session.active) this.emit("cancel");
      }),
      sequencer: new BuzzerSequencer(this.scheduler, (on) => {
        const buzzer = session.components?.buzzer;
        if (session.active && session.connected && buzzer !== undefined) {
          if (on) buzzer.high();
          else buzzer.low();
        }
      }),
      shownState: null,
    };
    // Without listeners these would be thrown as uncaught errors; start() and the disconnect path handle them.
    io.on("error", (error: Error) => log.warn({ err: error.message }, "firmata link error"));
    board.on("error", (error: Error) => log.debug({ err: error.message }, "johnny-five board error"));
    for (const event of ["close", "disconnect"] as const) io.on(event, () => this.onLinkClosed(session));
    // firmata-io reports "connect" only on the transport's "open" event, which an open port has already emitted.
    if (this.transport.isOpen !== false) io.emit("connect");
    return session;
  }

  private waitUntilReady(session: Session): Promise<void> {
    const { readyTimeoutMs } = this.config;
    // The johnny-five typings leave out the EventEmitter methods that the Board has.
    const boardEvents = session.board as unknown as EventEmitter;
    return new Promise<void>((resolve, reject) => {
      const settle = (error: TapwireError | null) => {
        this.scheduler.cancel(timer);
        session.abandonStart = null;
        boardEvents.off("ready", onReady);
        session.io.off("error", onError);
        session.io.off("close", onClose);
        if (error === null) resolve();
        else reject(error);
      };
      const onReady = () => settle(null);
      const onError = (error: Error) =>
        settle(new TapwireError(`board link failed: ${error.message}`, ErrorCode.GpioNotReady, { cause: error.message }));
      const onClose = () => settle(new TapwireError("board link closed during the handshake", ErrorCode.GpioNotReady));
      const timer = this.scheduler.after(readyTimeoutMs, () =>
        settle(
          new TapwireError(`board did not answer the Firmata handshake within ${readyTimeoutMs} ms`, ErrorCode.GpioTimeout, {
            readyTimeoutMs,
          }),
        ),
      );
      session.abandonStart = () =>
        settle(new TapwireError("hub panel stopped while waiting for the board", ErrorCode.GpioNotReady));
      boardEvents.once("ready", onReady);
      session.io.once("error", onError);
      session.io.once("close", onClose);
    });
  }

  /** The capability report tells which pins exist and what each can do (an Uno's pins 0 and 1 are its UART). */
  private checkPins(io: Firmata): void {
    const outputMode = io.MODES.OUTPUT;
    const inputMode = io.MODES.INPUT;
    const details: string[] = [];
    for (const [role, pin] of Object.entries(this.config.pins) as Array<[PanelRole, number]>) {
      const needed = role === "cancelButton" ? inputMode : outputMode;
      const modes = io.pins[pin]?.supportedModes;
      if (modes === undefined) {
        details.push(`pins.${role}: the board has no pin ${pin} (it reports ${io.pins.length} pins)`);
      } else if (!modes.includes(needed)) {
        details.push(`pins.${role}: pin ${pin} cannot be a digital ${needed === inputMode ? "input" : "output"} on this board`);
      }
    }
    if (details.length > 0) {
      throw new TapwireError(`hub panel pins do not fit the board: ${details.join("; ")}`, ErrorCode.ConfigInvalid, {
        details,
      });
    }
  }

  private setUpComponents(session: Session): void {
    const { board } = session;
    const pins: HubPanelPins = this.config.pins;
    clearJohnnyFiveTimer(board);
    const leds = {
      green: new five.Led({ board, pin: pins.green }),
      red: new five.Led({ board, pin: pins.red }),
      amber: new five.Led({ board, pin: pins.amber }),
      blue: new five.Led({ board, pin: pins.blue }),
    };
    for (const led of Object.values(leds)) led.off();
    const buzzer = new five.Pin({ board, pin: pins.buzzer });
    buzzer.low();
    // johnny-five's "NO" switch enables the pull-up and reads low as closed; "NC" reads high as closed.
    const button = new five.Switch({ board, pin: pins.cancelButton, type: this.config.buttonWiring === "pullup" ? "NO" : "NC" });
    button.on("close", () => {
      if (session.active) session.debouncer.input(true);
    });
    button.on("open", () => {
      if (session.active) session.debouncer.input(false);
    });
    session.components = { leds, buzzer };
  }

  private onLinkClosed(session: Session): void {
    // Before ready, start() rejects instead.
    if (!session.active || !session.connected || session.components === null) return;
    session.connected = false;
    session.sequencer.cancel();
    session.debouncer.cancelPending();
    log.warn("board link closed; the hub panel is dark until restarted");
    this.emit("disconnect");
  }

  private release(session: Session): void {
    session.active = false;
    session.abandonStart?.();
    clearTimeout(session.io.reportVersionTimeoutId);
    clearJohnnyFiveTimer(session.board);
    for (const [event, listener] of session.transportListeners) this.transport.removeListener(event, listener);
    if (this.session === session) this.session = null;
  }
}

/** Johnny-five's own timer for a board that connects but never gets ready; ours already covers that wait. */
function clearJohnnyFiveTimer(board: five.Board): void {
  clearTimeout((board as unknown as { timer: ReturnType<typeof setTimeout> | null }).timer ?? undefined);
}
