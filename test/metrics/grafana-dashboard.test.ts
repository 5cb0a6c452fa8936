import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SettlementMetrics } from "../../broker/settlement-metrics.ts";

const dashboard = JSON.parse(readFileSync(new URL("../../deploy/grafana/tapwire.json", import.meta.url), "utf8")) as {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
};
const hubSource = readFileSync(new URL("../../firmware-bridge/adapters/hub-metrics.ts", import.meta.url), "utf8");

describe("the shipped Grafana dashboard", () => {
  it("queries only metrics the settlement node or the hub exports", async () => {
    const node = new SettlementMetrics({ service: () => undefined, droppedAtEdge: () => 0, brokerClients: () => 0, linkConnected: () => false });
    const exported = new Set((await node.registry.getMetricsAsJSON()).map((metric) => metric.name));
    const queried = new Set(dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => [...target.expr.matchAll(/tapwire_\w+/g)].map((m) => m[0]))));
    const base = (name: string) => name.replace(/_(bucket|count|sum)$/, "");

    const unknown = [...queried].filter((name) => !exported.has(base(name)) && !hubSource.includes(`"${base(name)}"`));
    expect(queried.size).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });
});
