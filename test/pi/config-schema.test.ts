import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { glassesConfigJsonSchema, hubConfigJsonSchema, schemaText } from "../../cli/config-schema.ts";
import { parseGlassesHubConfig } from "../../cli/glasses-hub-config.ts";
import { parseHubConfig } from "../../cli/hub-config.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { repoRoot } from "./fixtures.ts";

type JsonSchema = { properties?: Record<string, JsonSchema>; title?: string; description?: string; unit?: string; default?: unknown; type?: string };

/** Every property of a schema by its dotted path. */
function properties(schema: JsonSchema, prefix = ""): Array<[string, JsonSchema]> {
  return Object.entries(schema.properties ?? {}).flatMap(([key, child]) => [[`${prefix}${key}`, child] as [string, JsonSchema], ...properties(child, `${prefix}${key}.`)]);
}

function detailsOf(work: () => unknown): string[] {
  try {
    work();
  } catch (error) {
    if (!isTapwireError(error, ErrorCode.ConfigInvalid)) throw error;
    return error.context?.["details"] as string[];
  }
  throw new Error("expected ConfigInvalid");
}

const glassesMinimal = { hubId: "g1", merchantId: "m1", owner: { ownerId: "o1", walletId: "w1" }, broker: { url: "mqtts://127.0.0.1:8883", enrolmentDir: "glasses" } };

describe("the config JSON Schemas", () => {
  it("ship in schema/ exactly as generated from the zod schemas (`npm run schema` rewrites them)", () => {
    expect(readFileSync(join(repoRoot, "schema", "hub.schema.json"), "utf8")).toBe(schemaText(hubConfigJsonSchema()));
    expect(readFileSync(join(repoRoot, "schema", "glasses.schema.json"), "utf8")).toBe(schemaText(glassesConfigJsonSchema()));
  });

  it.each([
    ["hub.json", hubConfigJsonSchema],
    ["glasses.json", glassesConfigJsonSchema],
  ])("%s: every key has a description, every duration its unit, and the hub's own keys their defaults", (_, generate) => {
    const all = properties(generate() as JsonSchema);
    expect(all.length).toBeGreaterThan(30);
    expect(all.filter(([, schema]) => !schema.description).map(([path]) => path)).toEqual([]);
    expect(all.filter(([path, schema]) => /Ms(Max|Min|Initial)?$/.test(path) && schema.unit !== "milliseconds").map(([path]) => path)).toEqual([]);
  });

  it("hub.json documents the timings with their owners' defaults and ranges, and the panel's own keys", () => {
    const hub = Object.fromEntries(properties(hubConfigJsonSchema() as JsonSchema));
    expect(hub["timings.tapTimeoutMs"]).toMatchObject({ default: 30_000, minimum: 1_000, unit: "milliseconds", type: "integer" });
    expect(hub["timings.reconnectAttemptsMax"]).toMatchObject({ unit: "attempts" });
    expect(hub["panel.pins.cancelButton"]).toMatchObject({ maximum: 127 });
    expect(hub["nfc.probeIntervalMs"]).toMatchObject({ default: 5_000 });
  });

  it("names the same things the same way in hub.json and glasses.json", () => {
    const hub = hubConfigJsonSchema() as JsonSchema;
    const glasses = glassesConfigJsonSchema() as JsonSchema;
    for (const key of ["$schema", "hubId", "merchantId", "broker", "journalFile", "timings"]) expect(Object.keys(glasses.properties!)).toContain(key);
    expect(glasses.properties!["broker"]).toEqual(hub.properties!["broker"]);
    expect(Object.keys(glasses.properties!["timings"]!.properties!)).toEqual(expect.arrayContaining(["decisionTimeoutMs", "resultDisplayMs", "requestTtlMs"]));
  });

  it("both configs accept their $schema reference", () => {
    const hub = JSON.parse(readFileSync(join(repoRoot, "deploy", "pi", "hub.example.json"), "utf8"));
    expect(parseHubConfig(hub, "/etc/tapwire").hubId).toBe("h1");
    expect(parseGlassesHubConfig({ ...glassesMinimal, $schema: "./glasses.schema.json" }).hubId).toBe("g1");
  });

  it("refuses the glasses keys of before with ConfigInvalid naming each new name", () => {
    const { broker, ...rest } = glassesMinimal;
    const details = detailsOf(() => parseGlassesHubConfig({ ...rest, settlement: broker, timing: { offerTimeoutMs: 60_000 }, requestTtlMs: 30_000 }));
    expect(details).toEqual(
      expect.arrayContaining([
        "settlement: renamed to broker (as in hub.json)",
        "timing: renamed to timings (as in hub.json)",
        "requestTtlMs: renamed to timings.requestTtlMs (as in hub.json)",
      ]),
    );
    expect(details.some((detail) => detail.startsWith("(config): unknown keys"))).toBe(false);
    expect(parseGlassesHubConfig({ ...glassesMinimal, timings: { requestTtlMs: 30_000 } }).timings?.requestTtlMs).toBe(30_000);
  });
});
