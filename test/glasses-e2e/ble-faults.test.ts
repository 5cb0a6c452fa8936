import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { nextEvent } from "../ble/fixtures.ts";
import {
  challengeShown,
  codeOf,
  espresso,
  eventually,
  fundedMinor,
  ledgerSummary,
  nothingPaid,
  offerShown,
  outcomeNumber,
  reachState,
  startWorld,
  stopWorld,
  type GlassesWorld,
} from "./fixtures.ts";

let world: GlassesWorld | undefined;

afterEach(async () => {
  await stopWorld(world);
  world = undefined;
});

const paidOnce = { payments: 1, walletMinor: fundedMinor - espresso.amountMinor, merchantMinor: espresso.amountMinor };

/** Resolves when the link is back (reconnect with backoff, session proof) after the drop that follows. */
function linkBackAfterDrop(current: GlassesWorld): Promise<unknown> {
  return nextEvent(current.hub.assembly.link, "connected", () => true, 3_000);
}

describe("BLE faults during a glasses purchase never pay without the person's confirmation, never twice", () => {
  it("a link drop between offer and answer: the answer lost in the drop is never taken as a yes", async () => {
    world = await startWorld();
    await offerShown(world);
    const back = linkBackAfterDrop(world);
    world.hub.glasses.dropLink();
    expect(codeOf(() => world!.hub.glasses.say("I'll take it", "en"))).toBe(ErrorCode.BleNotReady);
    await back;

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "silence", code: ErrorCode.IntentTimeout });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("a link drop while the biometric challenge is out ends the purchase; the late answer after reconnecting pays nothing", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await eventually(() => world!.hub.glasses.lastChallenge !== undefined, 2_000, "challenge");
    const challenge = world.hub.glasses.lastChallenge;
    const back = linkBackAfterDrop(world);
    world.hub.glasses.dropLink();

    const outcome = await outcomeNumber(world, 1);
    expect(["failed", "biometric_timeout"]).toContain(outcome.kind);
    expect(outcome.paymentRequestId).toBeUndefined();
    await back;
    world.hub.glasses.answerBiometric(challenge);
    await reachState(world, "paired");
    expect(world.outcomes).toHaveLength(1);
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("a link drop the moment the confirmation arrives does not stop the confirmed payment; it is posted once", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await challengeShown(world);
    const glasses = world.hub.glasses;
    world.hub.assembly.link.once("message", () => glasses.dropLink());
    const back = linkBackAfterDrop(world);
    glasses.answerBiometric();

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "approved", code: 0 });
    await back;
    expect(ledgerSummary(world)).toEqual(paidOnce);
  });

  it("a garbled \"I'll take it\" is dropped by the frame check: silence, nothing paid", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.faults.garbleFrames = 1;
    world.hub.glasses.say("I'll take it", "en");

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "silence", code: ErrorCode.IntentTimeout });
    expect(world.hub.glasses.lastChallenge).toBeUndefined();
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("a garbled biometric assertion never reaches settlement: biometric_timeout, nothing paid", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await challengeShown(world);
    world.hub.glasses.faults.garbleFrames = 1;
    world.hub.glasses.answerBiometric();

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "biometric_timeout", code: ErrorCode.BiometricTimeout });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("a garbled \"non\" is lost, and silence still pays nothing", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.faults.garbleFrames = 1;
    world.hub.glasses.say("non", "fr");

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "silence" });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("duplicated frames of the product, the answer and the assertion pay exactly once", async () => {
    world = await startWorld();
    world.hub.glasses.faults.duplicateFrames = 100;
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await challengeShown(world);
    world.hub.glasses.answerBiometric();

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "approved", code: 0 });
    await reachState(world, "paired");
    expect(world.outcomes).toHaveLength(1);
    expect(world.hub.assembly.link.frameStats?.duplicates).toBeGreaterThan(0);
    expect(ledgerSummary(world)).toEqual(paidOnce);
  });

  it("the wearer saying yes twice and answering the biometric twice still pays exactly once", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    world.hub.glasses.say("I'll take it", "en");
    await challengeShown(world);
    world.hub.glasses.answerBiometric();
    world.hub.glasses.answerBiometric();

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "approved", code: 0 });
    await reachState(world, "paired");
    expect(world.outcomes).toHaveLength(1);
    expect(ledgerSummary(world)).toEqual(paidOnce);
  });

  it("reordered frames of a multi-frame assertion are put back in order: paid exactly once", async () => {
    // A small ATT MTU splits every message over several frames, so frames of one message can swap places.
    world = await startWorld({ glasses: { mtuMax: 64 } });
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await challengeShown(world);
    world.hub.glasses.faults.reorderFrames = 1;
    world.hub.glasses.answerBiometric();

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "approved", code: 0 });
    expect(world.hub.assembly.link.frameStats?.reordered).toBeGreaterThan(0);
    expect(ledgerSummary(world)).toEqual(paidOnce);
  });

  it("a frame held back by reordering with nothing behind it never completes the answer: silence, nothing paid", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.faults.reorderFrames = 1;
    world.hub.glasses.say("I'll take it", "en");

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "silence" });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });

  it("a dropped frame of the assertion loses it: biometric_timeout, nothing paid", async () => {
    world = await startWorld();
    await offerShown(world);
    world.hub.glasses.say("I'll take it", "en");
    await challengeShown(world);
    world.hub.glasses.faults.dropFrames = 1;
    world.hub.glasses.answerBiometric();

    expect(await outcomeNumber(world, 1)).toMatchObject({ kind: "biometric_timeout" });
    expect(ledgerSummary(world)).toEqual(nothingPaid);
  });
});
