import type { CrashPoint } from "../../device/crash.ts";
import type { HubJournal } from "../../device/journal/hub-journal.ts";
import type { LinkConfig } from "../../device/link/link-machine.ts";
import type { ResendConfig } from "../../device/link/outbox-config.ts";
import type { HubSigner, IndicatorPort } from "../../device/ports.ts";
import type { OfflineConfig, TapTiming } from "../../device/tap/tap-config.ts";
import { TapHub } from "../../device/tap-hub.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import { HubPanel, type FirmataTransport } from "../gpio/hub-panel.ts";
import { HidScanner } from "./hid-scanner.ts";
import type { HidDeviceLike, ScannerMode } from "../hid/open-hid-device.ts";
import type { ScanLineLimits } from "../hid/scan-lines.ts";
import type { HubPanelConfig } from "../gpio/hub-panel-config.ts";
import { NfcTapReader } from "../nfc/nfc-tap-reader.ts";
import { Pn532, type Pn532Options } from "../nfc/pn532.ts";
import { Pn532Probe, pn532ProbeDefaults } from "../nfc/pn532-probe.ts";
import type { SerialPortLike } from "../serial/serial-port.ts";
import { MqttSettlementLink, type MqttSettlementLinkOptions } from "./mqtt-settlement-link.ts";
import { PanelIndicator } from "./panel-indicator.ts";
import { RetryingTapReader } from "./retrying-tap-reader.ts";
import { reopenDelaysDefault } from "./device-supervisor.ts";
import { SupervisedTapReader, type OpenedReader } from "./supervised-tap-reader.ts";

/** A tap hub's drivers, identity, journal, timings and sources of time and randomness. */
export interface TapHubAssemblyOptions {
  hubId: string;
  merchantId: string;
  nfc: {
    /** Opens the reader's byte link (a serial device, tcp:// to a served simulator, a mock binding); again after it is lost. */
    openPort: () => Promise<SerialPortLike>;
    pn532?: Partial<Pn532Options>;
    /** One APDU round trip with a phone before it counts as gone. */
    apduTimeoutMs: number;
    /** Reads of one sale after a phone was pulled away mid-read. */
    readAttemptsMax: number;
    reopenDelayMsMin?: number;
    reopenDelayMsMax?: number;
    /** Asks the idle reader for its firmware version (for a watchdog); off when absent, as in simulations. */
    probe?: { intervalMs?: number; timeoutMs?: number };
  };
  panel: { transport: FirmataTransport; config: HubPanelConfig };
  /** A USB HID payment-code scanner, when the counter has one: opened (and reopened when unplugged) as the reader is. */
  scanner?: {
    /** Opens the scanner (node-hid, tcp://, a virtual one); again after it is lost. */
    open: () => Promise<HidDeviceLike>;
    mode: ScannerMode;
    limits?: Partial<ScanLineLimits>;
  };
  settlement: MqttSettlementLinkOptions;
  signer: HubSigner;
  /** Opened by the caller; it outlives the hub (the caller closes it after stop()). */
  journal: HubJournal;
  timing: TapTiming;
  offline?: OfflineConfig;
  link?: Partial<LinkConfig>;
  resend?: Partial<ResendConfig>;
  clock: Clock;
  timers: Timers;
  random: Random;
  /** Wraps the panel's indicator (the simulator records what the hub shows). */
  indicator?: (panel: IndicatorPort) => IndicatorPort;
  /** Called with a bug that stopped a machine (default: crash the process, for the supervisor to restart). */
  onCrash?: (error: unknown) => void;
  /** Testing hook (device/crash.ts), handed to the TapHub. */
  crashPoint?: CrashPoint;
}

/**
 * A whole tap hub from its drivers, the one assembly the CLI, the simulator and the tests use: the PN532 (reopened
 * when its link goes), the Firmata panel, the MQTT settlement link, the journal, and device/'s TapHub over them.
 * The constructor stores; start() opens and runs; stop() undoes start() in reverse.
 */
export class TapHubAssembly {
  readonly settlement: MqttSettlementLink;
  readonly reader: SupervisedTapReader;
  readonly panel: HubPanel;
  readonly scanner: HidScanner | undefined;
  private hubStarted: TapHub | undefined;
  private probe: Pn532Probe | undefined;
  private readonly undo: Array<() => Promise<void> | void> = [];

