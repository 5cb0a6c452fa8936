import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { glassesHubConfig } from "../device/glasses/config.ts";
import { langs } from "../device/intent/intent.ts";
import { attMtuMax, attMtuMin } from "../firmware-bridge/ble/frames.ts";
import { defaultGlassesLinkTimeouts } from "../firmware-bridge/ble/glasses-link-options.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { idSchema } from "../protocol/ids.ts";
import { importPrivatePem, importPublicPem } from "../protocol/keys.ts";
import { brokerFiles, brokerSchema, filePath, schemaReference } from "./hub-config.ts";

/** A config file is a few kilobytes; anything far larger is not one. */
export const configFileBytesMax = 64 * 1024;

const msMax = 3_600_000;
const ms = (what: string) => z.number().int(`${what} must be whole milliseconds`).min(1, `${what} must be at least 1 ms`).max(msMax, `${what} must be at most ${msMax} ms`);
const about = (title: string, description: string, unit?: string) => ({ title, description, ...(unit ? { unit } : {}) });
const timed = (key: string, title: string, description: string) => ms(key).optional().meta(about(title, description, "milliseconds"));

const timeoutKeys = Object.keys(defaultGlassesLinkTimeouts) as Array<keyof typeof defaultGlassesLinkTimeouts>;

/** Keys glasses.json had before it named things as hub.json does; each is refused with its new name. */
export const renamedGlassesKeys: Record<string, string> = {
  settlement: "broker",
  timing: "timings",
  requestTtlMs: "timings.requestTtlMs",
};

export const glassesHubFileSchema = z.strictObject({
  $schema: schemaReference,
  hubId: idSchema.meta(about("Hub id", "This hub's id, as enrolled (its certificate's CN is hubs/HUB).")),
  merchantId: idSchema.meta(about("Merchant id", "The merchant the hub is enrolled for; the service refuses requests naming another.")),
  owner: z
    .strictObject({
      ownerId: idSchema.meta(about("Owner id", "The person wearing the glasses.")),
      walletId: idSchema.meta(about("Wallet id", "The wallet their purchases are paid from.")),
      lang: z.enum(langs).default("en").meta(about("Language", "What the hub understands and answers in.")),
    })
    .meta(about("Owner", "Who pays through these glasses.")),
  broker: brokerSchema,
  signingKeyFile: filePath.optional().meta(about("Signing key", "The key requests are signed with. Default: the broker key (the one enrolled).")),
  journalFile: filePath
    .default("glasses-journal.sqlite")
    .meta(about("Journal file", "The hub journal (SQLite): every signed request and the seq counter. It must survive restarts.")),
  pairingFile: filePath.default("glasses-pairing.json").meta(about("Pairing file", "The paired glasses, written by --pair CODE.")),
  ble: z
    .strictObject({
      hciDeviceId: z.number().int().min(0).max(15).default(0).meta(about("HCI adapter", "The Bluetooth adapter: 0 for hci0.")),
      mtuRequested: z
        .number()
        .int()
        .min(attMtuMin, `must be at least ${attMtuMin} bytes`)
        .max(attMtuMax, `must be at most ${attMtuMax} bytes`)
        .optional()
        .meta(about("ATT MTU", "The MTU asked of the glasses.", "bytes")),
      timeouts: z
        .strictObject(Object.fromEntries(timeoutKeys.map((key) => [key, timed(key, key, "A wait of the BLE link to the glasses.")])))
        .optional()
        .meta(about("BLE timeouts", "Waits of the link to the glasses.")),
      reconnect: z
        .strictObject({
          delayMsInitial: timed("delayMsInitial", "First reconnect delay", "After the glasses went away; doubles up to delayMsMax."),
          delayMsMax: timed("delayMsMax", "Longest reconnect delay", "Between two attempts to reach the glasses."),
          attemptsMax: z.number().int().min(1).max(1_000_000).optional().meta(about("Reconnect attempts", "Before giving up.", "attempts")),
        })
        .optional()
        .meta(about("Reconnecting", "How the hub reaches the glasses again.")),
    })
    .default({ hciDeviceId: 0 })
    .meta(about("Bluetooth", "The adapter and the link to the glasses.")),
  quantityMax: z.number().int().optional().meta(about("Largest quantity", "One spoken purchase buys at most this many.", "units")),
  unclearRetriesMax: z.number().int().optional().meta(about("Unclear answers", "Asked again before giving up.", "retries")),
  stepUpsMax: z.number().int().optional().meta(about("Step-ups", "Confirmations the hub answers for one payment.", "step-ups")),
  timings: z
    .strictObject({
      offerTimeoutMs: timed("offerTimeoutMs", "Offer timeout", "The whole offer conversation, to an accepted intent."),
      intentTimeoutMs: timed("intentTimeoutMs", "Intent timeout", "Silence allowed after each prompt."),
      biometricTimeoutMs: timed("biometricTimeoutMs", "Biometric timeout", "From asking to confirm identity to a verified assertion."),
      decisionTimeoutMs: timed("decisionTimeoutMs", "Decision timeout", "For each request sent to the settlement service."),
      reviewTimeoutMs: timed("reviewTimeoutMs", "Review timeout", "How long the hub waits for a human reviewer's decision."),
      resultDisplayMs: timed("resultDisplayMs", "Result display", "How long the result stays on the glasses."),
      requestTtlMs: timed("requestTtlMs", "Request lifetime", "Each signed request's exp minus iat."),
    })
    .optional()
    .meta(about("Timings", "The purchase conversation's waits; each has its default.")),
});

