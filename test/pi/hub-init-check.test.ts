import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { printCheck, runHubChecks, type CheckResult } from "../../cli/hub-check.ts";
import { loadHubConfig, readHubSecrets } from "../../cli/hub-config.ts";
import { writeHubInit, type HubInitOptions } from "../../cli/hub-init.ts";
import { ManualClock } from "../../core/sources.ts";
import { HubJournal } from "../../device/journal/hub-journal.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { FirmataSerialDevice } from "../../simulator/scenarios/tap/firmata-serial-device.ts";
import { VirtualPn532 } from "../../simulator/pn532/virtual-pn532.ts";
import { serveOverTcp } from "../../simulator/serial/serve-over-tcp.ts";
import { TestStack } from "../e2e/stack.ts";
import { writeBundle } from "../tap-hub/bundles.ts";
import { repoRoot, writeHubBundle } from "./fixtures.ts";

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tapwire-pi-hub-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const initOptions = (dir: string, overrides: Partial<HubInitOptions> = {}): HubInitOptions => ({
  bundleDir: join(dir, "bundle"),
  merchantId: "m1",
  brokerUrl: "mqtts://127.0.0.1:8883",
  outFile: join(dir, "etc", "hub.json"),
  nfcPath: "/dev/tapwire-nfc",
  panelPath: "/dev/tapwire-panel",
  journalFile: "journal.sqlite",
  ...overrides,
});

const byName = (results: CheckResult[]) => Object.fromEntries(results.map((result) => [result.name, result.problem]));

describe("tapwire hub init", () => {
  it("writes a hub.json the hub accepts for the bundle's hub, with $schema pointing at the schema written beside it", async () => {
    const dir = tempDir();
    await writeHubBundle(join(dir, "operator"), "counter-3", join(dir, "bundle"));

    expect(writeHubInit(initOptions(dir), false)).toBe("counter-3");

    const written = JSON.parse(readFileSync(join(dir, "etc", "hub.json"), "utf8"));
    expect(written).toMatchObject({ $schema: "./hub.schema.json", hubId: "counter-3", merchantId: "m1", broker: { enrolmentDir: join(dir, "bundle") } });
    expect(readFileSync(join(dir, "etc", "hub.schema.json"), "utf8")).toBe(readFileSync(join(repoRoot, "schema", "hub.schema.json"), "utf8"));
    const config = loadHubConfig(join(dir, "etc", "hub.json"));
    expect(config.broker.certFile).toBe(join(dir, "bundle", "cert.pem"));
    expect(config.nfc).toMatchObject({ path: "/dev/tapwire-nfc", probeIntervalMs: 5_000, probeTimeoutMs: 1_000 });
    expect(readHubSecrets(config.broker).keyPem).toContain("PRIVATE KEY");
  });

  it("keeps an existing config unless forced, and refuses a folder that is not a hub's bundle", async () => {
    const dir = tempDir();
    await writeHubBundle(join(dir, "operator"), "h1", join(dir, "bundle"));
    writeHubInit(initOptions(dir), false);

    expect(() => writeHubInit(initOptions(dir), false)).toThrowError(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    expect(writeHubInit(initOptions(dir, { journalFile: "/var/lib/tapwire/journal.sqlite" }), true)).toBe("h1");
    expect(JSON.parse(readFileSync(join(dir, "etc", "hub.json"), "utf8")).journalFile).toBe("/var/lib/tapwire/journal.sqlite");
    expect(() => writeHubInit(initOptions(dir, { bundleDir: join(dir, "etc") }), true)).toThrowError(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    writeFileSync(join(dir, "bundle", "cert.pem"), readFileSync(join(dir, "bundle", "ca.pem")));
    expect(() => writeHubInit(initOptions(dir), true)).toThrowError(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
  });
});

describe("tapwire hub check", () => {
  async function rig() {
    const stack = await TestStack.start();
    cleanups.push(() => stack.stop());
    const { hub } = await stack.enrolDefaults();
    const dir = tempDir();
    writeBundle(join(dir, "bundle"), hub);
    const chip = new VirtualPn532();
    const nfc = await serveOverTcp(chip, 0);
    cleanups.push(() => nfc.close());
    const panel = await serveOverTcp(new FirmataSerialDevice(), 0);
    cleanups.push(() => panel.close());
    writeHubInit(initOptions(dir, { brokerUrl: stack.node.url, nfcPath: nfc.url, panelPath: panel.url }), false);
    const config = loadHubConfig(join(dir, "etc", "hub.json"));
    return { stack, dir, chip, config, secrets: readHubSecrets(config.broker) };
  }

  it("prints one ok line per check for a hub ready for the counter", async () => {
    const { config, secrets } = await rig();
    const journal = HubJournal.open({ path: config.journalFile, clock: new ManualClock() });
    journal.close();

    const results = await runHubChecks(config, secrets);
    const output = new PassThrough();
    for (const result of results) printCheck(result, output);

    expect(results.map((result) => result.name)).toEqual(["certificate", "journal", "reader", "panel", "broker", "clock"]);
    expect(byName(results)).toEqual({ certificate: undefined, journal: undefined, reader: undefined, panel: undefined, broker: undefined, clock: undefined });
    const lines = String(output.read()).trim().split("\n");
    expect(lines).toHaveLength(6);
    expect(lines.every((line) => line.startsWith("ok    "))).toBe(true);
    expect(results.find((result) => result.name === "reader")?.detail).toMatch(/^PN532 firmware 1\.6 on tcp:/);
    expect(results.find((result) => result.name === "journal")?.detail).toMatch(/writable, seq 0, 0 open requests/);
  });

  it("names what is wrong: a hung reader, a clock before the certificates, a broker that is not there", async () => {
    const { config, secrets, chip, stack } = await rig();
    chip.setFaults({ silentCommands: 1_000 });
    const behind = new ManualClock(Date.UTC(2020, 0, 1));

    const hung = byName(await runHubChecks({ ...config, nfc: { ...config.nfc, openTimeoutMs: 500 } }, secrets, behind));
    expect(hung["reader"]).toMatch(/^E500 NfcTimeout/);
    expect(hung["certificate"]).toMatch(/^E810 ClockWrong/);
    expect(hung["panel"]).toBeUndefined();

    await stack.node.stop();
    const offline = byName(await runHubChecks({ ...config, link: { ...config.link, connectTimeoutMs: 2_000 } }, secrets));
    expect(offline["broker"]).toMatch(/ECONNREFUSED/);
    expect(offline["clock"]).toMatch(/not checked/);
  });
});
