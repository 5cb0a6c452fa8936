import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import { assembleGlassesHub, glassesHubCommand, type GlassesHubRun } from "../../cli/glasses-hub.ts";
import { loadGlassesHubSetup, parseGlassesHubConfig } from "../../cli/glasses-hub-config.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { publicKeyPem } from "../../protocol/keys.ts";
import { VirtualBleBindings } from "../../simulator/glasses/virtual-ble-bindings.ts";
import { VirtualGlasses } from "../../simulator/glasses/virtual-glasses.ts";
import { createVirtualNoble } from "../../simulator/glasses/virtual-noble.ts";
import { fastLinkOptions } from "../ble/fixtures.ts";
import { TestStack } from "../e2e/stack.ts";
import { espresso, eventually, fastTiming } from "./fixtures.ts";

const valid = {
  hubId: "h1",
  merchantId: "m1",
  owner: { ownerId: "owner-1", walletId: "w1", lang: "fr" },
  broker: { url: "mqtts://127.0.0.1:8883", enrolmentDir: "hub" },
};

async function failure(work: () => unknown): Promise<{ code: number; details: string[] }> {
  try {
    await work();
  } catch (error) {
    if (!isTapwireError(error)) throw error;
    return { code: error.code, details: (error.context?.["details"] as string[] | undefined) ?? [] };
  }
  throw new Error("expected a failure");
}

/** The config paths named by the `path: message` details of a ConfigInvalid. */
function pathsOf(details: string[]): string[] {
  return details.map((detail) => detail.slice(0, detail.indexOf(":")));
}

