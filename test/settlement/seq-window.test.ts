import { describe, expect, it } from "vitest";
import { acceptSeq, emptySeqWindow, type SeqWindow } from "../../broker/registry/seq-window.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { SeededRandom } from "../../core/sources.ts";
import type { SettlementFixture } from "./fixtures.ts";
import { freshFixtureEachTest } from "./preamble.ts";

/** Accepts every seq in order, failing the test on a refusal; returns the window after them. */
function acceptAll(seqs: readonly number[], window: SeqWindow = emptySeqWindow()): SeqWindow {
  for (const seq of seqs) {
    const next = acceptSeq(window, seq);
    if (next instanceof TapwireError) throw next;
    window = next;
  }
  return window;
}

const refusalCode = (window: SeqWindow, seq: number) => {
  const result = acceptSeq(window, seq);
  return result instanceof TapwireError ? result.code : "accepted";
};

describe("a hub's anti-replay window", () => {
  it("accepts seqs in any order within the window, each once", () => {
    const window = acceptAll([5, 2, 9, 1, 3, 4, 8, 6, 7]);

    expect(window.topSeq).toBe(9);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((seq) => refusalCode(window, seq))).toEqual(Array(9).fill(ErrorCode.SeqReplayed));
    expect(refusalCode(window, 10)).toBe("accepted");
  });

  it("refuses seq 0 and a replay of the top", () => {
    expect(refusalCode(emptySeqWindow(), 0)).toBe(ErrorCode.SeqReplayed);
    expect(refusalCode(acceptAll([7]), 7)).toBe(ErrorCode.SeqReplayed);
  });

  it("refuses a seq below the window with SeqBelowWindow, and remembers the oldest seq still inside it", () => {
    const top = contract.seqWindow + 10;
    const window = acceptAll([11, top]);

    expect(refusalCode(window, 10)).toBe(ErrorCode.SeqBelowWindow);
    expect(refusalCode(window, 11)).toBe(ErrorCode.SeqReplayed);
    expect(refusalCode(window, 12)).toBe("accepted");
  });

  it("keeps exactly the last seqWindow seqs after a jump", () => {
    const window = acceptAll([3, 4, 3 + contract.seqWindow]);

    expect(refusalCode(window, 4)).toBe(ErrorCode.SeqReplayed);
    expect(refusalCode(window, 3)).toBe(ErrorCode.SeqBelowWindow);
    expect(refusalCode(window, 5)).toBe("accepted");
  });

  it("keeps the byte layout stored in registry_hubs.seq_seen: bit d of byte d >> 3 is seq top − d", () => {
    const window = acceptAll([1, 3, 700, 703]);

    const setBits = [...window.seenBelow.keys()].flatMap((byte) => [0, 1, 2, 3, 4, 5, 6, 7].filter((bit) => window.seenBelow[byte]! & (1 << bit)).map((bit) => byte * 8 + bit));
    // Seen below 703: 700 (d 3), 3 (d 700), 1 (d 702) and 0, the empty window's top (d 703); 2 was never sent.
    expect(setBits).toEqual([3, 700, 702, 703]);
    expect([window.seenBelow[0], window.seenBelow[87]]).toEqual([0b1000, 0b11010000]);
  });

  it("agrees with a set of every seq accepted, over 20,000 seqs sent out of order, replayed and far ahead", () => {
    const random = new SeededRandom(15);
    const draw = (below: number) => {
      const [high, low] = random.bytes(2);
      return ((high! << 8) | low!) % below;
    };
    const accepted = new Set<number>();
    let top = 0;
    let window = emptySeqWindow();
    const outcomes = new Map<string, number>();
    for (let step = 0; step < 20_000; step += 1) {
      const kind = draw(10);
      // Mostly near the top (new, late or replayed), now and then a jump of up to twice the window.
      const seq = kind === 0 ? top + 1 + draw(2 * contract.seqWindow) : Math.max(0, top + 3 - draw(contract.seqWindow + 40));
      const expected =
        seq > top ? "accepted" : top - seq >= contract.seqWindow ? ErrorCode.SeqBelowWindow : seq === top || seq === 0 || accepted.has(seq) ? ErrorCode.SeqReplayed : "accepted";
      const result = acceptSeq(window, seq);
      const outcome = result instanceof TapwireError ? result.code : "accepted";
      expect(outcome, `step ${step}: seq ${seq}, top ${top}`).toBe(expected);
      outcomes.set(String(outcome), (outcomes.get(String(outcome)) ?? 0) + 1);
      if (!(result instanceof TapwireError)) {
        window = result;
        accepted.add(seq);
        top = Math.max(top, seq);
      }
    }
    // Every outcome happened often enough to be exercised.
    for (const outcome of ["accepted", String(ErrorCode.SeqReplayed), String(ErrorCode.SeqBelowWindow)]) expect(outcomes.get(outcome)).toBeGreaterThan(100);
  });
});

describe("the settlement gate's window", () => {
  let f: SettlementFixture;
  freshFixtureEachTest((created) => (f = created));

  it("approves a hub's payments that arrive out of order, refuses each replay, and one below the window", async () => {
    // One wallet per payment: a wallet's own counter (ATC) must still rise from one online payment to the next.
    const [first, second, third] = ["w-a", "w-b", "w-c"].map((walletId) => f.hub.paymentRequest(f.enrollWallet(walletId, 1_000), 100));
    const late = f.hub.paymentRequest(f.wallet, 100, { seq: contract.seqWindow + 5 });

    const inOrderOfArrival = [];
    for (const request of [third!, first!, second!]) inOrderOfArrival.push((await f.decisionFor(f.hub, request.bytes)).status);
    const replay = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { seq: first!.body.seq }).bytes);
    await f.decisionFor(f.hub, late.bytes);
    const belowWindow = await f.decisionFor(f.hub, f.hub.paymentRequest(f.wallet, 100, { seq: 4 }).bytes);

    expect(inOrderOfArrival).toEqual(["approved", "approved", "approved"]);
    expect([replay.code, belowWindow.code]).toEqual([ErrorCode.SeqReplayed, ErrorCode.SeqBelowWindow]);
    expect(f.service.paymentsOf("m1")).toHaveLength(4);
    f.service.ledger.checkInvariants();
  });
});
