import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { EventEmitter } from "node:events";
import type { EnrolmentBundle } from "../../../broker/enrolment.ts";
import type { CrashPoint } from "../../../device/crash.ts";
import { HubJournal } from "../../../device/journal/hub-journal.ts";
import type { LinkConfig } from "../../../device/link/link-machine.ts";
import type { ResendConfig } from "../../../device/link/outbox-config.ts";
import type { BeepPattern, IndicatorPort, IndicatorState } from "../../../device/ports.ts";
import { defaultTapTiming, type OfflineConfig, type TapTiming } from "../../../device/tap/tap-config.ts";
import type { TapMode } from "../../../device/tap/tap-machine.ts";
import type { TapHub, TapHubView } from "../../../device/tap-hub.ts";
import { KeyFileHubSigner } from "../../../firmware-bridge/adapters/key-file-signer.ts";
import { TapHubAssembly } from "../../../firmware-bridge/adapters/tap-hub-assembly.ts";
import { parseHubPanelConfig, type HubPanelPins } from "../../../firmware-bridge/gpio/hub-panel-config.ts";
import { HubLink } from "../../../firmware-bridge/mqtt/hub-link.ts";
import type { Pn532Options } from "../../../firmware-bridge/nfc/pn532.ts";
import { openSerialPort } from "../../../firmware-bridge/serial/open-serial-port.ts";
import { assert } from "../../../core/assert.ts";
import { issuePaymentCode } from "../../../protocol/payment-code.ts";
import { ErrorCode, TapwireError } from "../../../protocol/errors.ts";
import { importPrivatePem } from "../../../protocol/keys.ts";
import { logger } from "../../../core/log.ts";
import { systemClock, systemRandom, systemTimers, type Clock, type Random, type Timers } from "../../../core/sources.ts";
import { VirtualFirmataBoard } from "../../firmata/virtual-firmata-board.ts";
import type { SerialLinkEnd } from "../../firmata/serial-link-pair.ts";
import { VirtualScanner } from "../../hid/virtual-scanner.ts";
import { HceWallet } from "../../phones/hce-wallet.ts";
import { TagReadingWallet } from "../../phones/tag-reading-wallet.ts";
import type { FieldDevice } from "../../pn532/field.ts";
import { VirtualPn532 } from "../../pn532/virtual-pn532.ts";
import { MockSerialBinding } from "../../serial/mock-binding.ts";
import { linkOptionsFor } from "../../../sdk/client-link.ts";
import { WalletClient, type WalletPayment } from "../../wallet-client/wallet-client.ts";

const log = logger("tapwire:sim:tap-hub");

/** Where the virtual PN532 sits on the mock serial binding. */
export const simulatedNfcPath = "/dev/ttyS0";

/** An Uno's pins: green and red on PWM pins, the button sharing port 0 with LEDs. */
export const simulatedPanelPins: HubPanelPins = { green: 5, red: 6, amber: 7, blue: 4, buzzer: 8, cancelButton: 2 };

/** The broker to use, the hub's and wallet's enrolment bundles, the journal file, and optional timings and faults. */
export interface SimulatedTapHubOptions {
  /** `mqtts://127.0.0.1:PORT` of the settlement node's broker. */
  brokerUrl: string;
  /** The hub's enrolment bundle, private key included. */
  hub: EnrolmentBundle;
  merchantId: string;
  /** The hub journal (SQLite, or ":memory:"); kept across runs so a restarted hub resumes and never repeats a seq. */
  journalFile: string;
  /** A wallet enrolment bundle (private key included): HCE phones sign with its key, tag phones pay over its link. */
  wallet?: EnrolmentBundle;
  protocolVersion?: 4 | 5;
  timing?: Partial<TapTiming>;
  offline?: OfflineConfig;
  link?: Partial<LinkConfig>;
  resend?: Partial<ResendConfig>;
  crashPoint?: CrashPoint;
  pins?: HubPanelPins;
  /** How long a simulated press of the cancel button is held, in milliseconds (above the panel's debounce). */
  buttonHoldMs?: number;
  pn532?: Partial<Pn532Options>;
  /** How the virtual payment-code scanner reports: keyboard mode (default) or HID POS. */
  scannerMode?: "keyboard" | "pos";
  clock?: Clock;
  timers?: Timers;
  random?: Random;
}

