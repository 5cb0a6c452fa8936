import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { GlassesInbound, GlassesLinkState, LinkFault, Refusal } from "../../firmware-bridge/ble/glasses-link-options.ts";
import { GlassesLink } from "../../firmware-bridge/ble/glasses-link.ts";
import { JsonFilePairingStore, MemoryPairingStore } from "../../firmware-bridge/ble/pairing-store.ts";
import { ErrorCode, isTapwireError, type TapwireError } from "../../protocol/errors.ts";
import { publicKeyPem } from "../../protocol/keys.ts";
import { VirtualBleBindings } from "../../simulator/glasses/virtual-ble-bindings.ts";
import { createVirtualNoble } from "../../simulator/glasses/virtual-noble.ts";
import { collect, fastLinkOptions, makeGlasses, makeWorld, nextEvent, startPaired, type World } from "./fixtures.ts";

let world: World | undefined;
const extraLinks: GlassesLink[] = [];

afterEach(async () => {
  await world?.link.stop();
  world = undefined;
  for (const link of extraLinks.splice(0)) await link.stop();
});

async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
  } catch (error) {
    return isTapwireError(error) ? error.code : -1;
  }
  return undefined;
}

function product(id: string, name = "Espresso") {
  return { productId: id, merchantId: "m-cafe", name, amountMinor: 350, currency: "EUR" };
}

async function reachState(link: GlassesLink, state: GlassesLinkState): Promise<void> {
  if (link.state !== state) await nextEvent(link, "state", (s) => s === state);
}

function messagesOf(link: GlassesLink): GlassesInbound[] {
  return collect<GlassesInbound>(link, "message");
}

/** Waits until `count` messages arrived, then a little longer so a late duplicate would show. */
async function settle(messages: unknown[], count: number, quietMs = 120): Promise<void> {
  for (let waited = 0; messages.length < count && waited < 2_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, quietMs));
}

describe("GlassesLink on real noble over virtual bindings: scan, connect, pair", () => {
  it("pairs with the glasses showing the code and stores their id, owner and key", async () => {
    world = makeWorld();
    const states = collect<GlassesLinkState>(world.link, "state");
    await world.link.start();
    expect(world.link.state).toBe("unpaired");
    const connected = nextEvent<[{ glassesId: string; mtu: number }]>(world.link, "connected");
    const code = world.glasses.showPairingCode();
    const binding = await world.link.pair(code);

    expect(binding).toMatchObject({ glassesId: "glasses-a", ownerId: "owner-1", publicKeyPem: publicKeyPem(world.glasses.publicKey) });
    expect(world.store.get()).toEqual(binding);
    const [info] = await connected;
    expect(info).toMatchObject({ glassesId: "glasses-a", mtu: 247 });
    expect(world.link.state).toBe("ready");
    expect(world.glasses.trustedByHub).toBe(true);
    expect(states).toEqual(["waitingForAdapter", "unpaired", "scanning", "connecting", "discovering", "pairing", "ready"]);
  });

  it("refuses a wrong code with BlePairingRefused and keeps no binding", async () => {
    world = makeWorld();
    await world.link.start();
    const shown = world.glasses.showPairingCode("123456");
    expect(shown).toBe("123456");
    expect(await codeOf(world.link.pair("654321"))).toBe(ErrorCode.BlePairingRefused);
    expect(world.store.get()).toBeUndefined();
    await reachState(world.link, "unpaired");
    expect(await codeOf(world.link.pair("12345"))).toBe(ErrorCode.BlePairingRefused);
  });

  it("fails pairing with BleNotFound when no glasses are in pairing mode", async () => {
    world = makeWorld();
    await world.link.start();
    expect(await codeOf(world.link.pair("123456"))).toBe(ErrorCode.BleNotFound);
  });

  it("reconnects to the paired glasses after a restart of the link, proving the key again", async () => {
    world = makeWorld();
    await startPaired(world);
    await world.link.stop();
    expect(world.glasses.connected).toBe(false);
    await world.link.start();
    await world.link.waitUntilReady(2_000);
    expect(world.glasses.received.filter((m) => m.type === "auth_challenge")).toHaveLength(1);
  });

  it("rejects start() with BleAdapterUnavailable while the adapter is off, and works once it is on", async () => {
    const bindings = new VirtualBleBindings({ adapterState: "poweredOff" });
    const link = new GlassesLink({ noble: createVirtualNoble(bindings), store: new MemoryPairingStore(), ...fastLinkOptions, timeouts: { ...fastLinkOptions.timeouts, poweredOnMs: 50 } });
    extraLinks.push(link);
    expect(await codeOf(link.start())).toBe(ErrorCode.BleAdapterUnavailable);
    bindings.setAdapterState("poweredOn");
    await link.start();
    expect(link.state).toBe("unpaired");
  });

  it("validates its options with their unit and range", () => {
    const noble = createVirtualNoble(new VirtualBleBindings());
    const make = (options: object) => () => new GlassesLink({ noble, store: new MemoryPairingStore(), ...options });
    for (const options of [{ mtuRequested: 10 }, { reconnect: { attemptsMax: 0 } }, { timeouts: { connectMs: -1 } }, { frames: { messageBytesMax: 0 } }]) {
      try {
        make(options)();
        expect.unreachable();
      } catch (error) {
        expect((error as TapwireError).code).toBe(ErrorCode.ConfigInvalid);
      }
    }
  });
});

