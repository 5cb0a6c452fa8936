import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Noble } from "@stoprocent/noble";
import { z } from "zod";
import { glassesHubConfig } from "../device/glasses/config.ts";
import type { PurchaseOutcome } from "../device/glasses/outcome.ts";
import { HubJournal } from "../device/journal/hub-journal.ts";
import { langs } from "../device/intent/intent.ts";
import { defaultLinkConfig } from "../device/link/link-machine.ts";
import { systemClock } from "../core/sources.ts";
import { GlassesHubAssembly } from "../firmware-bridge/adapters/glasses-hub-assembly.ts";
import { KeyFileHubSigner } from "../firmware-bridge/adapters/key-file-signer.ts";
import { attMtuMax, attMtuMin } from "../firmware-bridge/ble/frames.ts";
import { defaultGlassesLinkTimeouts } from "../firmware-bridge/ble/glasses-link.ts";
import { JsonFilePairingStore } from "../firmware-bridge/ble/pairing-store.ts";
import { ErrorCode, TapwireError, errorCodeName } from "../protocol/errors.ts";
import { idSchema } from "../protocol/ids.ts";
import { importPrivatePem, importPublicPem } from "../protocol/keys.ts";
import { pairingCodePattern } from "../protocol/glasses.ts";
import { parseFlags, requireFlag } from "./args.ts";
import { untilStopSignal } from "./signals.ts";

export const glassesHubUsage = `tapwire glasses-hub --config glasses.json [--pair CODE]
  Runs a smart-glasses payment hub on this board's Bluetooth adapter (HCI) against a settlement broker.
  --pair CODE pairs the glasses showing that 6-digit code first (replacing any paired glasses).
  Config keys: hubId, merchantId, owner {ownerId, walletId, lang}, settlement {url, enrolmentDir | caFile, certFile,
  keyFile, servicePublicKeyFile, protocolVersion}, signingKeyFile, journalFile, pairingFile,
  ble {hciDeviceId, mtuRequested, timeouts, reconnect}, quantityMax, unclearRetriesMax, stepUpsMax,
  requestTtlMs, timing. Relative paths are read from the config file's folder.`;

/** A config file is a few kilobytes; anything far larger is not one. */
export const configFileBytesMax = 64 * 1024;

const msMax = 3_600_000;
const ms = (what: string) => z.number().int(`${what} must be whole milliseconds`).min(1, `${what} must be at least 1 ms`).max(msMax, `${what} must be at most ${msMax} ms`);
const path = z.string().min(1, "must be a file path");

const timeoutKeys = Object.keys(defaultGlassesLinkTimeouts) as Array<keyof typeof defaultGlassesLinkTimeouts>;

