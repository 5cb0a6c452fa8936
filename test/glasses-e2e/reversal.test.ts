import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { espresso, eventually, fundedMinor, ledgerSummary, offerShown, outcomeNumber, startWorld, stopWorld, type GlassesWorld } from "./fixtures.ts";

let world: GlassesWorld | undefined;

afterEach(async () => {
  await stopWorld(world);
  world = undefined;
});

describe("a glasses hub's reversal goes through the same journal-backed outbox as a tap hub's", () => {
  it("payment captured, its decision lost, the reversal's answer lost too: the reversal is resent after the link returns until the payment is undone", async () => {
    world = await startWorld({ viaProxy: true });
    const proxy = world.proxy!;
    // The service captures the payment, but nothing it answers reaches the hub.
    proxy.hold("down");
    await offerShown(world);
    world.hub.glasses.autoAnswerBiometric = { userVerified: true, liveness: true, method: "voiceprint" };
    world.hub.glasses.say("I'll take it", "en");
    await eventually(() => ledgerSummary(world!).payments === 1, 5_000, "payment captured");

    const outcome = await outcomeNumber(world, 1, 8_000);
    expect(outcome).toMatchObject({ kind: "no_decision", code: ErrorCode.DecisionTimeout });
    expect(world.hub.journal.openRequests().map((request) => request.kind)).toEqual(["reversal"]);

    // The link drops with the reversal unanswered; while it is down nothing is lost, only waiting.
    proxy.refusing = true;
    proxy.cutAll();
    proxy.release("down");
    expect(ledgerSummary(world).merchantMinor).toBe(espresso.amountMinor);
    proxy.refusing = false;

    await eventually(() => world!.hub.journal.openRequests().length === 0, 8_000, "reversal decided");
    expect(world.hub.journal.lastSale()).toMatchObject({ outcome: "reversed", mode: "glasses" });
    expect(ledgerSummary(world)).toMatchObject({ walletMinor: fundedMinor, merchantMinor: 0 });
  });
});
