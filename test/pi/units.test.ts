import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot, runProgram } from "./fixtures.ts";

const systemdAnalyze = "/usr/bin/systemd-analyze";
const unitPath = (name: string) => join(repoRoot, "deploy", "pi", name);

/** `Key=value` lines of a unit's section, each key with every value it is given. */
function directives(unit: string, section: string): Map<string, string[]> {
  const text = readFileSync(unitPath(unit), "utf8");
  const body = text.split(/^\[/m).find((part) => part.startsWith(`${section}]`)) ?? "";
  const found = new Map<string, string[]>();
  for (const line of body.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) found.set(match[1]!, [...(found.get(match[1]!) ?? []), match[2]!]);
  }
  return found;
}

describe("the systemd units in deploy/pi", () => {
  it.runIf(existsSync(systemdAnalyze))("pass systemd-analyze verify", async () => {
    const result = await runProgram(systemdAnalyze, ["verify", unitPath("tapwire-hub.service"), unitPath("tapwire-glasses-hub.service")], 20_000);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it.each(["tapwire-hub.service", "tapwire-glasses-hub.service"])("%s: notify with a watchdog, restarted, a dedicated user, hardened", (unit) => {
    const service = directives(unit, "Service");
    expect(service.get("Type")).toEqual(["notify"]);
    expect(service.get("NotifyAccess")).toEqual(["all"]);
    expect(service.get("WatchdogSec")).toEqual(["30s"]);
    expect(service.get("Restart")).toEqual(["always"]);
    expect(service.get("User")).toEqual(["tapwire"]);
    expect(service.get("ProtectSystem")).toEqual(["strict"]);
    expect(service.get("ReadWritePaths")).toEqual(["/var/lib/tapwire"]);
    for (const key of ["PrivateTmp", "NoNewPrivileges", "ProtectHome", "ProtectKernelModules", "RestrictSUIDSGID"]) expect(service.get(key)).toEqual(["yes"]);
    expect(service.has("MemoryDenyWriteExecute")).toBe(false);
    expect(service.get("ExecStart")?.[0]).toMatch(/^\/usr\/bin\/node .*\/opt\/tapwire\/bin\/tapwire\.mjs /);
    expect(directives(unit, "Install").get("WantedBy")).toEqual(["multi-user.target"]);
  });

  it("the tap hub reaches the serial devices and the scanner's hidraw node only; the glasses hub gets raw Bluetooth sockets", () => {
    const hub = directives("tapwire-hub.service", "Service");
    expect(hub.get("SupplementaryGroups")).toEqual(["dialout"]);
    expect(hub.get("DevicePolicy")).toEqual(["closed"]);
    expect(hub.get("DeviceAllow")).toEqual(["char-ttyAMA rw", "char-ttyS rw", "char-ttyUSB rw", "char-ttyACM rw", "char-hidraw rw"]);
    expect(hub.get("CapabilityBoundingSet")).toEqual([""]);
    expect(hub.get("ExecStart")?.[0]).toMatch(/ hub --config \/etc\/tapwire\/hub\.json --console none$/);

    const glasses = directives("tapwire-glasses-hub.service", "Service");
    expect(glasses.get("AmbientCapabilities")).toEqual(["CAP_NET_RAW CAP_NET_ADMIN"]);
    expect(glasses.get("RestrictAddressFamilies")?.[0]).toContain("AF_BLUETOOTH");
    expect(glasses.get("ExecStart")?.[0]).toMatch(/ glasses-hub --config \/etc\/tapwire\/glasses\.json$/);
    expect(directives("tapwire-glasses-hub.service", "Unit").get("After")?.[0]).toContain("bluetooth.target");
  });

  it("README's arm64 table is what deploy/pi/native-modules.sh prints for this dependency tree", async () => {
    const result = await runProgram(join(repoRoot, "deploy", "pi", "native-modules.sh"), [], 60_000);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(repoRoot, "deploy", "pi", "README.md"), "utf8")).toContain(result.stdout.trim());
  });
});