export type IndicatorEvent = { kind: "show"; state: IndicatorState } | { kind: "beep"; pattern: BeepPattern };

/** What the virtual board's pins show right now. */
export interface PanelView {
  green: boolean;
  red: boolean;
  amber: boolean;
  blue: boolean;
  buzzer: boolean;
  /** Buzzer on-edges since start: approved adds 1, declined 2, error 3. */
  beeps: number;
}

export interface SimulatedTapHubSnapshot extends TapHubView {
  panel: PanelView;
}

export interface SimulatedTapHubEvents {
  /** After every change of the hub's link state or the tap flow. */
  state: [TapHubView];
  /** Every LED state and beep the hub asks its panel for. */
  indicator: [IndicatorEvent];
  /** A tag-reading phone's wallet was answered by the service. */
  walletPayment: [WalletPayment];
  /** A tag-reading phone's wallet could not pay (link down, no answer). */
  walletError: [TapwireError];
}

const buttonHoldMsDefault = 60;
const debounceMs = 15;
const beepTimings = { shortMs: 20, longMs: 60, gapMs: 20 };

interface Running {
  assembly: TapHubAssembly;
  hub: TapHub;
  journal: HubJournal;
  walletLink: HubLink | undefined;
  wallet: WalletClient | undefined;
}

/**
 * A whole tap hub over virtual hardware: the real PN532 driver on the mock serial binding with a VirtualPn532,
 * the real johnny-five HubPanel on a VirtualFirmataBoard, the real XState machines, and the real MQTT link to a
 * settlement node. Phones are placed in the virtual field; the cancel button is pressed on the virtual board.
 *
 * Slightly over the house's ~300 lines: a test-facing facade whose every method is one line of wiring.
 */
export class SimulatedTapHub extends EventEmitter<SimulatedTapHubEvents> {
  readonly chip = new VirtualPn532();
  /** The counter's payment-code scanner, plugged into the hub as a USB HID device would be. */
  readonly scanner: VirtualScanner;
  readonly board: VirtualFirmataBoard;
  readonly pins: HubPanelPins;
  private readonly transport: SerialLinkEnd;
  private readonly clock: Clock;
  private readonly random: Random;
  private running: Running | undefined;

  constructor(readonly options: SimulatedTapHubOptions) {
    super();
    assert(options.hub.keyPem !== undefined, "the simulated hub needs its private key in the bundle");
    this.pins = options.pins ?? simulatedPanelPins;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.scanner = new VirtualScanner(options.scannerMode);
    const { board, transport } = VirtualFirmataBoard.withLink({ clock: this.clock });
    this.board = board;
    this.transport = transport;
  }

  get hubId(): string {
    return this.options.hub.principal.id;
  }

  get journalFile(): string {
    return this.options.journalFile;
  }

  /** Opens the virtual NFC chip and panel, connects the wallet link if any, and starts the hub connecting. */
  async start(): Promise<void> {
    if (this.running) throw new TapwireError("simulated tap hub already started", ErrorCode.BusyAlready);
    const parts: Partial<Running> = {};
    try {
      await this.startParts(parts);
    } catch (error) {
      await stopParts(parts);
      throw error;
    }
  }