describe("messages larger than the MTU", () => {
  it("uses the smaller of the hub's requested MTU and the glasses' own, as the ATT exchange does", async () => {
    world = makeWorld({ mtuRequested: 100 }, { mtuMax: 185 });
    await startPaired(world);
    expect(world.link.mtu).toBe(100);
    const text = "Une baguette bien cuite et deux croissants, merci. ".repeat(4);

    await world.link.say(text, "fr");
    expect(world.glasses.said).toEqual([expect.objectContaining({ text, lang: "fr" })]);
    const got = nextEvent<[GlassesInbound]>(world.link, "message");
    world.glasses.say(text, "fr", 0.9);
    expect((await got)[0]).toMatchObject({ type: "utterance", text });
  });

  it("fragments both ways at the minimum ATT MTU (23) and reassembles intact", async () => {
    world = makeWorld({}, { mtuMax: 23 });
    await startPaired(world);
    expect(world.link.mtu).toBe(23);
    const text = "Un grand café crème, s'il vous plaît — ".repeat(8);

    await world.link.showOffer({ offerId: "o-1", merchantId: "m-cafe", text, lang: "fr", amountMinor: 450, currency: "EUR" });
    await world.link.say(text, "fr");
    expect(world.glasses.shown).toEqual([expect.objectContaining({ text, amountMinor: 450 })]);
    expect(world.glasses.said).toEqual([expect.objectContaining({ text, lang: "fr" })]);

    const got = nextEvent<[GlassesInbound]>(world.link, "message");
    world.glasses.say(text, "fr", 0.8);
    const [message] = await got;
    expect(message).toMatchObject({ type: "utterance", text, lang: "fr", confidence: 0.8 });
    expect(world.link.frameStats!.frames).toBeGreaterThan(40);
  });
});

