import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { defaultLinkConfig, linkConfigRanges, type LinkConfig } from "../device/link/link-machine.ts";
import { defaultResendConfig, resendConfigRanges, type ResendConfig } from "../device/link/outbox-config.ts";
import { defaultTapTiming, offlineConfigProblems, validateTapConfig, type OfflineConfig, type TapTiming } from "../device/tap/tap-config.ts";
import { rangeProblems } from "../core/ranges.ts";
import { parseHubPanelConfig, type HubPanelConfig } from "../firmware-bridge/gpio/hub-panel-config.ts";
import { scannerModes } from "../firmware-bridge/hid/open-hid-device.ts";
import { ErrorCode, isTapwireError, TapwireError } from "../protocol/errors.ts";
import { idSchema } from "../protocol/ids.ts";
import { pn532ProbeDefaults } from "../firmware-bridge/nfc/pn532-probe.ts";

/** Baud rates the serial opener accepts. */
const baudRates = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;

const milliseconds = (min: number, max: number) =>
  z
    .number({ error: `must be a whole number of milliseconds between ${min} and ${max}` })
    .int(`must be a whole number of milliseconds between ${min} and ${max}`)
    .min(min, `must be between ${min} and ${max} milliseconds`)
    .max(max, `must be between ${min} and ${max} milliseconds`);

/** Title, description and unit of a key: what the JSON Schema shows an editor (JSON has no comments). */
const about = (title: string, description: string, unit?: string) => ({ title, description, ...(unit ? { unit } : {}) });

export const filePath = z.string({ error: "must be a file path" }).min(1, "must be a file path");

/** A device path (`/dev/ttyS0`, `/dev/serial/by-id/…`, `COM3`) or `tcp://host:port` for a served simulator. */
const serialPath = z
  .string({ error: "must be a device path or tcp://host:port" })
  .min(1, "must be a device path or tcp://host:port")
  .refine((path) => !path.startsWith("tcp://") || /^tcp:\/\/[^:/\s]+:\d{1,5}$/.test(path), "must be tcp://host:port with a port number");

const baudRate = z
  .number({ error: `must be one of ${baudRates.join(", ")}` })
  .refine((rate) => (baudRates as readonly number[]).includes(rate), `must be one of ${baudRates.join(", ")}`);

/** The files of an enrolment bundle (`tapwire hub enroll --out DIR`), each by its key in the broker section. */
export const bundleFiles = { caFile: "ca.pem", certFile: "cert.pem", keyFile: "key.pem", servicePublicKeyFile: "service.pub.pem" } as const;
export type BundleFileKey = keyof typeof bundleFiles;

/** The broker section, the same in hub.json and glasses.json. */
export const brokerSchema = z
  .strictObject({
    url: z
      .string({ error: "must be an mqtts://host:port URL" })
      .regex(/^mqtts:\/\/[^\s/]+:\d{1,5}$/, "must be an mqtts://host:port URL")
      .meta(about("Broker URL", "The settlement broker, mqtts://HOST:PORT: mutual TLS only.")),
    enrolmentDir: filePath
      .optional()
      .meta(about("Enrolment bundle", "The folder `tapwire hub enroll --out DIR` wrote (ca.pem, cert.pem, key.pem, service.pub.pem). A file key below overrides its part.")),
    caFile: filePath.optional().meta(about("CA certificate", "The operator CA (PEM) the broker's certificate chains to. Default: enrolmentDir/ca.pem.")),
    certFile: filePath.optional().meta(about("Hub certificate", "This hub's client certificate (PEM, CN hubs/HUB). Default: enrolmentDir/cert.pem.")),
    keyFile: filePath.optional().meta(about("Hub key", "This hub's private key (PEM): TLS client key and request signing key. Default: enrolmentDir/key.pem.")),
    servicePublicKeyFile: filePath
      .optional()
      .meta(about("Service public key", "The settlement service's decision-signing key (PEM). Default: enrolmentDir/service.pub.pem.")),
    protocolVersion: z
      .union([z.literal(4), z.literal(5)], { error: "must be 4 or 5" })
      .default(4)
      .meta(about("MQTT protocol version", "4 for the embedded aedes broker, 5 for Mosquitto.")),
  })
  .refine(
    (broker) => broker.enrolmentDir !== undefined || (Object.keys(bundleFiles) as BundleFileKey[]).every((key) => broker[key] !== undefined),
    "needs enrolmentDir, or all of caFile, certFile, keyFile and servicePublicKeyFile",
  )
  .meta(about("Settlement broker", "Where the hub sends its signed requests, and the files it proves who it is with."));