export const glassesHubFileSchema = z
  .object({
    hubId: idSchema,
    /** The merchant the hub is enrolled for (the service refuses requests naming another). */
    merchantId: idSchema,
    owner: z.object({ ownerId: idSchema, walletId: idSchema, lang: z.enum(langs).default("en") }).strict(),
    settlement: z
      .object({
        url: z.string().regex(/^mqtts:\/\/[^/]+$/, "must be mqtts://HOST:PORT (TLS only)"),
        /** The folder `tapwire hub enroll --out DIR` wrote: cert.pem, key.pem, ca.pem, service.pub.pem. */
        enrolmentDir: path.optional(),
        caFile: path.optional(),
        certFile: path.optional(),
        keyFile: path.optional(),
        servicePublicKeyFile: path.optional(),
        protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
      })
      .strict()
      .refine(
        (s) => s.enrolmentDir !== undefined || (s.caFile && s.certFile && s.keyFile && s.servicePublicKeyFile),
        "needs enrolmentDir, or all of caFile, certFile, keyFile and servicePublicKeyFile",
      ),
    /** The key requests are signed with; the settlement client key by default (the one enrolled). */
    signingKeyFile: path.optional(),
    /** The hub journal (SQLite): every signed request and the seq counter; it must survive restarts. */
    journalFile: path.default("glasses-journal.sqlite"),
    pairingFile: path.default("glasses-pairing.json"),
    ble: z
      .object({
        hciDeviceId: z.number().int().min(0).max(15).default(0),
        mtuRequested: z.number().int().min(attMtuMin, `must be at least ${attMtuMin} bytes`).max(attMtuMax, `must be at most ${attMtuMax} bytes`).optional(),
        timeouts: z.object(Object.fromEntries(timeoutKeys.map((key) => [key, ms(key).optional()]))).strict().optional(),
        reconnect: z
          .object({ delayMsInitial: ms("delayMsInitial").optional(), delayMsMax: ms("delayMsMax").optional(), attemptsMax: z.number().int().min(1).max(1_000_000).optional() })
          .strict()
          .optional(),
      })
      .strict()
      .default({ hciDeviceId: 0 }),
    quantityMax: z.number().int().optional(),
    unclearRetriesMax: z.number().int().optional(),
    stepUpsMax: z.number().int().optional(),
    requestTtlMs: z.number().int().optional(),
    timing: z
      .object({
        offerTimeoutMs: ms("offerTimeoutMs").optional(),
        intentTimeoutMs: ms("intentTimeoutMs").optional(),
        biometricTimeoutMs: ms("biometricTimeoutMs").optional(),
        decisionTimeoutMs: ms("decisionTimeoutMs").optional(),
        reviewTimeoutMs: ms("reviewTimeoutMs").optional(),
        resultDisplayMs: ms("resultDisplayMs").optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type GlassesHubFileConfig = z.output<typeof glassesHubFileSchema>;

/** Everything the hub needs, read and checked before any radio is touched. */
export interface GlassesHubSetup {
  config: GlassesHubFileConfig;
  tls: { caPem: string; certPem: string; keyPem: string };
  servicePublicKeyPem: string;
  signingKeyPath: string;
  journalPath: string;
  pairingPath: string;
}

function invalid(what: string, details: string[]): TapwireError {
  return new TapwireError(`${what}: ${details.join("; ")}`, ErrorCode.ConfigInvalid, { details });
}

/** Validates a parsed config (ConfigInvalid with readable `path: message` details), the hub options included. */
export function parseGlassesHubConfig(input: unknown): GlassesHubFileConfig {
  const result = glassesHubFileSchema.safeParse(input);
  if (!result.success) {
    throw invalid("invalid glasses hub config", result.error.issues.map((issue) => `${issue.path.join(".") || "(config)"}: ${issue.message}`));
  }
  const config = result.data;
  // The purchase machine's own checks (units and ranges), run now rather than after pairing.
  const { merchantId: _merchantId, ...machineOptions } = hubOptionsOf(config);
  glassesHubConfig({ ...machineOptions, pairing: { ...config.owner, glassesId: "unpaired" } });
  return config;
}

function hubOptionsOf(config: GlassesHubFileConfig) {
  return {
    hubId: config.hubId,
    merchantId: config.merchantId,
    ...(config.quantityMax === undefined ? {} : { quantityMax: config.quantityMax }),
    ...(config.unclearRetriesMax === undefined ? {} : { unclearRetriesMax: config.unclearRetriesMax }),
    ...(config.stepUpsMax === undefined ? {} : { stepUpsMax: config.stepUpsMax }),
    ...(config.requestTtlMs === undefined ? {} : { requestTtlMs: config.requestTtlMs }),
    ...(config.timing === undefined ? {} : { timing: config.timing }),
  };
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
  const s = config.settlement;
  const files = {
    ca: at(s.caFile ?? join(s.enrolmentDir!, "ca.pem")),
    cert: at(s.certFile ?? join(s.enrolmentDir!, "cert.pem")),
    key: at(s.keyFile ?? join(s.enrolmentDir!, "key.pem")),
    service: at(s.servicePublicKeyFile ?? join(s.enrolmentDir!, "service.pub.pem")),
  };
  const servicePublicKeyPem = readText(files.service, "service public key");
  importPublicPem(servicePublicKeyPem);
  const keyPem = readText(files.key, "hub key");
  importPrivatePem(keyPem);
  return {
    config,
    tls: { caPem: readCertificate(files.ca, "CA certificate"), certPem: readCertificate(files.cert, "hub certificate"), keyPem },
    servicePublicKeyPem,
    signingKeyPath: config.signingKeyFile ? at(config.signingKeyFile) : files.key,
    journalPath: at(config.journalFile),
    pairingPath: at(config.pairingFile),
  };
}

export interface GlassesHubRun {
  assembly: GlassesHubAssembly;
  journal: HubJournal;
}

/** Builds the hub from a checked setup over the noble it is handed (HCI from the command, virtual in tests). */
export function assembleGlassesHub(setup: GlassesHubSetup, noble: Noble): GlassesHubRun {
  const { config } = setup;
  const journal = HubJournal.open({ path: setup.journalPath, clock: systemClock });
  const assembly = new GlassesHubAssembly({
    noble,
    pairingStore: new JsonFilePairingStore(setup.pairingPath),
    link: {
      ...(config.ble.mtuRequested === undefined ? {} : { mtuRequested: config.ble.mtuRequested }),
      ...(config.ble.timeouts === undefined ? {} : { timeouts: config.ble.timeouts }),
      ...(config.ble.reconnect === undefined ? {} : { reconnect: config.ble.reconnect }),
    },
    settlement: {
      link: {
        url: config.settlement.url,
        tls: setup.tls,
        principal: { kind: "hub", id: config.hubId },
        protocolVersion: config.settlement.protocolVersion,
        servicePublicKey: importPublicPem(setup.servicePublicKeyPem),
      },
      connectTimeoutMs: defaultLinkConfig.connectTimeoutMs,
    },
    owner: config.owner,
    hub: hubOptionsOf(config),
    signer: KeyFileHubSigner.fromFile(setup.signingKeyPath),
    journal,
  });
  return { assembly, journal };
}

type WithBindings = typeof import("@stoprocent/noble").withBindings;

/**
 * Only the hardware path loads noble, and through its `withBindings` module rather than the package index:
 * the index also builds a second noble on the platform's default bindings as soon as it is imported.
 */
const withBindingsModule = "@stoprocent/noble/lib/resolve-bindings.js";

async function hciNoble(deviceId: number): Promise<Noble> {
  const loaded = (await import(withBindingsModule)) as { default: WithBindings };
  return loaded.default("hci", { deviceId });
}

function describeOutcome(outcome: PurchaseOutcome): string {
  const code = outcome.code === 0 ? "" : ` E${outcome.code} ${errorCodeName(outcome.code)}`;
  const request = outcome.paymentRequestId ? ` payment ${outcome.paymentRequestId}` : "";
  return `purchase ${outcome.kind}${code}${request}\n`;
}

export async function glassesHubCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { config: { type: "string" }, pair: { type: "string" } });
  const setup = loadGlassesHubSetup(requireFlag(values.config, "config"));
  if (values.pair !== undefined && !pairingCodePattern.test(values.pair)) {
    throw new TapwireError("--pair must be the 6 digits the glasses show", ErrorCode.ConfigInvalid);
  }
  const noble = await hciNoble(setup.config.ble.hciDeviceId);
  const { assembly, journal } = assembleGlassesHub(setup, noble);
  assembly.onOutcome((outcome) => process.stdout.write(describeOutcome(outcome)));
  const stopRequested = untilStopSignal();
  try {
    await assembly.start();
    if (values.pair !== undefined) {
      process.stdout.write("pairing: look at the glasses showing the code…\n");
      const binding = await assembly.pair(values.pair);
      process.stdout.write(`paired glasses ${binding.glassesId} (owner ${binding.ownerId})\n`);
    }
    if (assembly.link.binding === undefined) {
      throw new TapwireError("no glasses are paired: run again with --pair CODE (the code the glasses show)", ErrorCode.GlassesNotPaired);
    }
    process.stdout.write(`tapwire glasses hub ${setup.config.hubId} running (Ctrl-C to stop)\n`);
    await stopRequested;
  } finally {
    await assembly.stop();
    journal.close();
    noble.stop();
  }
  return 0;
}
