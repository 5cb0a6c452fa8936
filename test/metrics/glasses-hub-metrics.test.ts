import { afterEach, describe, expect, it } from "vitest";
import { glassesHubMetered, serveHubMetrics, type ServedHubMetrics } from "../../firmware-bridge/adapters/hub-metrics.ts";
import { sample, scrape } from "../../console/prometheus-text.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { espresso, offerShown, outcomeNumber, reachState, startWorld, stopWorld, type GlassesWorld } from "../glasses-e2e/fixtures.ts";

describe("a glasses hub's /metrics", () => {
  let world: GlassesWorld | undefined;
  let served: ServedHubMetrics | undefined;
  afterEach(async () => {
    await served?.stop();
    await stopWorld(world);
    served = undefined;
    world = undefined;
  });

  it("counts purchase outcomes by code and says whether the link is up", async () => {
    world = await startWorld();
    served = await serveHubMetrics(glassesHubMetered(world.hub.assembly), world.hub.journal, {}, { port: 0 });
    world.hub.glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "voiceprint" };
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await outcomeNumber(world, 1);
    await reachState(world, "paired");
    await offerShown(world, { ...espresso, productId: "sku-big", amountMinor: 60_000 });
    world.hub.glasses.say("yes", "en");
    await outcomeNumber(world, 2);

    const text = await scrape(served.url);

    expect(sample(text, "tapwire_hub_sales_total", { outcome: "approved" })).toBe(1);
    expect(sample(text, "tapwire_hub_sales_total", { outcome: "declined", code: String(ErrorCode.LimitExceeded) })).toBe(1);
    expect(sample(text, "tapwire_hub_link_ready")).toBe(1);
    expect((await fetch(`${served.url}/readyz`)).status).toBe(200);
  });
});
