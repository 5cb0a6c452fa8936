import { X509Certificate, createPrivateKey } from "node:crypto";
import { accessSync, constants, existsSync } from "node:fs";
import { dirname } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { Writable } from "node:stream";
import { systemClock, type Clock } from "../core/sources.ts";
import { HubJournal } from "../device/journal/hub-journal.ts";
import { HubPanel } from "../firmware-bridge/gpio/hub-panel.ts";
import { Pn532 } from "../firmware-bridge/nfc/pn532.ts";
import { openSerialPort } from "../firmware-bridge/serial/open-serial-port.ts";
import { journalHealth } from "../firmware-bridge/systemd/journal-health.ts";
import { ErrorCode, TapwireError, errorCodeName, isTapwireError } from "../protocol/errors.ts";
import { parseFlags, requireFlag } from "./args.ts";
import { hubIdOfCertificate } from "./hub-init.ts";
import { loadHubConfig, readHubSecrets, type HubFileConfig, type HubSecrets } from "./hub-config.ts";
import { closePort, openPanelTransport } from "./hub.ts";

export const hubCheckUsage = `tapwire hub check --config hub.json
  Checks a hub before it goes on the counter, one line each: the config, the certificate (whose, issued by the CA,
  the key matching, valid dates), the journal (opens, writable, open requests), the reader (its firmware version),
  the panel (the Firmata handshake), the broker (mutual TLS handshake, no MQTT session) and the clock against it.
  Exit 0 when every check is ok. Stop the hub first (\`systemctl stop tapwire-hub\`): it holds the serial ports.
  example: tapwire hub check --config hub.json`;

export interface CheckResult {
  name: string;
  /** Undefined when ok. */
  problem: string | undefined;
  detail: string;
}

const dayMs = 86_400_000;
/** After the handshake, how long a refusal of our certificate (a TLS 1.3 alert) may take to arrive. */
const tlsAlertWaitMs = 500;

function describeError(error: unknown): string {
  if (isTapwireError(error)) return `E${error.code} ${errorCodeName(error.code)}: ${error.message}`;
  return (error as Error).message;
}

