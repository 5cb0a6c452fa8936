import { describe, expect, it } from "vitest";
import { acceptSeq, emptySeqWindow, type SeqWindow } from "../../broker/registry/seq-window.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
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