describe("fault switches", () => {
  it("a dropped link reconnects with exponential backoff up to its maximum delay", async () => {
    world = makeWorld();
    await startPaired(world);
    const reconnecting = collect<{ attempt: number; delayMs: number; code: number }>(world.link, "reconnecting");
    world.glasses.faults.refuseConnections = 3;
    const disconnected = nextEvent(world.link, "disconnected");
    world.glasses.dropLink();
    await disconnected;
    await nextEvent(world.link, "state", (s) => s === "ready");

    expect(reconnecting.map((r) => r.delayMs)).toEqual([10, 20, 40, 40]);
    expect(reconnecting.map((r) => r.attempt)).toEqual([1, 2, 3, 4]);
    expect(reconnecting[0]!.code).toBe(ErrorCode.BleDisconnected);
    expect(world.bindings.connectAttempts.get(world.bindings.idOf(world.glasses))).toBe(5);

    const got = nextEvent<[GlassesInbound]>(world.link, "message");
    world.glasses.seeProduct(product("p-after-drop"));
    expect((await got)[0]).toMatchObject({ productId: "p-after-drop" });
  });

  it("gives up after attemptsMax failed attempts with the last error's code", async () => {
    world = makeWorld({ reconnect: { delayMsInitial: 5, delayMsMax: 10, attemptsMax: 3 }, timeouts: { ...fastLinkOptions.timeouts, scanMs: 30 } });
    await startPaired(world);
    const failed = nextEvent<[TapwireError]>(world.link, "failed", () => true, 3_000);
    world.glasses.setInRange(false);
    const [error] = await failed;
    expect(error.code).toBe(ErrorCode.BleNotFound);
    expect(world.link.state).toBe("failed");
  });

  it("a garbled frame is detected and its message never delivered; the next message arrives", async () => {
    world = makeWorld({}, { mtuMax: 40 });
    await startPaired(world);
    const messages = messagesOf(world.link);
    const faults = collect<LinkFault>(world.link, "linkFault");
    world.glasses.faults.garbleFrames = 1;
    world.glasses.seeProduct(product("p-garbled", "Pain au chocolat aux amandes"));
    await nextEvent(world.link, "linkFault", (f: LinkFault) => f.kind === "gap");
    world.glasses.seeProduct(product("p-clean"));
    await settle(messages, 1);

    expect(messages.map((m) => (m as { productId: string }).productId)).toEqual(["p-clean"]);
    expect(faults.find((f) => f.kind === "invalid")).toMatchObject({ code: ErrorCode.BleFrameInvalid });
    expect(faults.find((f) => f.kind === "gap")).toMatchObject({ code: ErrorCode.BleSequenceGap, count: 1 });
  });

  it("duplicated frames are detected and the message is delivered once", async () => {
    world = makeWorld({}, { mtuMax: 40 });
    await startPaired(world);
    const messages = messagesOf(world.link);
    const faults = collect<LinkFault>(world.link, "linkFault");
    const framesBefore = world.link.frameStats!.frames;
    world.glasses.faults.duplicateFrames = 1_000;
    world.glasses.seeProduct(product("p-dup", "Croissant"));
    world.glasses.seeProduct(product("p-dup-2", "Croissant"));
    await settle(messages, 2);

    expect(messages.map((m) => (m as { productId: string }).productId)).toEqual(["p-dup", "p-dup-2"]);
    const duplicates = faults.filter((f) => f.kind === "duplicate");
    expect(duplicates.length).toBe((world.link.frameStats!.frames - framesBefore) / 2);
    expect(duplicates.length).toBeGreaterThan(2);
    expect(duplicates.every((f) => f.kind === "duplicate" && f.code === ErrorCode.BleDuplicate)).toBe(true);
  });

  it("reordered frames, within and across messages, are detected and delivered once, in order", async () => {
    world = makeWorld({}, { mtuMax: 40 });
    await startPaired(world);
    const messages = messagesOf(world.link);
    const faults = collect<LinkFault>(world.link, "linkFault");
    world.glasses.faults.reorderFrames = 3;
    world.glasses.seeProduct(product("p-1", "Tarte aux pommes normande"));
    world.glasses.setBattery(80);
    world.glasses.seeProduct(product("p-2"));
    await settle(messages, 3);

    expect(messages.map((m) => m.type)).toEqual(["product_seen", "battery", "product_seen"]);
    expect(messages[0]).toMatchObject({ productId: "p-1", name: "Tarte aux pommes normande" });
    expect(faults.filter((f) => f.kind === "reordered").length).toBeGreaterThan(0);
    expect(faults.filter((f) => f.kind !== "reordered")).toEqual([]);
  });

  it("dropped frames show up as a sequence gap", async () => {
    world = makeWorld();
    await startPaired(world);
    const messages = messagesOf(world.link);
    world.glasses.faults.dropFrames = 1;
    world.glasses.seeProduct(product("p-lost"));
    world.glasses.seeProduct(product("p-kept"));
    const [gap] = await nextEvent<[LinkFault]>(world.link, "linkFault", (f: LinkFault) => f.kind === "gap");
    await settle(messages, 1);
    expect(gap).toMatchObject({ code: ErrorCode.BleSequenceGap, count: 1 });
    expect(messages.map((m) => (m as { productId: string }).productId)).toEqual(["p-kept"]);
  });

  it("follows an MTU change mid-session in both directions", async () => {
    world = makeWorld();
    await startPaired(world);
    expect(world.link.mtu).toBe(247);
    const long = "Thé vert au jasmin, grande tasse. ".repeat(6);

    const shrunk = nextEvent<[number]>(world.link, "mtu");
    world.glasses.changeMtu(40);
    expect((await shrunk)[0]).toBe(40);
    await world.link.say(long, "fr");
    const got = nextEvent<[GlassesInbound]>(world.link, "message");
    world.glasses.say(long, "fr");
    expect((await got)[0]).toMatchObject({ text: long });

    const grown = nextEvent<[number]>(world.link, "mtu");
    world.glasses.changeMtu(185);
    expect((await grown)[0]).toBe(185);
    await world.link.say(`${long}!`, "fr");
    expect(world.glasses.said.map((m) => m.text)).toEqual([long, `${long}!`]);
  });

  it("reports low battery, and glasses that run flat drop off", async () => {
    world = makeWorld();
    await startPaired(world);
    const low = nextEvent<[number]>(world.link, "lowBattery");
    world.glasses.setBattery(7);
    expect((await low)[0]).toBe(7);
    const disconnected = nextEvent(world.link, "disconnected");
    world.glasses.setBattery(0);
    await disconnected;
    expect(world.glasses.connected).toBe(false);
  });

  it("times out a step when the glasses stop answering, then retries", async () => {
    world = makeWorld();
    await startPaired(world);
    world.glasses.faults.silent = true;
    const retry = nextEvent<[{ code: number }]>(world.link, "reconnecting", (r: { code: number }) => r.code === ErrorCode.BleTimeout);
    world.glasses.dropLink();
    await retry;
    world.glasses.faults.silent = false;
    await nextEvent(world.link, "state", (s) => s === "ready");
  });

  it("cancels a connect that does not complete within connectMs and connects once the glasses are back", async () => {
    world = makeWorld();
    await startPaired(world);
    const glasses = world.glasses;
    const vanishOnConnect = (state: GlassesLinkState) => {
      if (state !== "connecting") return;
      world!.link.off("state", vanishOnConnect);
      glasses.setInRange(false);
    };
    world.link.on("state", vanishOnConnect);
    const timedOut = nextEvent<[{ code: number }]>(world.link, "reconnecting", (r: { code: number }) => r.code === ErrorCode.BleTimeout);
    glasses.dropLink();
    await timedOut;
    expect(glasses.connected).toBe(false);
    glasses.setInRange(true);
    await nextEvent(world.link, "state", (s) => s === "ready");
    expect(glasses.connected).toBe(true);
  });
});

