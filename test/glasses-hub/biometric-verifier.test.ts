import { describe, expect, it } from "vitest";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { VirtualClock } from "../../core/sources.ts";
import { PairedGlassesVerifier, type BiometricAssertion } from "../../device/glasses/biometric-verifier.ts";
import { GlassesHub } from "../../device/glasses/glasses-hub.ts";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import type { BiometricRequestOptions } from "../../device/glasses/ports.ts";
import { TableIntentParser } from "../../device/intent/table-intent-parser.ts";
import { AutoSettlement, FakeGlasses, glassesLink, nikeAir, pairing } from "./fakes.ts";

const glassesKey = generateP256();
const challenge = new Uint8Array(32).fill(7);
const verifier = new PairedGlassesVerifier({ glassesId: "glasses-1", publicKey: glassesKey.publicKey });

function assertion(overrides: Partial<BiometricAssertion> = {}, key = glassesKey.privateKey): Uint8Array {
  const body: BiometricAssertion = {
    type: "biometric_assertion",
    v: 1,
    glassesId: "glasses-1",
    ownerId: "owner-1",
    challenge,
    method: "voiceprint",
    userVerified: true,
    liveness: true,
    iat: 1,
    ...overrides,
  };
  return sealMessage(body, key);
}

function codeOf(run: () => unknown): number | undefined {
  try {
    run();
  } catch (error) {
    return isTapwireError(error) ? error.code : -1;
  }
  return undefined;
}

describe("PairedGlassesVerifier", () => {
  it("returns who the paired glasses recognised", () => {
    expect(verifier.verify(assertion({ method: "iris" }), challenge)).toEqual({ ownerId: "owner-1", glassesId: "glasses-1" });
    expect(verifier.verify(assertion({ ownerId: "owner-2" }), challenge).ownerId).toBe("owner-2");
  });

  it.each([
    ["user not verified", () => verifier.verify(assertion({ userVerified: false }), challenge)],
    ["liveness false", () => verifier.verify(assertion({ liveness: false }), challenge)],
    ["another challenge", () => verifier.verify(assertion(), new Uint8Array(32).fill(8))],
    ["a shorter challenge", () => verifier.verify(assertion(), new Uint8Array(16).fill(7))],
    ["signed by another key", () => verifier.verify(assertion({}, generateP256().privateKey), challenge)],
    ["not COSE at all", () => verifier.verify(new Uint8Array([1, 2, 3]), challenge)],
  ])("%s → BiometricFailed", (_, run) => {
    expect(codeOf(run)).toBe(ErrorCode.BiometricFailed);
  });

  it("an assertion from other glasses → GlassesNotPaired", () => {
    const other = generateP256();
    expect(codeOf(() => verifier.verify(assertion({ glassesId: "glasses-9" }, other.privateKey), challenge))).toBe(
      ErrorCode.GlassesNotPaired,
    );
  });
});

describe("GlassesHub with real signed assertions", () => {
  function hubWith(ownerId: string) {
    const glasses = new FakeGlasses();
    glasses.requestBiometric = async (c: Uint8Array, _options: BiometricRequestOptions) =>
      new Uint8Array(assertion({ challenge: new Uint8Array(c), ownerId }));
    const clock = new VirtualClock();
    const settlement = new AutoSettlement(clock);
    const { sealer, outbox, random } = glassesLink(clock, settlement);
    const crash = (error: unknown) => {
      throw error;
    };
    const hub = new GlassesHub(
      { glasses, verifier, parser: new TableIntentParser(), sealer, outbox, random },
      { hubId: "hub-glasses-1", pairing },
      clock,
      crash,
    );
    const outcomes: PurchaseOutcome[] = [];
    hub.onOutcome((outcome) => outcomes.push(outcome));
    return { hub, glasses, settlement, outcomes };
  }

  async function purchase(ownerId: string) {
    const run = hubWith(ownerId);
    run.hub.start();
    run.glasses.see(nikeAir);
    await settled(() => run.glasses.said.length === 1);
    run.glasses.hear("I'll take it", "en");
    await settled(() => run.outcomes.length === 1);
    run.hub.stop();
    return run;
  }

  it("pays when the paired owner confirms", async () => {
    const { outcomes, settlement } = await purchase("owner-1");
    expect(outcomes[0]).toMatchObject({ kind: "approved" });
    expect(settlement.sent).toHaveLength(1);
  });

  it("never pays when the glasses recognise someone else", async () => {
    const { outcomes, settlement, glasses } = await purchase("owner-2");
    expect(outcomes[0]).toMatchObject({ kind: "wrong_person", code: ErrorCode.OwnerMismatch });
    expect(settlement.sent).toHaveLength(0);
    expect(glasses.subscribed).toBe(false);
  });
});

/** Waits on microtasks only (every fake answers at once); bounded so a bug fails instead of hanging. */
async function settled(predicate: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1000 && !predicate(); turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  expect(predicate()).toBe(true);
}
