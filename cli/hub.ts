import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { SerialPort } from "serialport";
import { HubJournal } from "../device/journal/hub-journal.ts";
import type { TapMode } from "../device/tap/tap-machine.ts";
import type { TapHub, TapHubView } from "../device/tap-hub.ts";
import { KeyFileHubSigner } from "../firmware-bridge/adapters/key-file-signer.ts";
import { TapHubAssembly } from "../firmware-bridge/adapters/tap-hub-assembly.ts";
import type { FirmataTransport } from "../firmware-bridge/gpio/hub-panel.ts";
import { openHidDevice } from "../firmware-bridge/hid/open-hid-device.ts";
import { openSerialPort } from "../firmware-bridge/serial/open-serial-port.ts";
import type { SerialPortLike } from "../firmware-bridge/serial/serial-port.ts";
import { ErrorCode, TapwireError, errorCodeName, isTapwireError } from "../protocol/errors.ts";
import { importPublicPem } from "../protocol/keys.ts";
import { currencyExponents, formatMoney, isCurrency, amountMinorMax } from "../protocol/money.ts";
import { systemClock, systemRandom, systemTimers } from "../core/sources.ts";
import { serveHubMetrics, tapHubMetered } from "../firmware-bridge/adapters/hub-metrics.ts";
import { journalHealth } from "../firmware-bridge/systemd/journal-health.ts";
import { serviceWatchdogFromEnv, type HealthCheck } from "../firmware-bridge/systemd/service-watchdog.ts";
import { integerFlag, oneOfFlag, parseFlags, requireFlag } from "./args.ts";
import { crashPointFromEnv } from "./crash-points.ts";
import { loadHubConfig, readHubSecrets, type HubFileConfig, type HubSecrets } from "./hub-config.ts";
import { stopSignal } from "./signals.ts";

export const hubUsage = `tapwire hub --config hub.json [--console stdin|none] [--metrics-port N [--metrics-host 127.0.0.1]]
  Runs a tap hub on real hardware: the PN532 on nfc.path (/dev/tapwire-nfc, /dev/serial0, or tcp://127.0.0.1:N
  from \`tapwire sim serve pn532\`), the Firmata status panel on panel.path, a payment-code scanner on scanner.path
  when there is one (a customer scans the wallet's TW1: code instead of tapping), and the settlement broker. Every signed
  request is journaled in journalFile before it leaves; a restart resumes or reverses what was under way. Reads
  sales from stdin, one per line: \`12.50 EUR reader\`, \`9.99 EUR tag\`, \`cancel\`, \`status\`, \`quit\`;
  --console none reads nothing and runs until SIGTERM (a systemd service). Under systemd (NOTIFY_SOCKET set) it
  sends READY=1, STATUS= and, with WatchdogSec=, WATCHDOG=1 only while the reader answers and the journal is writable.
  --metrics-port serves Prometheus /metrics, /healthz and /readyz (503 unless the link is ready, the reader answers
  and the journal is writable).
  Testing hook: TAPWIRE_CRASH_AT=reading|sealed|sent|decided|reversing kills the process (SIGKILL) at that step.
  Config keys (schema/hub.schema.json; \`tapwire hub init\` writes an example): hubId, merchantId, broker {url,
  enrolmentDir | caFile, certFile, keyFile, servicePublicKeyFile, protocolVersion}, nfc {path, baudRate, openTimeoutMs,
  apduTimeoutMs, readAttemptsMax, probeIntervalMs, probeTimeoutMs}, panel {path, baudRate, pins and wiring},
  scanner {path, mode, openTimeoutMs}, journalFile, offline {currency, saleMaxMinor, totalMaxMinor, countMax, ageMsMax}, timings {tapTimeoutMs, …}.
  Relative paths are read from the config file's folder.
  example: tapwire hub --config hub.json`;

export type HubInput =
  | { kind: "sale"; amountMinor: number; currency: string; mode: TapMode }
  | { kind: "cancel" }
  | { kind: "status" }
  | { kind: "quit" };