describe("pairing again and refusing other glasses", () => {
  it("pairing new glasses wipes the old binding; the old glasses are never connected again", async () => {
    world = makeWorld();
    await startPaired(world);
    const oldGlasses = world.glasses;
    const newGlasses = makeGlasses({ glassesId: "glasses-b", ownerId: "owner-2" });
    world.bindings.addPeripheral(newGlasses);

    const binding = await world.link.pair(newGlasses.showPairingCode());
    expect(binding).toMatchObject({ glassesId: "glasses-b", ownerId: "owner-2", publicKeyPem: publicKeyPem(newGlasses.publicKey) });
    expect(world.store.get()).toEqual(binding);
    expect(oldGlasses.connected).toBe(false);

    const oldAttempts = world.bindings.connectAttempts.get(world.bindings.idOf(oldGlasses));
    const notFound = nextEvent<[{ code: number }]>(world.link, "reconnecting", (r: { code: number }) => r.code === ErrorCode.BleNotFound);
    newGlasses.setInRange(false);
    await notFound;
    expect(world.bindings.connectAttempts.get(world.bindings.idOf(oldGlasses))).toBe(oldAttempts);
    expect(oldGlasses.connected).toBe(false);
  });

  it("starting to pair again wipes the old binding even if the new pairing fails", async () => {
    world = makeWorld();
    await startPaired(world);
    expect(await codeOf(world.link.pair("000000"))).toBe(ErrorCode.BleNotFound);
    expect(world.store.get()).toBeUndefined();
    expect(world.link.state).toBe("unpaired");
    expect(world.glasses.connected).toBe(false);
  });

  it("refuses impostor glasses that advertise the paired id without the paired key, and whatever they say", async () => {
    world = makeWorld();
    await startPaired(world);
    const impostor = makeGlasses({ glassesId: "glasses-a", ownerId: "owner-1" });
    impostor.faults.sendBeforeAuth = true;
    const messages = messagesOf(world.link);
    const refusals = collect<Refusal>(world.link, "refused");
    world.glasses.setInRange(false);
    world.bindings.addPeripheral(impostor);

    await nextEvent(world.link, "refused", (r: Refusal) => r.reason.includes("session proof"));
    expect(refusals.map((r) => r.code)).toEqual([ErrorCode.BlePairingRefused, ErrorCode.BlePairingRefused]);
    expect(refusals[0]!.reason).toContain("product_seen");
    expect(messages).toEqual([]);
    expect(world.link.state).not.toBe("ready");
    expect(await codeOf(world.link.say("hello", "en"))).toBe(ErrorCode.BleNotReady);
  });
});

