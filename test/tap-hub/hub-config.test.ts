import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadHubConfig, parseHubConfig, readHubSecrets } from "../../cli/hub-config.ts";
import { parseHubInput } from "../../cli/hub.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tapwire-hub-config-"));
  for (const name of ["ca.pem", "cert.pem", "key.pem", "service.pub.pem"]) writeFileSync(join(dir, name), "-----PEM-----\n");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function goodConfig(): Record<string, any> {
  return {
    hubId: "h1",
    merchantId: "m1",
    broker: { url: "mqtts://127.0.0.1:8883", caFile: "ca.pem", certFile: "cert.pem", keyFile: "key.pem", servicePublicKeyFile: "service.pub.pem" },
    nfc: { path: "/dev/serial/by-id/usb-PN532-if00", baudRate: 115200 },
    panel: { path: "/dev/ttyACM0", pins: { green: 5, red: 6, amber: 7, blue: 4, buzzer: 8, cancelButton: 2 } },
    journalFile: "journal.sqlite",
    timings: { tapTimeoutMs: 20_000, reconnectBackoffBaseMs: 250 },
  };
}

const goodOffline = { currency: "EUR", saleMaxMinor: 2_000, totalMaxMinor: 10_000, countMax: 10, ageMsMax: 3_600_000 };

/** The ConfigInvalid details of a failing parse (each `path: message`). */
function detailsOf(work: () => unknown): string[] {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TapwireError);
    expect((error as TapwireError).code).toBe(ErrorCode.ConfigInvalid);
    return ((error as TapwireError).context?.["details"] as string[]) ?? [];
  }
  throw new Error("expected ConfigInvalid");
}

describe("tapwire hub --config: validation without hardware", () => {
  it("accepts a good config, fills defaults and resolves files against the config's folder", () => {
    const config = parseHubConfig(goodConfig(), dir);

    expect(config.broker).toMatchObject({ protocolVersion: 4, caFile: join(dir, "ca.pem") });
    expect(config.nfc).toMatchObject({ baudRate: 115200, openTimeoutMs: 2_000 });
    expect(config.panel).toMatchObject({ path: "/dev/ttyACM0", baudRate: 57600, config: { buttonWiring: "pullup", debounceMs: 30 } });
    expect(config.tap.tapTimeoutMs).toBe(20_000);
    expect(config.link.reconnectBackoffBaseMs).toBe(250);
    expect(config.tap.reversalTtlMs).toBe(contract.requestLifetimeMsMax);
    expect(config.offline).toBeUndefined();
    expect(config.journalFile).toBe(join(dir, "journal.sqlite"));
    expect(readHubSecrets(config.broker).keyPem).toContain("PEM");
    expect(parseHubConfig({ ...goodConfig(), nfc: { path: "tcp://127.0.0.1:9000" } }, dir).nfc.path).toBe("tcp://127.0.0.1:9000");
    expect(parseHubConfig({ ...goodConfig(), offline: goodOffline }, dir).offline).toEqual({
      currency: "EUR",
      limits: { saleMaxMinor: 2_000, totalMaxMinor: 10_000, countMax: 10, ageMsMax: 3_600_000 },
    });
  });

  const cases: Array<[string, (config: Record<string, any>) => void]> = [
    ["hubId", (c) => void (c.hubId = "hubs/h1")],
    ["merchantId", (c) => void delete c.merchantId],
    ["broker.url", (c) => void (c.broker.url = "mqtt://127.0.0.1:1883")],
    ["broker.protocolVersion", (c) => void (c.broker.protocolVersion = 3)],
    ["broker.keyFile", (c) => void (c.broker.keyFile = "")],
    ["nfc.path", (c) => void (c.nfc.path = "tcp://127.0.0.1")],
    ["nfc.baudRate", (c) => void (c.nfc.baudRate = 12_345)],
    ["nfc.apduTimeoutMs", (c) => void (c.nfc.apduTimeoutMs = 2.5)],
    ["panel.path", (c) => void delete c.panel.path],
    ["panel.pins.red", (c) => void (c.panel.pins.red = 5)],
    ["panel.pins.buzzer", (c) => void (c.panel.pins.buzzer = 200)],
    ["panel.debounceMs", (c) => void (c.panel.debounceMs = 0)],
    ["journalFile", (c) => void delete c.journalFile],
    // Lifetimes the service would refuse (the contract's requestLifetimeMsMax) keep the hub from starting.
    ["timings.requestTtlMs", (c) => void (c.timings.requestTtlMs = contract.requestLifetimeMsMax + 1)],
    ["timings.reversalTtlMs", (c) => void (c.timings.reversalTtlMs = 15 * 60_000)],
    ["timings.attemptTimeoutMs", (c) => void (c.timings.attemptTimeoutMs = 0)],
    ["offline.countMax", (c) => void (c.offline = { ...goodOffline, countMax: contract.offlineCountMax + 1 })],
    ["offline.currency", (c) => void (c.offline = { ...goodOffline, currency: "XXX" })],
    ["offline.totalMaxMinor", (c) => void (c.offline = { ...goodOffline, totalMaxMinor: 100 })],
    ["timings.tapTimeoutMs", (c) => void (c.timings.tapTimeoutMs = 10)],
    ["timings.reconnectBackoffMaxMs", (c) => void (c.timings.reconnectBackoffMaxMs = 100)],
    ["timings.connectTimeoutMs", (c) => void (c.timings.connectTimeoutMs = "fast")],
    ["(config)", (c) => void (c.colour = "blue")],
  ];
  for (const [path, spoil] of cases) {
    it(`refuses a bad ${path} with ConfigInvalid naming it`, () => {
      const config = goodConfig();
      spoil(config);
      const details = detailsOf(() => parseHubConfig(config, dir));
      expect(details.some((detail) => detail.startsWith(`${path}:`)), details.join(" | ")).toBe(true);
    });
  }

  it("reports every problem at once", () => {
    const config = goodConfig();
    config.nfc.baudRate = 1;
    config.timings.tapTimeoutMs = 1;
    config.panel.pins.red = 5;
    expect(detailsOf(() => parseHubConfig(config, dir))).toHaveLength(3);
  });

  it("refuses unreadable key files, an unreadable config and a config that is not JSON", () => {
    const config = parseHubConfig({ ...goodConfig(), broker: { ...goodConfig().broker, caFile: "missing-ca.pem" } }, dir);
    expect(detailsOf(() => readHubSecrets(config.broker))[0]).toMatch(/^broker\.caFile:/);
    writeFileSync(join(dir, "hub.json"), "{ not json");
    detailsOf(() => loadHubConfig(join(dir, "hub.json")));
    detailsOf(() => loadHubConfig(join(dir, "none.json")));
    writeFileSync(join(dir, "good.json"), JSON.stringify(goodConfig()));
    expect(loadHubConfig(join(dir, "good.json")).broker.certFile).toBe(join(dir, "cert.pem"));
  });
});