/** `12.50 EUR reader` → 1250 minor units; decimal text is converted digit by digit, never through a float. */
export function parseHubInput(line: string): HubInput {
  const words = line.trim().split(/\s+/);
  const [first, currency, modeWord, ...rest] = words;
  if (words.length === 1 && (first === "cancel" || first === "status" || first === "quit")) return { kind: first };
  if (first === undefined || currency === undefined || rest.length > 0) {
    throw new TapwireError(`expected "AMOUNT CURRENCY [reader|tag]", "cancel", "status" or "quit", got ${JSON.stringify(line)}`, ErrorCode.ConfigInvalid);
  }
  if (!isCurrency(currency)) throw new TapwireError(`unknown currency ${JSON.stringify(currency)}`, ErrorCode.UnknownCurrency);
  const mode = modeWord ?? "reader";
  if (mode !== "reader" && mode !== "tag") throw new TapwireError(`mode must be reader or tag, got ${JSON.stringify(mode)}`, ErrorCode.ConfigInvalid);
  return { kind: "sale", amountMinor: parseAmountMinor(first, currencyExponents[currency]!), currency, mode };
}

function parseAmountMinor(text: string, exponent: number): number {
  const match = /^(\d{1,15})(?:\.(\d+))?$/.exec(text);
  const fraction = match?.[2] ?? "";
  if (!match || fraction.length > exponent) {
    throw new TapwireError(`amount ${JSON.stringify(text)} needs at most ${exponent} decimal places`, ErrorCode.InvalidMoney);
  }
  const amountMinor = Number(match[1]! + fraction.padEnd(exponent, "0"));
  if (!Number.isSafeInteger(amountMinor) || amountMinor < 1 || amountMinor > amountMinorMax) {
    throw new TapwireError(`amount ${text} outside 1..${amountMinorMax} minor units`, ErrorCode.InvalidMoney);
  }
  return amountMinor;
}

/** One line per change a cashier cares about. */
export function describeView(view: TapHubView): string {
  const { tap } = view;
  const sale = tap.sale ? ` ${formatMoney(tap.sale)} (${tap.sale.offline ? "offline" : tap.sale.mode})` : "";
  const code = tap.lastDecisionCode ? ` E${tap.lastDecisionCode} ${errorCodeName(tap.lastDecisionCode)}` : "";
  const refusal = tap.refusal ? ` refused: E${tap.refusal.code} ${errorCodeName(tap.refusal.code)}` : "";
  const faults = [tap.readerPresent ? "" : ", reader gone", tap.clockWrong ? ", clock wrong" : ""].join("");
  const last = tap.lastSale
    ? `; last sale: ${tap.lastSale.outcome.replace("_", " ")} ${formatMoney(tap.lastSale)}${tap.lastSale.code ? ` E${tap.lastSale.code}` : ""}`
    : "";
  const backlog = view.offlineBacklog.count > 0 ? `; ${view.offlineBacklog.count} offline to forward` : "";
  const busy = view.retrying ? " (service busy, retrying)" : "";
  return `hub ${view.hub}, ${tap.online ? "online" : "offline"}${faults}: ${tap.state}${busy}${sale}${code}${refusal}${last}${backlog}`;
}

/** A started hub, its health checks and how to stop it. */
export interface RunningHub {
  hub: TapHub;
  journal: HubJournal;
  /** What the service watchdog checks: the reader present and answering its probe, the journal writable. */
  checks: Record<string, HealthCheck>;
  /** Stops the hub and closes what startHub opened. */
  stop(): Promise<void>;
}