  constructor(private readonly options: TapHubAssemblyOptions) {
    this.settlement = new MqttSettlementLink(options.settlement);
    this.reader = new SupervisedTapReader({
      open: () => this.openReader(),
      timers: options.timers,
      random: options.random,
      reopenDelayMsMin: options.nfc.reopenDelayMsMin ?? reopenDelaysDefault.reopenDelayMsMin,
      reopenDelayMsMax: options.nfc.reopenDelayMsMax ?? reopenDelaysDefault.reopenDelayMsMax,
    });
    this.panel = new HubPanel(options.panel.transport, options.panel.config);
    this.scanner = options.scanner
      ? new HidScanner({
          open: options.scanner.open,
          mode: options.scanner.mode,
          clock: options.clock,
          timers: options.timers,
          random: options.random,
          ...(options.scanner.limits ? { limits: options.scanner.limits } : {}),
        })
      : undefined;
  }

  get hub(): TapHub {
    if (!this.hubStarted) throw new TapwireError("tap hub assembly not started", ErrorCode.HubNotReady);
    return this.hubStarted;
  }

  /** Opens the panel, the reader and the scanner, connects the link and starts the hub. */
  async start(): Promise<void> {
    try {
      await this.panel.start();
      this.undo.push(() => this.panel.stop());
      await this.reader.start();
      this.undo.push(() => this.reader.stop());
      const scanner = this.scanner;
      if (scanner) {
        await scanner.start();
        this.undo.push(() => scanner.stop());
      }
      this.undo.push(() => this.settlement.stop());
      const { options } = this;
      const panelIndicator = new PanelIndicator(this.panel);
      const hub = new TapHub(
        {
          reader: this.reader,
          indicator: options.indicator ? options.indicator(panelIndicator) : panelIndicator,
          settlement: this.settlement,
          link: this.settlement,
          signer: options.signer,
          journal: options.journal,
          clock: options.clock,
          timers: options.timers,
          random: options.random,
          ...(scanner ? { scanner } : {}),
        },
        {
          hubId: options.hubId,
          merchantId: options.merchantId,
          timing: options.timing,
          ...(options.offline ? { offline: options.offline } : {}),
          ...(options.link ? { link: options.link } : {}),
          ...(options.resend ? { resend: options.resend } : {}),
          ...(options.onCrash ? { onCrash: options.onCrash } : {}),
          ...(options.crashPoint ? { crashPoint: options.crashPoint } : {}),
        },
      );
      hub.start();
      this.hubStarted = hub;
      this.undo.push(() => hub.stop());
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Undoes start() in reverse; the journal stays open (its owner closes it). */
  async stop(): Promise<void> {
    this.hubStarted = undefined;
    for (const step of this.undo.splice(0).reverse()) await step();
  }

  /** Undefined while the reader is present (and, when probed, answering); what is wrong with it otherwise. */
  readerProblem(): string | undefined {
    if (!this.reader.present) return "the NFC reader is gone (reopening it)";
    return this.probe?.problem();
  }

  /** Port, driver and wake-up, from scratch: the supervisor calls it at start and after the reader is lost. */
  private async openReader(): Promise<OpenedReader> {
    const { nfc, clock, random, timing } = this.options;
    const port = await nfc.openPort();
    const pn532 = new Pn532(port, nfc.pn532);
    try {
      await pn532.start();
    } catch (error) {
      await closePort(port);
      throw error;
    }
    const reader = new RetryingTapReader(
      new NfcTapReader(pn532, {
        clock,
        random,
        waitForCardMs: timing.tapTimeoutMs,
        apduTimeoutMs: nfc.apduTimeoutMs,
        presentTimeoutMs: timing.tapTimeoutMs,
      }),
      { readAttemptsMax: nfc.readAttemptsMax },
    );
    const probe = nfc.probe ? this.startProbe(pn532, nfc.probe) : undefined;
    return {
      reader,
      onGone: (listener) => port.on("close", listener),
      close: async () => {
        probe?.stop();
        if (this.probe === probe) this.probe = undefined;
        pn532.stop();
        await closePort(port);
      },
    };
  }

  /** A sale keeps the chip waiting for a card (or a reader) for up to tapTimeoutMs per attempt, and probes wait. */
  private startProbe(pn532: Pn532, settings: { intervalMs?: number; timeoutMs?: number }): Pn532Probe {
    const { intervalMs, timeoutMs } = { ...pn532ProbeDefaults, ...settings };
    const silenceMsMax = 2 * this.options.timing.tapTimeoutMs + intervalMs + timeoutMs;
    const probe = new Pn532Probe(pn532, { intervalMs, timeoutMs, silenceMsMax, clock: this.options.clock, timers: this.options.timers });
    probe.start();
    this.probe = probe;
    return probe;
  }
}

function closePort(port: SerialPortLike): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}