const nfcSchema = z
  .strictObject({
    path: serialPath.meta(about("Reader port", "The PN532's serial device (/dev/tapwire-nfc from the udev rules, /dev/serial0) or tcp://127.0.0.1:N of `tapwire sim serve pn532`.")),
    baudRate: baudRate.default(115200).meta(about("Reader baud rate", `The PN532's HSU speed: one of ${baudRates.join(", ")}.`, "bits per second")),
    openTimeoutMs: milliseconds(1, 60_000).default(2_000).meta(about("Open timeout", "How long opening the port may take.", "milliseconds")),
    apduTimeoutMs: milliseconds(10, 10_000).default(500).meta(about("APDU timeout", "One APDU round trip with a phone before it counts as gone.", "milliseconds")),
    readAttemptsMax: z
      .number({ error: "must be a whole number between 1 and 20" })
      .int("must be a whole number between 1 and 20")
      .min(1, "must be between 1 and 20")
      .max(20, "must be between 1 and 20")
      .default(5)
      .meta(about("Read attempts", "Reads of one sale after a phone was pulled away mid-read.", "attempts")),
    probeIntervalMs: milliseconds(100, 600_000)
      .default(pn532ProbeDefaults.intervalMs)
      .meta(about("Health probe interval", "How often the idle reader is asked for its firmware version (the watchdog's reader check).", "milliseconds")),
    probeTimeoutMs: milliseconds(10, 10_000)
      .default(pn532ProbeDefaults.timeoutMs)
      .meta(about("Health probe timeout", "How long the reader may take to answer the probe before it counts as hung.", "milliseconds")),
  })
  .meta(about("NFC reader", "The PN532 the phones are tapped on."));

const scannerSchema = z
  .strictObject({
    path: z
      .string({ error: "must be /dev/hidrawN, usb:VVVV:PPPP or tcp://host:port" })
      .regex(/^(\/\S+|usb:[0-9a-fA-F]{4}:[0-9a-fA-F]{4}|tcp:\/\/\S+)$/, "must be /dev/hidrawN, usb:VVVV:PPPP or tcp://host:port")
      .meta(
        about(
          "Scanner device",
          "The USB QR/barcode scanner (keyboard mode) as a HID device: /dev/tapwire-scanner from the udev rules, /dev/hidrawN, usb:VVVV:PPPP (vendor and product id in hex), or tcp://127.0.0.1:N of `tapwire sim serve hid`.",
        ),
      ),
    mode: z
      .enum(scannerModes, { error: `must be one of ${scannerModes.join(", ")}` })
      .default("keyboard")
      .meta(
        about(
          "Scanner mode",
          "keyboard: the USB keyboard mode scanners ship in (8-byte boot reports; its keystrokes also reach the text console). pos: HID POS mode (64-byte scanned-data reports; no keystrokes anywhere), set on the scanner with its configuration barcode.",
        ),
      ),
    openTimeoutMs: milliseconds(1, 60_000).default(2_000).meta(about("Open timeout", "How long opening the scanner may take.", "milliseconds")),
  })
  .meta(about("Payment-code scanner", "A scanner for the payment codes wallets show (`TW1:` QR codes): a customer may scan instead of tapping. Absent: tap only."));

/** The panel's own settings (pins, wiring, timings) are HubPanel's; path and baudRate say where it is. */
export const panelSchema = z
  .looseObject({
    path: serialPath.meta(about("Panel port", "The Firmata board's serial device (/dev/tapwire-panel from the udev rules) or tcp://127.0.0.1:N of `tapwire sim serve firmata`.")),
    baudRate: baudRate.default(57600).meta(about("Panel baud rate", `StandardFirmata's speed: one of ${baudRates.join(", ")}.`, "bits per second")),
  })
  .meta(about("Status panel", "The Firmata board driving the LEDs, the buzzer and the cancel button."));

