import { afterEach, describe, expect, it } from "vitest";
import { EvidenceReader } from "../../broker/merchant-events/evidence-reader.ts";
import { MerchantFeed, feedPollMs, feedWindowEvents } from "../../broker/merchant-events/merchant-feed.ts";
import { VirtualClock } from "../../core/sources.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { encodeFeedAck, feedQuietMsMax, openFeedEvent, sealFeedEvent, type MerchantEvent } from "../../protocol/merchant-feed.ts";
import { SettlementFixture } from "../settlement/fixtures.ts";

let fixture: SettlementFixture | undefined;
let reader: EvidenceReader | undefined;
afterEach(async () => {
  reader?.close();
  await fixture?.close();
  fixture = reader = undefined;
});

/** A feed over a real settlement database, publishing into an array, on virtual time. */
async function feedOver(payments: number) {
  fixture = await SettlementFixture.create({ fundMinor: 1_000_000 });
  for (let index = 0; index < payments; index += 1) {
    expect(await fixture.decisionFor(fixture.hub, fixture.hub.paymentRequest(fixture.wallet, 100 + index).bytes)).toMatchObject({ status: "approved" });
  }
  // The pumps are stepped by setImmediate turns here; a real fdatasync ends on the thread pool at a time those turns
  // cannot know, so the reader's sync is recorded instead, with what had been published when it ran.
  const syncs: number[] = [];
  reader = new EvidenceReader(fixture.databasePath, async () => {
    syncs.push(published.length);
  });
  const clock = new VirtualClock();
  const published: MerchantEvent[] = [];
  let brokerDown = false;
  const serviceKeys = fixture.serviceKeys;
  const feed = new MerchantFeed({
    reader,
    merchantKnown: (merchantId) => merchantId === "m1",
    seal: (event) => sealFeedEvent(event, serviceKeys.privateKey),
    publish: async (_merchantId, payload) => {
      if (brokerDown) throw new TapwireError("broker stopped", ErrorCode.Offline);
      published.push(openFeedEvent(payload, serviceKeys.publicKey));
    },
    timers: clock,
  });
  return { feed, clock, published, syncs, setBrokerDown: (down: boolean) => (brokerDown = down) };
}

/** Lets the feed's pumps (promise chains over the reader) run to their end. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 50; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

describe("the merchant feed's window, resume and quiet limits", () => {
  it("sends at most feedWindowEvents unacknowledged, then more as acks come", async () => {
    const { feed, published, syncs } = await feedOver(feedWindowEvents + 6);
    feed.onAck("m1", encodeFeedAck(0, true));
    await settle();
    expect(published).toHaveLength(feedWindowEvents);
    // What was read was made durable before the first event of it left.
    expect(syncs[0]).toBe(0);

    feed.onAck("m1", encodeFeedAck(published[9]!.seq, false));
    await settle();
    expect(published).toHaveLength(feedWindowEvents + 6);
    expect(published.map((event) => event.amountMinor)).toEqual(Array.from({ length: feedWindowEvents + 6 }, (_, index) => 100 + index));
    feed.stop();
  });

  it("an event the broker did not take is sent again at the next poll, in order (interrupted)", async () => {
    const { feed, clock, published, setBrokerDown } = await feedOver(3);
    setBrokerDown(true);
    feed.onAck("m1", encodeFeedAck(0, true));
    await settle();
    expect(published).toHaveLength(0);
    setBrokerDown(false);
    clock.advance(feedPollMs);
    await settle();
    expect(published.map((event) => event.amountMinor)).toEqual([100, 101, 102]);
    feed.stop();
  });

  it("ignores a malformed position and one from an unknown merchant; a silent merchant stops being served (malformed, forged)", async () => {
    const { feed, clock, published } = await feedOver(2);
    feed.onAck("m1", Buffer.from("garbage"));
    feed.onAck("m2", encodeFeedAck(0, true));
    await settle();
    expect(published).toHaveLength(0);
    expect(feed.listening).toBe(0);

    feed.onAck("m1", encodeFeedAck(0, true));
    await settle();
    expect(feed.listening).toBe(1);
    clock.advance(feedQuietMsMax + 2 * feedPollMs);
    await settle();
    expect(feed.listening).toBe(0);
    feed.stop();
  });
});