describe("hub console input", () => {
  it("turns decimal amounts into minor units by the currency's exponent, without floats", () => {
    expect(parseHubInput("12.50 EUR reader")).toEqual({ kind: "sale", amountMinor: 1250, currency: "EUR", mode: "reader" });
    expect(parseHubInput(" 9.99 EUR tag ")).toEqual({ kind: "sale", amountMinor: 999, currency: "EUR", mode: "tag" });
    expect(parseHubInput("0.1 EUR")).toMatchObject({ amountMinor: 10, mode: "reader" });
    expect(parseHubInput("1500 JPY")).toMatchObject({ amountMinor: 1500 });
    expect(parseHubInput("1.005 BHD")).toMatchObject({ amountMinor: 1005 });
    expect(parseHubInput("cancel")).toEqual({ kind: "cancel" });
  });

  it("refuses bad amounts, currencies and modes with their codes", () => {
    const codeOf = (line: string) => {
      try {
        parseHubInput(line);
      } catch (error) {
        return (error as TapwireError).code;
      }
      return undefined;
    };
    expect(codeOf("12.345 EUR")).toBe(ErrorCode.InvalidMoney);
    expect(codeOf("1.5 JPY")).toBe(ErrorCode.InvalidMoney);
    expect(codeOf("0 EUR")).toBe(ErrorCode.InvalidMoney);
    expect(codeOf("-3 EUR")).toBe(ErrorCode.InvalidMoney);
    expect(codeOf("1e3 EUR")).toBe(ErrorCode.InvalidMoney);
    expect(codeOf("12 XXX")).toBe(ErrorCode.UnknownCurrency);
    expect(codeOf("12 EUR glasses")).toBe(ErrorCode.ConfigInvalid);
    expect(codeOf("hello")).toBe(ErrorCode.ConfigInvalid);
  });
});