/** Opens the journal, the NFC reader, the panel and the broker link from a validated config and starts the hub. */
export async function startHub(config: HubFileConfig, secrets: HubSecrets): Promise<RunningHub> {
  const journal = HubJournal.open({ path: config.journalFile, clock: systemClock });
  let panelTransport: (FirmataTransport & SerialPortLike) | undefined;
  let assembly: TapHubAssembly | undefined;
  const stop = async () => {
    await assembly?.stop();
    if (panelTransport) await closePort(panelTransport);
    journal.close();
  };
  try {
    panelTransport = await openPanelTransport(config);
    const scanner = config.scanner;
    assembly = new TapHubAssembly({
      hubId: config.hubId,
      merchantId: config.merchantId,
      nfc: {
        openPort: () => openSerialPort({ path: config.nfc.path, baudRate: config.nfc.baudRate, openTimeoutMs: config.nfc.openTimeoutMs }),
        apduTimeoutMs: config.nfc.apduTimeoutMs,
        readAttemptsMax: config.nfc.readAttemptsMax,
        probe: { intervalMs: config.nfc.probeIntervalMs, timeoutMs: config.nfc.probeTimeoutMs },
      },
      panel: { transport: panelTransport, config: config.panel.config },
      ...(scanner ? { scanner: { mode: scanner.mode, open: () => openHidDevice(scanner) } } : {}),
      settlement: {
        link: {
          url: config.broker.url,
          tls: { caPem: secrets.caPem, certPem: secrets.certPem, keyPem: secrets.keyPem },
          principal: { kind: "hub", id: config.hubId },
          protocolVersion: config.broker.protocolVersion,
          servicePublicKey: importPublicPem(secrets.servicePublicKeyPem),
        },
        connectTimeoutMs: config.link.connectTimeoutMs,
      },
      signer: KeyFileHubSigner.fromPem(secrets.keyPem),
      journal,
      timing: config.tap,
      ...(config.offline ? { offline: config.offline } : {}),
      link: config.link,
      resend: config.resend,
      clock: systemClock,
      timers: systemTimers,
      random: systemRandom,
      crashPoint: crashPointFromEnv(process.env),
    });
    await assembly.start();
    const started = assembly;
    const checks = { reader: () => started.readerProblem(), journal: journalHealth(journal, config.journalFile) };
    return { hub: assembly.hub, journal, checks, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A Firmata board on a real serial port, or a served virtual one over tcp://. */
export async function openPanelTransport(config: HubFileConfig): Promise<FirmataTransport & SerialPortLike> {
  const { path, baudRate } = config.panel;
  if (path.startsWith("tcp://")) return (await openSerialPort({ path, baudRate, openTimeoutMs: config.nfc.openTimeoutMs })) as FirmataTransport & SerialPortLike;
  return new SerialPort({ path, baudRate, autoOpen: true });
}

export function closePort(port: SerialPortLike): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}

/** Feeds stdin lines to the hub and prints every state change until `quit`, end of input or a signal. */
export async function runHubConsole(hub: TapHub, input: Readable, output: Writable, signal: AbortSignal): Promise<void> {
  const unsubscribe = printChanges(hub, output);
  const lines = createInterface({ input, terminal: false });
  const done = new Promise<void>((resolve) => {
    lines.once("close", resolve);
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    try {
      const command = parseHubInput(line);
      if (command.kind === "quit") lines.close();
      else if (command.kind === "cancel") hub.cancel();
      else if (command.kind === "status") output.write(`${describeView(hub.view())}\n`);
      else hub.setAmount(command.amountMinor, command.currency, command.mode);
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      output.write(`E${error.code} ${errorCodeName(error.code)}: ${error.message}\n`);
    }
  });
  await done;
  unsubscribe();
  lines.close();
}

export async function hubCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    config: { type: "string" },
    console: { type: "string" },
    "metrics-port": { type: "string" },
    "metrics-host": { type: "string", default: "127.0.0.1" },
  });
  const consoleInput = oneOfFlag(values.console, ["stdin", "none"], "console") ?? "stdin";
  const config = loadHubConfig(requireFlag(values.config, "config"));
  const running = await startHub(config, readHubSecrets(config.broker));
  const metricsPort = values["metrics-port"];
  const served = metricsPort === undefined ? undefined : await serveHubMetrics(tapHubMetered(running.hub), running.journal, running.checks, { port: integerFlag(metricsPort, "metrics-port", 0, 65_535, 0), host: values["metrics-host"] }).catch(async (error: unknown) => {
    await running.stop();
    throw error;
  });
  const stopping = stopSignal();
  const prompt = consoleInput === "stdin" ? `type "12.50 EUR reader", "9.99 EUR tag", "cancel" or "quit"` : "no console: stop it with SIGTERM";
  process.stdout.write(`tapwire hub ${config.hubId} started; ${prompt}${served ? `; metrics on ${served.url}/metrics` : ""}\n`);
  const watchdog = serviceWatchdogFromEnv(process.env, running.checks, systemTimers);
  const unsubscribe = watchdog ? running.hub.subscribe((view) => watchdog.status(describeView(view))) : () => undefined;
  watchdog?.ready(describeView(running.hub.view()));
  try {
    if (consoleInput === "stdin") await runHubConsole(running.hub, process.stdin, process.stdout, stopping.signal);
    else await aborted(stopping.signal, running.hub, process.stdout);
  } finally {
    unsubscribe();
    await watchdog?.stop();
    await served?.stop();
    stopping.dispose();
    await running.stop();
  }
  return 0;
}

/** Prints the hub's status line each time it changes; returns the unsubscribe. */
function printChanges(hub: TapHub, output: Writable): () => void {
  let last = "";
  return hub.subscribe((view) => {
    const line = describeView(view);
    if (line !== last) output.write(`${line}\n`);
    last = line;
  });
}

/** Without a console the hub still prints each change (to the service's journal) until it is signalled. */
async function aborted(signal: AbortSignal, hub: TapHub, output: Writable): Promise<void> {
  const unsubscribe = printChanges(hub, output);
  await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  unsubscribe();
}