/** Every timing's range is its owner's (tap flow, link, outbox resends), checked after the schema. */
export const timingKeys = [...Object.keys(defaultTapTiming), ...Object.keys(defaultLinkConfig), ...Object.keys(defaultResendConfig)];
const timingsSchema = z.strictObject(Object.fromEntries(timingKeys.map((key) => [key, z.unknown().optional()]))).prefault({});

/** Store and forward (reader mode while the link is down); the limits' ranges are validateTapConfig's. */
const offlineSchema = z
  .strictObject({
    currency: z.string().meta(about("Currency", "ISO 4217 code of the offline sales.")),
    saleMaxMinor: z.number().meta(about("Largest offline sale", "Per sale, in minor units of the currency.", "minor units")),
    totalMaxMinor: z.number().meta(about("Offline total", "All captures not yet forwarded, together.", "minor units")),
    countMax: z.number().meta(about("Offline count", "Captures not yet forwarded.", "sales")),
    ageMsMax: z.number().meta(about("Oldest capture", "Age of the oldest capture not yet forwarded.", "milliseconds")),
  })
  .meta(about("Store and forward", "Reader-mode sales approved offline within these floor limits while the link is down; absent: no offline sales."));

/** Accepted and ignored: where an editor finds the JSON Schema (`hub init` writes it). */
export const schemaReference = z.string().optional().meta(about("JSON Schema", "Where an editor finds this file's schema; ignored by the hub."));

export const hubFileSchema = z.strictObject({
  $schema: schemaReference,
  hubId: idSchema.meta(about("Hub id", "This hub's id, as enrolled (its certificate's CN is hubs/HUB).")),
  merchantId: idSchema.meta(about("Merchant id", "The merchant the hub is enrolled for; the service refuses requests naming another.")),
  broker: brokerSchema,
  nfc: nfcSchema,
  panel: panelSchema,
  scanner: scannerSchema.optional(),
  journalFile: filePath.meta(
    about("Journal file", "The hub journal (SQLite): every signed request and the seq counter. It must survive restarts: /var/lib/tapwire/journal.sqlite on a Pi."),
  ),
  offline: offlineSchema.optional(),
  timings: timingsSchema,
});

/** A validated hub.json with its defaults filled in and its paths made absolute. */
export interface HubFileConfig {
  hubId: string;
  merchantId: string;
  broker: { url: string; protocolVersion: 4 | 5 } & Record<BundleFileKey, string>;
  nfc: z.output<typeof nfcSchema>;
  panel: { path: string; baudRate: number; config: HubPanelConfig };
  scanner: z.output<typeof scannerSchema> | undefined;
  journalFile: string;
  offline: OfflineConfig | undefined;
  tap: TapTiming;
  link: LinkConfig;
  resend: ResendConfig;
}

function invalid(details: string[]): TapwireError {
  return new TapwireError(`invalid hub config: ${details.join("; ")}`, ErrorCode.ConfigInvalid, { details });
}

/**
 * Validates a hub config (parsed JSON) and fills defaults; relative file paths are taken from `baseDir` (the
 * config file's folder). Fails with ConfigInvalid listing every problem as `path: message`.
 */