export type GlassesHubFileConfig = z.output<typeof glassesHubFileSchema>;

function invalid(what: string, details: string[]): TapwireError {
  return new TapwireError(`${what}: ${details.join("; ")}`, ErrorCode.ConfigInvalid, { details });
}

/** `key: renamed to "new"` for each old key present; the schema's own complaint about those keys is dropped. */
function renamedProblems(input: unknown): { details: string[]; renamed: Set<string> } {
  const raw = typeof input === "object" && input !== null ? (input as Record<string, unknown>) : {};
  const renamed = new Set(Object.keys(renamedGlassesKeys).filter((key) => key in raw));
  const details = [...renamed].map((key) => `${key}: renamed to ${renamedGlassesKeys[key]} (as in hub.json)`);
  return { details, renamed };
}

/** Validates a parsed config (ConfigInvalid with readable `path: message` details), the hub options included. */
export function parseGlassesHubConfig(input: unknown): GlassesHubFileConfig {
  const { details, renamed } = renamedProblems(input);
  const result = glassesHubFileSchema.safeParse(input);
  for (const issue of result.success ? [] : result.error.issues) {
    const keys = issue.code === "unrecognized_keys" ? issue.keys.filter((key) => !renamed.has(key)) : undefined;
    if (keys?.length === 0) continue;
    const message = keys ? `unknown keys ${keys.join(", ")}` : issue.message;
    details.push(`${issue.path.join(".") || "(config)"}: ${message}`);
  }
  if (!result.success || details.length > 0) throw invalid("invalid glasses hub config", details);
  const config = result.data;
  // The purchase machine's own checks (units and ranges), run now rather than after pairing.
  const { merchantId: _merchantId, ...machineOptions } = glassesHubOptionsOf(config);
  glassesHubConfig({ ...machineOptions, pairing: { ...config.owner, glassesId: "unpaired" } });
  return config;
}

/** The purchase machine's options from the file's keys. */
export function glassesHubOptionsOf(config: GlassesHubFileConfig) {
  const { requestTtlMs, ...timing } = config.timings ?? {};
  return {
    hubId: config.hubId,
    merchantId: config.merchantId,
    ...(config.quantityMax === undefined ? {} : { quantityMax: config.quantityMax }),
    ...(config.unclearRetriesMax === undefined ? {} : { unclearRetriesMax: config.unclearRetriesMax }),
    ...(config.stepUpsMax === undefined ? {} : { stepUpsMax: config.stepUpsMax }),
    ...(requestTtlMs === undefined ? {} : { requestTtlMs }),
    ...(config.timings === undefined ? {} : { timing }),
  };
}

/** Everything the hub needs, read and checked before any radio is touched. */
export interface GlassesHubSetup {
  config: GlassesHubFileConfig;
  tls: { caPem: string; certPem: string; keyPem: string };
  servicePublicKeyPem: string;
  signingKeyPath: string;
  journalPath: string;
  pairingPath: string;
}

function readText(path: string, what: string): string {
  try {
    const text = readFileSync(path, "utf8");
    if (text.length > configFileBytesMax) throw new Error(`over ${configFileBytesMax} bytes`);
    return text;
  } catch (error) {
    throw new TapwireError(`${what} ${path}: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path });
  }
}

/** A PEM certificate, parsed here so a wrong file is a config error and not a TLS failure at connect time. */
function readCertificate(path: string, what: string): string {
  const pem = readText(path, what);
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new TapwireError(`${what} ${path} is not a PEM certificate: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path });
  }
  return pem;
}

/** Reads the config file and every file it names; ConfigInvalid (or InvalidKey) before any hardware is opened. */
export function loadGlassesHubSetup(configPath: string): GlassesHubSetup {
  let parsed: unknown;
  const text = readText(configPath, "config file");
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalid(`config file ${configPath} is not JSON`, [(error as Error).message]);
  }
  const config = parseGlassesHubConfig(parsed);
  const base = dirname(resolve(configPath));
  const at = (file: string) => (isAbsolute(file) ? file : join(base, file));
  const files = brokerFiles(config.broker, at);
  const servicePublicKeyPem = readText(files.servicePublicKeyFile, "service public key");
  importPublicPem(servicePublicKeyPem);
  const keyPem = readText(files.keyFile, "hub key");
  importPrivatePem(keyPem);
  return {
    config,
    tls: { caPem: readCertificate(files.caFile, "CA certificate"), certPem: readCertificate(files.certFile, "hub certificate"), keyPem },
    servicePublicKeyPem,
    signingKeyPath: config.signingKeyFile ? at(config.signingKeyFile) : files.keyFile,
    journalPath: at(config.journalFile),
    pairingPath: at(config.pairingFile),
  };
}