describe("tapwire glasses-hub config", () => {
  it("accepts a minimal config and fills the defaults", () => {
    const config = parseGlassesHubConfig(valid);
    expect(config).toMatchObject({ journalFile: "glasses-journal.sqlite", pairingFile: "glasses-pairing.json", ble: { hciDeviceId: 0 } });
    expect(config.broker.protocolVersion).toBe(4);
  });

  it.each([
    ["a missing owner", { ...valid, owner: undefined }, ["owner"]],
    ["an unknown key", { ...valid, colour: "red" }, ["(config)"]],
    ["a plain-text broker URL", { ...valid, broker: { ...valid.broker, url: "mqtt://127.0.0.1:1883" } }, ["broker.url"]],
    ["no credentials", { ...valid, broker: { url: valid.broker.url } }, ["broker"]],
    ["an unknown language", { ...valid, owner: { ...valid.owner, lang: "de" } }, ["owner.lang"]],
    ["a zero timeout", { ...valid, timings: { intentTimeoutMs: 0 } }, ["timings.intentTimeoutMs"]],
    ["an MTU out of range", { ...valid, ble: { mtuRequested: 9 } }, ["ble.mtuRequested"]],
    ["an unknown BLE timeout", { ...valid, ble: { timeouts: { scanMinutes: 2 } } }, ["ble.timeouts"]],
  ])("refuses %s with ConfigInvalid naming the key", async (_, input, paths) => {
    const refused = await failure(() => parseGlassesHubConfig(input));
    expect(refused.code).toBe(ErrorCode.ConfigInvalid);
    expect(pathsOf(refused.details)).toEqual(paths);
  });

  it("runs the purchase machine's own range checks before any radio is opened", async () => {
    expect((await failure(() => parseGlassesHubConfig({ ...valid, quantityMax: 0 }))).code).toBe(ErrorCode.ConfigInvalid);
    expect((await failure(() => parseGlassesHubConfig({ ...valid, hubId: "bad id!" }))).code).toBe(ErrorCode.ConfigInvalid);
  });

  it("the command fails with ConfigInvalid for a missing flag, file or credential, before loading noble", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tapwire-glasses-cli-"));
    try {
      writeFileSync(join(dir, "glasses.json"), JSON.stringify(valid));
      writeFileSync(join(dir, "broken.json"), "{ not json");
      expect((await failure(() => glassesHubCommand([]))).code).toBe(ErrorCode.ConfigInvalid);
      expect((await failure(() => glassesHubCommand(["--config", join(dir, "absent.json")]))).code).toBe(ErrorCode.ConfigInvalid);
      expect((await failure(() => glassesHubCommand(["--config", join(dir, "broken.json")]))).code).toBe(ErrorCode.ConfigInvalid);
      expect((await failure(() => glassesHubCommand(["--config", join(dir, "glasses.json")]))).code).toBe(ErrorCode.ConfigInvalid);
      expect((await failure(() => glassesHubCommand(["--config", join(dir, "glasses.json"), "--colour"]))).code).toBe(ErrorCode.ConfigInvalid);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("tapwire glasses-hub assembled from its config files, on virtual noble, against real settlement", () => {
  let stack: TestStack | undefined;
  let run: GlassesHubRun | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await run?.assembly.stop();
    run?.journal.close();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    stack = undefined;
    run = undefined;
    dir = undefined;
  });

  it("reads the enrolment folder, pairs into the pairing file; a refusal signs nothing, a purchase pays once and is in the journal", async () => {
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    dir = mkdtempSync(join(tmpdir(), "tapwire-glasses-cli-"));
    mkdirSync(join(dir, "hub"));
    writeFileSync(join(dir, "hub", "cert.pem"), hub.certPem);
    writeFileSync(join(dir, "hub", "key.pem"), hub.keyPem!);
    writeFileSync(join(dir, "hub", "ca.pem"), hub.caPem);
    writeFileSync(join(dir, "hub", "service.pub.pem"), hub.servicePublicKeyPem);
    const config = {
      ...valid,
      broker: { url: stack.node.url, enrolmentDir: "hub" },
      ble: { timeouts: fastLinkOptions.timeouts, reconnect: fastLinkOptions.reconnect },
      timings: fastTiming,
      pairingFile: "state/pairing.json",
      journalFile: "state/journal.sqlite",
    };
    mkdirSync(join(dir, "state"));
    writeFileSync(join(dir, "glasses.json"), JSON.stringify(config));

    const bindings = new VirtualBleBindings();
    const glasses = new VirtualGlasses({ glassesId: "glasses-1", ownerId: "owner-1", address: "f0:0d:0c:11:00:01" });
    bindings.addPeripheral(glasses);
    run = assembleGlassesHub(loadGlassesHubSetup(join(dir, "glasses.json")), createVirtualNoble(bindings));
    const outcomes: PurchaseOutcome[] = [];
    run.assembly.onOutcome((outcome) => outcomes.push(outcome));
    await run.assembly.start();
    await eventually(() => run!.assembly.online);
    await run.assembly.pair(glasses.showPairingCode(), { timeoutMs: 3_000 });
    await run.assembly.link.waitUntilReady(3_000);

    expect(JSON.parse(readFileSync(join(dir, "state", "pairing.json"), "utf8"))).toMatchObject({ glassesId: "glasses-1", ownerId: "owner-1" });
    glasses.seeProduct(espresso);
    await eventually(() => JSON.stringify(run!.assembly.runtime.state()).includes("listening"));
    expect(glasses.shown[0]).toMatchObject({ lang: "fr", amountMinor: 350 });
    glasses.say("non merci", "fr");
    await eventually(() => outcomes.length === 1);

    expect(outcomes[0]).toMatchObject({ kind: "cancelled", code: ErrorCode.Cancelled });
    expect(run.journal.lastSeq).toBe(0);
    expect(stack.node.service.ledger.balanceOf("merchant:m1")).toBe(0);

    stack.node.enrollGlasses({ glassesId: "glasses-1", walletId: "w1", publicKeyPem: publicKeyPem(glasses.publicKey) });
    await eventually(() => JSON.stringify(run!.assembly.runtime.state()).includes('"paired"'));
    glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "voiceprint" };
    glasses.seeProduct(espresso);
    await eventually(() => JSON.stringify(run!.assembly.runtime.state()).includes("listening"));
    glasses.say("je le prends", "fr");
    await eventually(() => outcomes.length === 2);

    expect(outcomes[1]).toMatchObject({ kind: "approved", code: 0 });
    expect(run.journal.lastSeq).toBe(1);
    expect(run.journal.lastSale()).toMatchObject({ outcome: "approved", mode: "glasses", amountMinor: espresso.amountMinor });
    expect(stack.node.service.ledger.balanceOf("merchant:m1")).toBe(espresso.amountMinor);
    stack.node.service.ledger.checkInvariants();
  });
});
