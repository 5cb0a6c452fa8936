import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { makeDirectories } from "../core/data-dir.ts";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { defaultTapTiming } from "../device/tap/tap-config.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { brokerPortDefault } from "../broker/settlement-node.ts";
import { parseFlags, requireFlag } from "./args.ts";
import { glassesConfigJsonSchema, hubConfigJsonSchema, schemaFileNames, schemaText } from "./config-schema.ts";
import { bundleFiles, parseHubConfig } from "./hub-config.ts";

export const hubInitUsage = `tapwire hub init --bundle DIR --merchant-id M [--broker-url mqtts://HOST:PORT] [--out hub.json]
    [--nfc-path /dev/tapwire-nfc] [--panel-path /dev/tapwire-panel] [--scanner-path /dev/tapwire-scanner]
    [--journal-file journal.sqlite] [--force]
  Writes an example hub.json for the enrolment bundle DIR (\`tapwire hub enroll --out DIR\`; the hub id is its
  certificate's), with "$schema" pointing at hub.schema.json, written beside it: an editor then shows what each key
  means, its unit and its default. --scanner-path adds a payment-code scanner. An existing config is kept unless --force.
  example: tapwire hub init --bundle .tapwire/hubs/h1 --merchant-id m1 --out hub.json
tapwire hub schema [--out DIR]
  Writes hub.schema.json and glasses.schema.json (generated from the configs' own schemas) into DIR (default schema).
  example: tapwire hub schema --out schema`;

/** The pins `hub init` proposes: an Uno with LEDs on 4 to 7, the buzzer on 8 and the button on 2 (interrupt pin). */
export const examplePanelPins = { green: 5, red: 6, amber: 7, blue: 4, buzzer: 8, cancelButton: 2 };

/** The hub id in a hub certificate's subject (CN=hubs/HUB). */
export function hubIdOfCertificate(certPem: string): string {
  let subject: string;
  try {
    subject = new X509Certificate(certPem).subject;
  } catch (error) {
    throw new TapwireError(`cert.pem is not a PEM certificate: ${(error as Error).message}`, ErrorCode.ConfigInvalid);
  }
  const hubId = /^CN=hubs\/(.+)$/m.exec(subject)?.[1];
  if (hubId === undefined) throw new TapwireError(`cert.pem is not a hub's certificate (subject ${subject.replace(/\n/g, ", ")})`, ErrorCode.ConfigInvalid);
  return hubId;
}

export interface HubInitOptions {
  bundleDir: string;
  merchantId: string;
  brokerUrl: string;
  outFile: string;
  nfcPath: string;
  panelPath: string;
  /** A payment-code scanner's HID path, when the counter has one. */
  scannerPath?: string;
  journalFile: string;
}

/** The example config: what a Pi with the udev rules needs, with the timings most often tuned at their defaults. */
export function exampleHubConfig(options: HubInitOptions, hubId: string): Record<string, unknown> {
  const outDir = dirname(resolve(options.outFile));
  const fromOut = relative(outDir, resolve(options.bundleDir));
  return {
    $schema: `./${schemaFileNames.hub}`,
    hubId,
    merchantId: options.merchantId,
    broker: { url: options.brokerUrl, enrolmentDir: fromOut.startsWith("..") || isAbsolute(fromOut) ? resolve(options.bundleDir) : fromOut || "." },
    nfc: { path: options.nfcPath, baudRate: 115200 },
    panel: { path: options.panelPath, baudRate: 57600, pins: examplePanelPins, buttonWiring: "pullup" },
    ...(options.scannerPath ? { scanner: { path: options.scannerPath } } : {}),
    journalFile: options.journalFile,
    timings: { tapTimeoutMs: defaultTapTiming.tapTimeoutMs, resultDisplayMs: defaultTapTiming.resultDisplayMs },
  };
}

/** Writes hub.json (unless it exists and `force` is off) and hub.schema.json beside it; returns the hub id. */
export function writeHubInit(options: HubInitOptions, force: boolean): string {
  const missing = Object.values(bundleFiles).filter((name) => !existsSync(join(options.bundleDir, name)));
  if (missing.length > 0) {
    throw new TapwireError(`--bundle ${options.bundleDir} lacks ${missing.join(", ")}: use the folder \`tapwire hub enroll --out DIR\` wrote`, ErrorCode.ConfigInvalid);
  }
  const hubId = hubIdOfCertificate(readFileSync(join(options.bundleDir, bundleFiles.certFile), "utf8"));
  if (existsSync(options.outFile) && !force) {
    throw new TapwireError(`${options.outFile} exists: edit it, or pass --force to replace it`, ErrorCode.ConfigInvalid);
  }
  const config = exampleHubConfig(options, hubId);
  const outDir = dirname(resolve(options.outFile));
  // The example must be one the hub accepts: a flag value it refuses fails here, not at the first start.
  parseHubConfig(config, outDir);
  makeDirectories(outDir, { mode: 0o755, what: "--out folder" });
  writeFileSync(options.outFile, `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(join(outDir, schemaFileNames.hub), schemaText(hubConfigJsonSchema()));
  return hubId;
}

export async function hubInitCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    bundle: { type: "string" },
    "merchant-id": { type: "string" },
    "broker-url": { type: "string", default: `mqtts://127.0.0.1:${brokerPortDefault}` },
    out: { type: "string", default: "hub.json" },
    "nfc-path": { type: "string", default: "/dev/tapwire-nfc" },
    "panel-path": { type: "string", default: "/dev/tapwire-panel" },
    "scanner-path": { type: "string" },
    "journal-file": { type: "string", default: "journal.sqlite" },
    force: { type: "boolean", default: false },
  });
  const options: HubInitOptions = {
    bundleDir: requireFlag(values.bundle, "bundle"),
    merchantId: requireFlag(values["merchant-id"], "merchant-id"),
    brokerUrl: values["broker-url"],
    outFile: values.out,
    nfcPath: values["nfc-path"],
    panelPath: values["panel-path"],
    ...(values["scanner-path"] ? { scannerPath: values["scanner-path"] } : {}),
    journalFile: values["journal-file"],
  };
  const hubId = writeHubInit(options, values.force);
  process.stdout.write(`wrote ${options.outFile} for hub ${hubId} and ${schemaFileNames.hub} beside it; check it with \`tapwire hub check --config ${options.outFile}\`\n`);
  return 0;
}

export async function hubSchemaCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { out: { type: "string", default: "schema" } });
  makeDirectories(values.out, { mode: 0o755, what: "--out folder" });
  writeFileSync(join(values.out, schemaFileNames.hub), schemaText(hubConfigJsonSchema()));
  writeFileSync(join(values.out, schemaFileNames.glasses), schemaText(glassesConfigJsonSchema()));
  process.stdout.write(`wrote ${schemaFileNames.hub} and ${schemaFileNames.glasses} to ${values.out}\n`);
  return 0;
}