/** A TapwireError, or a system or OpenSSL error (a string code): what a check reports rather than a bug. */
function isOperatingError(error: unknown): error is Error {
  return isTapwireError(error) || (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string");
}

/** Runs `work`; an operating error becomes the check's problem, a bug still throws. */
async function check(name: string, work: () => Promise<string> | string): Promise<CheckResult> {
  try {
    return { name, problem: undefined, detail: await work() };
  } catch (error) {
    if (!isOperatingError(error)) throw error;
    return { name, problem: describeError(error), detail: "" };
  }
}

function certificateCheck(config: HubFileConfig, secrets: HubSecrets, clock: Clock): string {
  const cert = new X509Certificate(secrets.certPem);
  const certHubId = hubIdOfCertificate(secrets.certPem);
  const invalid = (message: string, code: ErrorCode = ErrorCode.ConfigInvalid) => new TapwireError(message, code);
  if (certHubId !== config.hubId) throw invalid(`the certificate is hub ${certHubId}'s, the config says ${config.hubId}`);
  if (!cert.verify(new X509Certificate(secrets.caPem).publicKey)) throw invalid("the certificate was not issued by the CA in caFile");
  if (!cert.checkPrivateKey(createPrivateKey(secrets.keyPem))) throw invalid("keyFile is not the certificate's key");
  const nowMs = clock.nowMs();
  const fromMs = Date.parse(cert.validFrom);
  const toMs = Date.parse(cert.validTo);
  if (nowMs < fromMs) throw invalid(`not valid before ${cert.validFrom}, which is after this clock's now: the clock is behind`, ErrorCode.ClockWrong);
  if (nowMs > toMs) throw invalid(`expired ${cert.validTo}: enrol the hub again`);
  return `hubs/${certHubId}, valid until ${cert.validTo} (${Math.floor((toMs - nowMs) / dayMs)} days)`;
}

/** Opens an existing journal (never creates one: a missing file is fine, the hub creates it at its first start). */
function journalCheck(config: HubFileConfig, clock: Clock): string {
  const path = config.journalFile;
  if (!existsSync(path)) {
    accessSync(dirname(path), constants.W_OK);
    return `${path} not there yet; its folder is writable (the hub creates it at its first start)`;
  }
  const journal = HubJournal.open({ path, clock });
  try {
    const problem = journalHealth(journal, path)();
    if (problem !== undefined) throw new TapwireError(problem, ErrorCode.JournalUnavailable);
    const open = journal.openRequests().length;
    return `${path}: writable, seq ${journal.lastSeq}, ${open} open request${open === 1 ? "" : "s"}${open > 0 ? " (the hub resumes them at start)" : ""}`;
  } finally {
    journal.close();
  }
}

async function readerCheck(config: HubFileConfig): Promise<string> {
  const port = await openSerialPort({ path: config.nfc.path, baudRate: config.nfc.baudRate, openTimeoutMs: config.nfc.openTimeoutMs });
  const pn532 = new Pn532(port);
  try {
    await pn532.start();
    const firmware = await pn532.getFirmwareVersion({ timeoutMs: config.nfc.probeTimeoutMs });
    const ic = firmware.ic === 0x32 ? "PN532" : `IC 0x${firmware.ic.toString(16)}`;
    return `${ic} firmware ${firmware.version}.${firmware.revision} on ${config.nfc.path}`;
  } finally {
    pn532.stop();
    await closePort(port);
  }
}

async function panelCheck(config: HubFileConfig): Promise<string> {
  const transport = await openPanelTransport(config);
  const panel = new HubPanel(transport, config.panel.config);
  try {
    await panel.start();
    return `Firmata board answered on ${config.panel.path}; pins ${Object.values(config.panel.config.pins).join(", ")} usable`;
  } finally {
    await panel.stop();
    await closePort(transport);
  }
}

interface Handshake {
  peerValidFrom: string;
  peerValidTo: string;
}

/** A TLS handshake with the broker as this hub, then a short wait for a refusal of our certificate; no MQTT session. */
function brokerHandshake(config: HubFileConfig, secrets: HubSecrets): Promise<Handshake> {
  const { hostname, port } = new URL(config.broker.url);
  return new Promise((resolve, reject) => {
    let socket: TLSSocket | undefined = undefined;
    const timeoutMs = config.link.connectTimeoutMs;
    const timer = setTimeout(() => finish(new TapwireError(`no TLS handshake within ${timeoutMs} ms`, ErrorCode.Offline, { timeoutMs })), timeoutMs);
    const finish = (error: Error | undefined, handshake?: Handshake) => {
      clearTimeout(timer);
      socket?.destroy();
      if (error) reject(error);
      else resolve(handshake!);
    };
    socket = tlsConnect({ host: hostname, port: Number(port), ca: secrets.caPem, cert: secrets.certPem, key: secrets.keyPem, minVersion: "TLSv1.2" });
    socket.once("error", (error) => finish(error));
    socket.once("secureConnect", () => {
      const peer = socket!.getPeerX509Certificate();
      const handshake = { peerValidFrom: peer?.validFrom ?? "?", peerValidTo: peer?.validTo ?? "?" };
      setTimeout(() => finish(undefined, handshake), tlsAlertWaitMs);
    });
  });
}

/** The broker and the clock share one handshake: a clock outside the broker's certificate dates fails it. */
async function brokerAndClockChecks(config: HubFileConfig, secrets: HubSecrets, clock: Clock): Promise<CheckResult[]> {
  const now = new Date(clock.nowMs()).toISOString();
  try {
    const handshake = await brokerHandshake(config, secrets);
    return [
      { name: "broker", problem: undefined, detail: `mutual TLS with ${config.broker.url} as hubs/${config.hubId}` },
      { name: "clock", problem: undefined, detail: `${now} is inside the broker's certificate dates (${handshake.peerValidFrom} to ${handshake.peerValidTo})` },
    ];
  } catch (error) {
    if (!isOperatingError(error)) throw error;
    const code = isTapwireError(error) ? undefined : (error as NodeJS.ErrnoException).code;
    if (code === "CERT_NOT_YET_VALID" || code === "CERT_HAS_EXPIRED") {
      const which = code === "CERT_NOT_YET_VALID" ? "not yet valid: this clock is behind" : "expired: this clock is ahead (or the broker's certificate expired)";
      return [
        { name: "broker", problem: `TLS refused: ${code}`, detail: "" },
        { name: "clock", problem: `${now}: the broker's certificate is ${which}`, detail: "" },
      ];
    }
    return [
      { name: "broker", problem: `${config.broker.url}: ${describeError(error)}`, detail: "" },
      { name: "clock", problem: "not checked: no handshake with the broker", detail: "" },
    ];
  }
}

/** Every check after the config's: each one bounded by its own timeout, none stopping the next. */
export async function runHubChecks(config: HubFileConfig, secrets: HubSecrets, clock: Clock = systemClock): Promise<CheckResult[]> {
  return [
    await check("certificate", () => certificateCheck(config, secrets, clock)),
    await check("journal", () => journalCheck(config, clock)),
    await check("reader", () => readerCheck(config)),
    await check("panel", () => panelCheck(config)),
    ...(await brokerAndClockChecks(config, secrets, clock)),
  ];
}

export function printCheck(result: CheckResult, output: Writable): void {
  output.write(result.problem === undefined ? `ok    ${result.name}: ${result.detail}\n` : `FAIL  ${result.name}: ${result.problem}\n`);
}

export async function hubCheckCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: "string" } });
  const configPath = requireFlag(values.config, "config");
  let loaded: { config: HubFileConfig; secrets: HubSecrets };
  try {
    const config = loadHubConfig(configPath);
    loaded = { config, secrets: readHubSecrets(config.broker) };
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    printCheck({ name: "config", problem: describeError(error), detail: "" }, process.stdout);
    return 1;
  }
  printCheck({ name: "config", problem: undefined, detail: `${configPath}: hub ${loaded.config.hubId}, merchant ${loaded.config.merchantId}` }, process.stdout);
  const results = await runHubChecks(loaded.config, loaded.secrets);
  for (const result of results) printCheck(result, process.stdout);
  return results.every((result) => result.problem === undefined) ? 0 : 1;
}