  private async startParts(parts: Partial<Running>): Promise<void> {
    const { options } = this;
    if (options.journalFile !== ":memory:") mkdirSync(dirname(options.journalFile), { recursive: true });
    parts.journal = HubJournal.open({ path: options.journalFile, clock: this.clock });

    if (options.wallet) {
      parts.walletLink = this.walletLink(options.wallet);
      parts.walletLink.start();
      await parts.walletLink.waitConnected(5_000);
      parts.wallet = new WalletClient({
        walletId: options.wallet.principal.id,
        privateKey: importPrivatePem(options.wallet.keyPem!),
        link: parts.walletLink,
        clock: this.clock,
        decisionTimeoutMs: 5_000,
      });
    }

    const binding = new MockSerialBinding();
    binding.attach(simulatedNfcPath, this.chip);
    parts.assembly = new TapHubAssembly({
      hubId: this.hubId,
      merchantId: options.merchantId,
      nfc: {
        openPort: () => openSerialPort({ path: simulatedNfcPath, baudRate: 115200, openTimeoutMs: 1_000, binding }),
        ...(options.pn532 ? { pn532: options.pn532 } : {}),
        apduTimeoutMs: 300,
        readAttemptsMax: 8,
      },
      panel: { transport: this.transport, config: parseHubPanelConfig({ pins: this.pins, debounceMs, beepTimings, readyTimeoutMs: 3_000 }) },
      scanner: { mode: this.scanner.mode, open: async () => this.scanner.open() },
      settlement: { link: { ...linkOptionsFor(options.hub, options.brokerUrl, options.protocolVersion), random: this.random }, connectTimeoutMs: 5_000 },
      signer: KeyFileHubSigner.fromPem(options.hub.keyPem!),
      journal: parts.journal,
      timing: { ...defaultTapTiming, ...options.timing },
      ...(options.offline ? { offline: options.offline } : {}),
      ...(options.link ? { link: options.link } : {}),
      ...(options.resend ? { resend: options.resend } : {}),
      ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
      clock: this.clock,
      timers: options.timers ?? systemTimers,
      random: this.random,
      indicator: (panel) => this.recording(panel),
    });
    await parts.assembly.start();
    parts.hub = parts.assembly.hub;
    parts.hub.subscribe((view) => this.emit("state", view));
    this.running = parts as Running;
    log.info({ hubId: this.hubId }, "simulated tap hub started");
  }

