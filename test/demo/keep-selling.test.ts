import { existsSync, rmSync } from "node:fs";
import { get, login } from "../console/fixtures.ts";
import { describe, expect, it } from "vitest";
import { walletAccountId } from "../../broker/ledger/ledger.ts";
import { keepSelling, keepSellingDefaults } from "../../simulator/demo/keep-selling.ts";
import { runDemo } from "../../simulator/demo/run-demo.ts";

describe("tapwire demo --dashboard", () => {
  it("after the scenes, keeps both hubs online and sells until stopped, topping the wallet up; --keep names the data dir", async () => {
    const lines: string[] = [];
    let soldThree: () => void = () => undefined;
    const threeSold = new Promise<void>((resolve) => (soldThree = resolve));
    const write = (line: string) => {
      lines.push(line);
      if (/ sale 3: /.test(line)) soldThree();
    };
    const stop = new AbortController();
    let sold = 0;
    let online: string[] = [];
    let walletMinor = 0;

    const exitCode = await runDemo({
      port: 0,
      keepDataDir: true,
      write,
      dashboardPort: 0,
      holdOpen: async (world) => {
        const selling = keepSelling(world, stop.signal, { ...keepSellingDefaults, intervalMs: 1, topUpBelowMinor: 20_000 });
        // Stop once the hub has sold a few, as a person pressing Ctrl-C would.
        await threeSold;
        // What the dashboard shows: each hub's presence, from its retained state topic.
        const [, consoleUrl, operator, token] = lines.join("\n").match(/live console on (\S+): log in as operator (\S+) with token (\S+)/)!;
        const port = Number(new URL(consoleUrl!).port);
        const session = await login(port, operator!, token!);
        const snapshot = JSON.parse((await get(port, "/snapshot.json", { cookie: session.cookie })).body) as { hubs: { shown: Array<{ hubId: string; presence: string }> } };
        online = snapshot.hubs.shown.filter((hub) => hub.presence === "online").map((hub) => hub.hubId);
        walletMinor = world.node.service.ledger.balanceOf(walletAccountId(world.walletId));
        stop.abort();
        sold = await selling;
      },
    });
    const dataDir = lines.join("\n").match(/--data-dir (\S+settlement)\b/)?.[1];

    expect(exitCode).toBe(0);
    expect(sold).toBeGreaterThanOrEqual(3);
    expect(lines.filter((line) => / sale \d+: .* approved$/.test(line))).toHaveLength(sold);
    expect(online.sort()).toEqual(["glasses-hub-1", "tap-hub-1"]);
    // Funded below the threshold on every sale, so the wallet never runs dry while the demo sells.
    expect(walletMinor).toBeGreaterThan(10_000);
    expect(dataDir).toBeDefined();
    expect(existsSync(`${dataDir}/ledger.sqlite`)).toBe(true);
    rmSync(dataDir!.replace(/\/settlement$/, ""), { recursive: true, force: true });
  }, 60_000);
});
