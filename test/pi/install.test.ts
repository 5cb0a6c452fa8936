import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseGlassesHubConfig } from "../../cli/glasses-hub-config.ts";
import { parseHubConfig } from "../../cli/hub-config.ts";
import { repoRoot, runProgram, writeHubBundle } from "./fixtures.ts";

const install = join(repoRoot, "deploy", "pi", "install.sh");
const installTimeoutMs = 30_000;
const units = ["tapwire-hub.service", "tapwire-glasses-hub.service"];

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tapwire-pi-install-"));
  await writeHubBundle(join(dir, "operator"), "h1", join(dir, "bundle"));
  await writeHubBundle(join(dir, "operator"), "g1", join(dir, "glasses-bundle"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every path under `root` with its type, mode, size, modification time and content hash (or link target). */
function snapshot(root: string): Record<string, string> {
  const entries: Record<string, string> = {};
  const walk = (path: string) => {
    const stat = lstatSync(path);
    const mode = (stat.mode & 0o7777).toString(8);
    const what = stat.isSymbolicLink()
      ? `link ${readlinkSync(path)}`
      : stat.isDirectory()
        ? `dir ${mode}`
        : `file ${mode} ${stat.size} ${stat.mtimeMs} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
    entries[relative(root, path) || "."] = what;
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(root);
  return entries;
}

const baseArgs = () => ["--bundle", join(dir, "bundle"), "--merchant-id", "m1", "--broker-url", "mqtts://127.0.0.1:8883"];

describe("deploy/pi/install.sh into a temporary root", () => {
  it("lays down the bundle, the configs and their schemas, the units (enabled), the udev rules; a second run changes nothing", async () => {
    const root = join(dir, "root");
    const glasses = ["--glasses-bundle", join(dir, "glasses-bundle"), "--glasses-owner-id", "o1", "--glasses-wallet-id", "w1"];

    const first = await runProgram(install, [...baseArgs(), ...glasses, "--root", root], installTimeoutMs);
    expect(first.code, first.stderr).toBe(0);
    const before = snapshot(root);
    const second = await runProgram(install, [...baseArgs(), ...glasses, "--root", root], installTimeoutMs);

    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/nothing changed/);
    expect(snapshot(root)).toEqual(before);
    for (const file of ["ca.pem", "cert.pem", "key.pem", "service.pub.pem"]) {
      expect(before[`etc/tapwire/hub/${file}`]).toMatch(/^file 640 /);
      expect(before[`etc/tapwire/glasses/${file}`]).toMatch(/^file 640 /);
    }
    expect(before["etc/tapwire"]).toBe("dir 750");
    expect(before["var/lib/tapwire"]).toBe("dir 750");
    expect(before["etc/tapwire/hub.json"]).toMatch(/^file 640 /);
    for (const unit of units) {
      expect(readFileSync(join(root, "etc/systemd/system", unit), "utf8")).toBe(readFileSync(join(repoRoot, "deploy/pi", unit), "utf8"));
      expect(before[`etc/systemd/system/multi-user.target.wants/${unit}`]).toBe(`link /etc/systemd/system/${unit}`);
    }
    expect(readFileSync(join(root, "etc/tapwire/hub.schema.json"), "utf8")).toBe(readFileSync(join(repoRoot, "schema/hub.schema.json"), "utf8"));

    const hub = parseHubConfig(JSON.parse(readFileSync(join(root, "etc/tapwire/hub.json"), "utf8")), join(root, "etc/tapwire"));
    expect(hub).toMatchObject({ hubId: "h1", merchantId: "m1", journalFile: "/var/lib/tapwire/journal.sqlite" });
    expect(hub.nfc.path).toBe("/dev/tapwire-nfc");
    expect(hub.panel.path).toBe("/dev/tapwire-panel");
    expect(hub.broker.keyFile).toBe(join(root, "etc/tapwire/hub/key.pem"));
    const glassesConfig = parseGlassesHubConfig(JSON.parse(readFileSync(join(root, "etc/tapwire/glasses.json"), "utf8")));
    expect(glassesConfig).toMatchObject({ hubId: "g1", merchantId: "m1", owner: { ownerId: "o1", walletId: "w1" }, broker: { enrolmentDir: "glasses" } });

    const rules = readFileSync(join(root, "etc/udev/rules.d/99-tapwire.rules"), "utf8");
    for (const [id, name] of [["10c4:ea60", "nfc"], ["1a86:7523", "nfc"], ["0403:6001", "nfc"], ["2341:0043", "panel"], ["2341:0001", "panel"]]) {
      const [vendor, product] = id!.split(":");
      expect(rules).toContain(`ATTRS{idVendor}=="${vendor}", ATTRS{idProduct}=="${product}", SYMLINK+="tapwire-${name}", GROUP="dialout", MODE="0660"`);
    }
  });

  it("keeps an edited hub.json and names the reader by the Pi's UART or by a bridge's serial number when asked", async () => {
    const root = join(dir, "uart-root");
    const first = await runProgram(install, [...baseArgs(), "--nfc-uart", "ttyS0", "--panel-usb", "1a86:7523", "--no-enable", "--root", root], installTimeoutMs);
    expect(first.code, first.stderr).toBe(0);
    const rules = readFileSync(join(root, "etc/udev/rules.d/99-tapwire.rules"), "utf8");
    expect(rules).toContain(`KERNEL=="ttyS0", SYMLINK+="tapwire-nfc"`);
    expect(rules).toContain(`ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="7523", SYMLINK+="tapwire-panel"`);
    expect(rules).not.toContain("10c4");
    expect(existsSync(join(root, "etc/systemd/system/multi-user.target.wants"))).toBe(false);
    expect(existsSync(join(root, "etc/tapwire/glasses.json"))).toBe(false);

    const hubJson = join(root, "etc/tapwire/hub.json");
    const edited = readFileSync(hubJson, "utf8").replace('"tapTimeoutMs": 30000', '"tapTimeoutMs": 20000');
    writeFileSync(hubJson, edited);

    const serial = await runProgram(install, [...baseArgs(), "--nfc-usb", "1a86:7523:A1B2", "--panel-usb", "1a86:7523", "--no-enable", "--root", root], installTimeoutMs);
    expect(serial.code, serial.stderr).toBe(0);
    expect(readFileSync(join(root, "etc/udev/rules.d/99-tapwire.rules"), "utf8")).toContain(`ATTRS{idProduct}=="7523", ATTRS{serial}=="A1B2", SYMLINK+="tapwire-nfc"`);
    expect(readFileSync(hubJson, "utf8")).toBe(edited);
  });

  it("with --scanner-usb names the QR scanner's hidraw node for the tapwire user and puts it in hub.json", async () => {
    const root = join(dir, "scanner-root");
    const result = await runProgram(install, [...baseArgs(), "--scanner-usb", "05e0:1200", "--no-enable", "--root", root], installTimeoutMs);
    expect(result.code, result.stderr).toBe(0);
    const rules = readFileSync(join(root, "etc/udev/rules.d/99-tapwire.rules"), "utf8");
    expect(rules).toContain(`SUBSYSTEM=="hidraw", ATTRS{idVendor}=="05e0", ATTRS{idProduct}=="1200", SYMLINK+="tapwire-scanner", GROUP="tapwire", MODE="0660"`);
    const hub = parseHubConfig(JSON.parse(readFileSync(join(root, "etc/tapwire/hub.json"), "utf8")), join(root, "etc/tapwire"));
    expect(hub.scanner).toEqual({ path: "/dev/tapwire-scanner", mode: "keyboard", openTimeoutMs: 2_000 });
  });

  it.each([
    ["no bundle", () => baseArgs().slice(2)],
    ["a plain MQTT URL", () => [...baseArgs().slice(0, 4), "--broker-url", "mqtt://127.0.0.1:1883"]],
    ["the UART and a USB bridge for the reader", () => [...baseArgs(), "--nfc-uart", "ttyS0", "--nfc-usb", "10c4:ea60"]],
    ["one USB id for both reader and panel", () => [...baseArgs(), "--nfc-usb", "1a86:7523", "--panel-usb", "1a86:7523"]],
    ["a merchant id that is not an id", () => [...baseArgs(), "--merchant-id", "m 1"]],
  ])("refuses %s (exit 2) and writes nothing", async (_, args) => {
    const root = join(dir, "refused-root");
    const result = await runProgram(install, [...args(), "--root", root], installTimeoutMs);
    expect(result.code).toBe(2);
    expect(existsSync(root)).toBe(false);
  });
});