  /** Undoes start(); the board keeps its pins, so a test can still read them. */
  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (running) await stopParts(running);
  }

  /** The cashier types an amount and picks the mode (reader: the hub reads the phone; tag: the phone reads the hub). */
  setAmount(amountMinor: number, currency: string, mode: TapMode): void {
    this.started().hub.setAmount(amountMinor, currency, mode);
  }

  /** Holds the panel's cancel button down for buttonHoldMs, as a person would; resolves once it is released. */
  async pressCancel(): Promise<void> {
    this.started();
    this.board.pressButton(this.pins.cancelButton);
    await new Promise((resolve) => setTimeout(resolve, this.options.buttonHoldMs ?? buttonHoldMsDefault));
    this.board.releaseButton(this.pins.cancelButton);
  }

  /** Puts a phone (or card) in the virtual reader's field. */
  placePhone(phone: FieldDevice): void {
    this.chip.placeInField(phone);
  }

  /** Takes it away. */
  removePhone(): void {
    this.chip.removeFromField();
  }

  /** An HCE phone holding the wallet's key (options.wallet). */
  hcePhone(atcStart = 1): HceWallet {
    const wallet = this.options.wallet;
    if (!wallet?.keyPem) throw new TapwireError("no wallet bundle with a key was given", ErrorCode.ConfigInvalid);
    return new HceWallet({ walletId: wallet.principal.id, privateKey: importPrivatePem(wallet.keyPem), atcStart });
  }

  /** The payment code the wallet's phone shows now (needs options.wallet), as the text its QR code holds. */
  walletCode(lifetimeMs?: number): string {
    const wallet = this.options.wallet;
    if (!wallet?.keyPem) throw new TapwireError("no wallet bundle with a key was given", ErrorCode.ConfigInvalid);
    const privateKey = importPrivatePem(wallet.keyPem);
    return issuePaymentCode({ walletId: wallet.principal.id, privateKey, nowMs: this.clock.nowMs(), random: this.random, ...(lifetimeMs ? { lifetimeMs } : {}) }).text;
  }

  /** A phone in reader mode whose wallet pays each offer it reads online (needs options.wallet). */
  tagPhone(): TagReadingWallet {
    const wallet = this.started().wallet;
    if (!wallet) throw new TapwireError("no wallet bundle was given", ErrorCode.ConfigInvalid);
    return new TagReadingWallet({
      apduTimeoutMs: 300,
      onOffer: async (offer) => {
        try {
          this.emit("walletPayment", await wallet.pay(offer));
        } catch (error) {
          const failure = error instanceof TapwireError ? error : new TapwireError(String(error), ErrorCode.Offline);
          this.emit("walletError", failure);
        }
      },
    });
  }

  /** The running hub runtime and its journal, e.g. to serve the hub's metrics over it. */
  get runtime(): {
    hub: TapHub;
    journal: HubJournal;
    /** Undefined while the reader answers; what is wrong with it otherwise. */
    readerProblem: () => string | undefined;
  } {
    const { hub, journal, assembly } = this.started();
    return { hub, journal, readerProblem: () => assembly.readerProblem() };
  }

  /** The wallet's online client, to pay (or replay) an offer by hand. */
  get walletClient(): WalletClient {
    const wallet = this.started().wallet;
    if (!wallet) throw new TapwireError("no wallet bundle was given", ErrorCode.ConfigInvalid);
    return wallet;
  }

  /** Whether the hub's scanner driver has the (virtual) scanner open. */
  get scannerPresent(): boolean {
    return this.started().assembly.scanner?.present ?? false;
  }

  /** The hub's view and the panel's LEDs now. */
  snapshot(): SimulatedTapHubSnapshot {
    return { ...this.started().hub.view(), panel: this.panelView() };
  }

  /** What the virtual board's pins show now. */
  panelView(): PanelView {
    const { board, pins } = this;
    return {
      green: board.ledOn(pins.green),
      red: board.ledOn(pins.red),
      amber: board.ledOn(pins.amber),
      blue: board.ledOn(pins.blue),
      buzzer: board.ledOn(pins.buzzer),
      beeps: board.outputHistory(pins.buzzer).filter((edge) => edge.on).length,
    };
  }

  /** Resolves with the first view (the current one included) that satisfies `predicate`; HubNotReady on timeout. */
  waitFor(predicate: (view: TapHubView) => boolean, timeoutMs: number): Promise<TapHubView> {
    const hub = this.started().hub;
    const current = hub.view();
    if (predicate(current)) return Promise.resolve(current);
    return new Promise((resolve, reject) => {
      const unsubscribe = hub.subscribe((view) => {
        if (!predicate(view)) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(view);
      });
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new TapwireError(`simulated hub did not reach the expected state within ${timeoutMs} ms`, ErrorCode.HubNotReady, { view: hub.view() }));
      }, timeoutMs);
    });
  }

  private started(): Running {
    if (!this.running) throw new TapwireError("simulated tap hub is not started", ErrorCode.HubNotReady);
    return this.running;
  }

  private walletLink(bundle: EnrolmentBundle): HubLink {
    return new HubLink({ ...linkOptionsFor(bundle, this.options.brokerUrl, this.options.protocolVersion), random: this.random });
  }

  private recording(indicator: IndicatorPort): IndicatorPort {
    return {
      show: (state) => {
        indicator.show(state);
        this.emit("indicator", { kind: "show", state });
      },
      beep: (pattern) => {
        indicator.beep(pattern);
        this.emit("indicator", { kind: "beep", pattern });
      },
      onCancel: (listener) => indicator.onCancel(listener),
    };
  }
}

async function stopParts(parts: Partial<Running>): Promise<void> {
  await parts.assembly?.stop();
  await parts.walletLink?.stop();
  parts.journal?.close();
}