describe("biometric assertion", () => {
  it("verifies an answer to the hub's challenge and names the paired glasses and owner", async () => {
    world = makeWorld({}, { autoAnswerBiometric: { userVerified: true, liveness: true, method: "iris" } });
    await startPaired(world);
    const challenge = new Uint8Array(32).fill(7);
    const assertion = await world.link.requestBiometric(challenge, { timeoutMs: 1_000 });
    const claim = world.link.verifyAssertion(assertion, challenge);
    expect(claim).toMatchObject({ glassesId: "glasses-a", ownerId: "owner-1", method: "iris", userVerified: true, liveness: true });
  });

  it("fails a tampered, misdirected or unverified assertion with a typed code", async () => {
    world = makeWorld();
    await startPaired(world);
    const challenge = new Uint8Array(32).fill(9);
    const pending = world.link.requestBiometric(challenge, { timeoutMs: 1_000 });
    await nextEvent(world.glasses, "received", (m: { type: string }) => m.type === "biometric_challenge");
    world.glasses.answerBiometric();
    const assertion = Buffer.from(await pending);

    const tamperedSignature = Buffer.from(assertion);
    tamperedSignature[tamperedSignature.length - 1] = tamperedSignature[tamperedSignature.length - 1]! ^ 1;
    const tamperedPayload = Buffer.from(assertion.toString("hex").replace(Buffer.from("owner-1").toString("hex"), Buffer.from("owner-9").toString("hex")), "hex");
    const verify = (bytes: Uint8Array, expected = challenge) => codeOf(Promise.resolve().then(() => world!.link.verifyAssertion(bytes, expected)));

    expect(await verify(assertion)).toBeUndefined();
    expect(await verify(tamperedSignature)).toBe(ErrorCode.BadSignature);
    expect(await verify(tamperedPayload)).toBe(ErrorCode.BadSignature);
    expect(await verify(Buffer.from([0x82, 0x01, 0x02]))).toBe(ErrorCode.MalformedCose);
    expect(await verify(assertion, new Uint8Array(32).fill(1))).toBe(ErrorCode.BleAssertionMismatch);
    expect(await verify(world.glasses.signAssertion(challenge, { userVerified: false }))).toBe(ErrorCode.BiometricFailed);
    expect(await verify(world.glasses.signAssertion(challenge, { liveness: false }))).toBe(ErrorCode.BiometricFailed);

    const impostor = makeGlasses({ glassesId: "glasses-a", ownerId: "owner-1" });
    expect(await verify(impostor.signAssertion(challenge))).toBe(ErrorCode.BadSignature);
  });

  it("times out a biometric request the wearer never answers with BleTimeout", async () => {
    world = makeWorld();
    await startPaired(world);
    expect(await codeOf(world.link.requestBiometric(new Uint8Array(16), { timeoutMs: 50 }))).toBe(ErrorCode.BleTimeout);
  });
});

describe("pairing stores", () => {
  it("keeps one binding in a JSON file, replaced whole and wiped on clear", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tapwire-ble-"));
    try {
      const path = join(dir, "glasses.json");
      world = makeWorld({ store: new JsonFilePairingStore(path) });
      await startPaired(world);
      const stored = new JsonFilePairingStore(path).get();
      expect(stored).toMatchObject({ glassesId: "glasses-a", ownerId: "owner-1" });
      expect(statSync(path).mode & 0o777).toBe(0o600);

      new JsonFilePairingStore(path).clear();
      expect(new JsonFilePairingStore(path).get()).toBeUndefined();

      writeFileSync(path, "{ not json");
      expect(() => new JsonFilePairingStore(path).get()).toThrowError(expect.objectContaining({ code: ErrorCode.ConfigInvalid }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