export function parseHubConfig(input: unknown, baseDir: string): HubFileConfig {
  const result = hubFileSchema.safeParse(input);
  const details = result.success ? [] : result.error.issues.map((issue) => `${issue.path.join(".") || "(config)"}: ${issue.message}`);
  // The panel's and the tap timings' own validators run even when the schema failed, so every problem shows at once.
  const raw = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
  const rawPanel = (typeof raw["panel"] === "object" && raw["panel"] !== null ? raw["panel"] : {}) as Record<string, unknown>;
  const { path: _path, baudRate: _baudRate, ...panelInput } = rawPanel;
  const panelConfig = nested("panel", details, () => parseHubPanelConfig(panelInput));
  const rawTimings = (typeof raw["timings"] === "object" && raw["timings"] !== null ? raw["timings"] : {}) as Record<string, unknown>;
  const tap = { ...defaultTapTiming, ...pick(rawTimings, Object.keys(defaultTapTiming)) } as TapTiming;
  const link = { ...defaultLinkConfig, ...pick(rawTimings, Object.keys(defaultLinkConfig)) } as LinkConfig;
  const resend = { ...defaultResendConfig, ...pick(rawTimings, Object.keys(defaultResendConfig)) } as ResendConfig;
  const rawOffline = result.success ? result.data.offline : undefined;
  const offline = rawOffline && { currency: rawOffline.currency, limits: { saleMaxMinor: rawOffline.saleMaxMinor, totalMaxMinor: rawOffline.totalMaxMinor, countMax: rawOffline.countMax, ageMsMax: rawOffline.ageMsMax } };
  nested("timings", details, () => validateTapConfig({ hubId: "hub", merchantId: "merchant", ...tap }));
  if (offline) details.push(...offlineConfigProblems(offline));
  details.push(...rangeProblems(link, linkConfigRanges, "timings."), ...rangeProblems(resend, resendConfigRanges, "timings."));
  if (link.reconnectBackoffMaxMs < link.reconnectBackoffBaseMs) details.push("timings.reconnectBackoffMaxMs: must be at least reconnectBackoffBaseMs");
  if (!result.success || panelConfig === undefined) throw invalid(details);
  const config = result.data;
  if (details.length > 0) throw invalid(details);
  const file = (path: string) => (isAbsolute(path) ? path : resolve(baseDir, path));
  return {
    hubId: config.hubId,
    merchantId: config.merchantId,
    broker: { url: config.broker.url, protocolVersion: config.broker.protocolVersion, ...brokerFiles(config.broker, file) },
    nfc: config.nfc,
    panel: { path: config.panel.path, baudRate: config.panel.baudRate, config: panelConfig },
    scanner: config.scanner,
    journalFile: file(config.journalFile),
    offline,
    tap,
    link,
    resend,
  };
}

/** The four broker files, each given or taken from the enrolment bundle, resolved by `file`. */
export function brokerFiles(broker: z.output<typeof brokerSchema>, file: (path: string) => string): Record<BundleFileKey, string> {
  const pick = (key: BundleFileKey) => file(broker[key] ?? join(broker.enrolmentDir!, bundleFiles[key]));
  return { caFile: pick("caFile"), certFile: pick("certFile"), keyFile: pick("keyFile"), servicePublicKeyFile: pick("servicePublicKeyFile") };
}

/** Reads and validates a JSON config file; ConfigInvalid when it cannot be read or is not JSON. */
export function loadHubConfig(path: string): HubFileConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw invalid([`(config): cannot read ${path}: ${(error as Error).message}`]);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw invalid([`(config): ${path} is not valid JSON: ${(error as Error).message}`]);
  }
  return parseHubConfig(input, dirname(resolve(path)));
}

export interface HubSecrets {
  caPem: string;
  certPem: string;
  keyPem: string;
  servicePublicKeyPem: string;
}

/** Reads the broker's PEM files; ConfigInvalid naming each one that cannot be read. */
export function readHubSecrets(broker: HubFileConfig["broker"]): HubSecrets {
  const details: string[] = [];
  const read = (key: "caFile" | "certFile" | "keyFile" | "servicePublicKeyFile"): string => {
    try {
      return readFileSync(broker[key], "utf8");
    } catch (error) {
      details.push(`broker.${key}: cannot read ${broker[key]}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return "";
    }
  };
  const secrets = { caPem: read("caFile"), certPem: read("certFile"), keyPem: read("keyFile"), servicePublicKeyPem: read("servicePublicKeyFile") };
  if (details.length > 0) throw invalid(details);
  return secrets;
}

/** Runs a validator of another module, prefixing its `path: message` details with `prefix.`. */
function nested<T>(prefix: string, details: string[], validate: () => T): T | undefined {
  try {
    return validate();
  } catch (error) {
    if (!isTapwireError(error, ErrorCode.ConfigInvalid)) throw error;
    const context = error.context ?? {};
    const found = (context["details"] ?? context["problems"]) as string[] | undefined;
    details.push(...(found ?? [error.message]).map((detail) => `${prefix}.${detail}`));
    return undefined;
  }
}

function pick(values: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([key, value]) => keys.includes(key) && value !== undefined));
}
