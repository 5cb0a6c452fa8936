import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadHubConfig, readHubSecrets } from "../../cli/hub-config.ts";
import { writeHubInit } from "../../cli/hub-init.ts";
import { hubRotateCommand } from "../../cli/hub-rotate.ts";
import { TestStack } from "../e2e/stack.ts";
import { writeBundle } from "../tap-hub/bundles.ts";

describe("tapwire hub rotate --config (on the hub)", () => {
  let stack: TestStack | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    stack = undefined;
  });

  it("does nothing while the certificate has long to live, renews over the link with --force, and keeps the old files", async () => {
    stack = await TestStack.start();
    const { hub } = await stack.enrolDefaults();
    dir = mkdtempSync(join(tmpdir(), "tapwire-hub-rotate-"));
    writeBundle(join(dir, "bundle"), hub);
    const configFile = join(dir, "hub.json");
    writeHubInit({ bundleDir: join(dir, "bundle"), merchantId: "m1", brokerUrl: stack.node.url, outFile: configFile, nfcPath: "/dev/null", panelPath: "/dev/null", journalFile: "journal.sqlite" }, false);
    const printed: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => (printed.push(String(chunk)), true));
    const broker = loadHubConfig(configFile).broker;

    expect(await hubRotateCommand(["--config", configFile])).toBe(0);
    expect(printed.join("")).toMatch(/valid for \d+ more days; nothing to do/);
    expect(await hubRotateCommand(["--config", configFile, "--force"])).toBe(0);

    const renewed = readHubSecrets(broker);
    expect(renewed.certPem).not.toBe(hub.certPem);
    expect(renewed.keyPem).not.toBe(hub.keyPem);
    expect(readFileSync(`${broker.certFile}.old`, "utf8")).toBe(hub.certPem);
    expect(existsSync(`${broker.keyFile}.old`)).toBe(true);
    const oldSerial = stack.node.registry.getHub("h1").certificateSerial;
    await stack.connect({ ...hub, certPem: renewed.certPem, keyPem: renewed.keyPem });
    expect(stack.node.service.revokedCertificates.isRevoked(oldSerial)).toBe(true);
  });
});
