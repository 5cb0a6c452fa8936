import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.ts";
import { VirtualClock } from "../../core/sources.ts";
import { HubJournal, type JournalLimits } from "../../device/journal/hub-journal.ts";
import { capture, codeOf, decided, envelopeBytes, newSale, seal } from "./journal-fixtures.ts";

const opened: HubJournal[] = [];
afterEach(() => opened.splice(0).forEach((journal) => journal.close()));

function journalAt(limits?: Partial<JournalLimits>) {
  const clock = new VirtualClock();
  const journal = HubJournal.open({ path: ":memory:", clock, ...(limits ? { limits } : {}) });
  opened.push(journal);
  return { clock, journal };
}

describe("hub journal: a request and its seq in one transaction", () => {
  it("takes the next seq and stores the envelope built with it", () => {
    const { clock, journal } = journalAt();
    const first = seal(journal, clock, "payment", "r1", "s1");
    const second = seal(journal, clock, "payment", "r2", "s2");

    expect([first.seq, second.seq, journal.lastSeq]).toEqual([1, 2, 2]);
    expect(journal.findRequest("r2")).toMatchObject({ kind: "payment", state: "open", seq: 2, payload: envelopeBytes("r2", 2) });
    expect(journal.sale("s2")).toMatchObject({ outcome: "pending", paymentRequestId: "r2", amountMinor: 1_000 });
  });

  it("a build that throws (the signer failed) leaves neither the seq, the sale nor the request", () => {
    const { clock, journal } = journalAt();
    seal(journal, clock, "payment", "r1", "s1");

    expect(() =>
      journal.seal({ kind: "payment", saleId: "s2", requestId: "r2", sale: newSale("s2") }, () => {
        throw new Error("secure element unplugged");
      }),
    ).toThrow("secure element unplugged");

    expect(journal.lastSeq).toBe(1);
    expect(journal.findRequest("r2")).toBeUndefined();
    expect(journal.sale("s2")).toBeUndefined();
    expect(seal(journal, clock, "payment", "r3", "s3").seq).toBe(2);
  });

  it("a tag offer takes no seq", () => {
    const { clock, journal } = journalAt();
    const offer = seal(journal, clock, "offer", "o1", "s1");

    expect(offer.seq).toBeUndefined();
    expect(journal.lastSeq).toBe(0);
  });

  it("lists open requests in seq order, seq-less ones (offers, captures) last in the order they came", () => {
    const { clock, journal } = journalAt();
    journal.storeCapture(newSale("s-off"), "c1", capture(clock));
    seal(journal, clock, "offer", "o1", "s-tag");
    seal(journal, clock, "payment", "r1", "s1");
    seal(journal, clock, "payment", "r2", "s2");
    seal(journal, clock, "reversal", "v1", "s1", { targetRequestId: "r1", supersedes: "r1" });
    journal.recordDecision("r2", decided("approved"), { outcome: "approved", code: 0 });

    expect(journal.openRequests().map((r) => r.requestId)).toEqual(["v1", "c1", "o1"]);
  });
});

describe("hub journal: decisions and supersession", () => {
  it("records a decision and its sale's outcome together", () => {
    const { clock, journal } = journalAt();
    seal(journal, clock, "payment", "r1", "s1");
    journal.recordDecision("r1", decided("declined", ErrorCode.InsufficientFunds), { outcome: "declined", code: ErrorCode.InsufficientFunds });

    expect(journal.findRequest("r1")).toMatchObject({ state: "decided", status: "declined", code: ErrorCode.InsufficientFunds });
    expect(journal.sale("s1")).toMatchObject({ outcome: "declined", code: ErrorCode.InsufficientFunds });
    expect(journal.sale("s1")!.resolvedAtMs).toBe(clock.nowMs());
  });

  it("a decision whose sale outcome cannot be written is not recorded either", () => {
    const { clock, journal } = journalAt();
    seal(journal, clock, "payment", "r1", "s1");

    expect(() => journal.recordDecision("r1", decided("approved"), { outcome: "pending", code: 0 })).toThrow();

    expect(journal.findRequest("r1")).toMatchObject({ state: "open", status: undefined });
    expect(journal.sale("s1")!.outcome).toBe("pending");
  });

  it("a reversal supersedes its payment in the same transaction; a failed reversal leaves the payment open", () => {
    const { clock, journal } = journalAt();
    seal(journal, clock, "payment", "r1", "s1");
    expect(() =>
      journal.seal({ kind: "reversal", saleId: "s1", requestId: "v0", targetRequestId: "r1", supersedes: "r1" }, () => {
        throw new Error("signer failed");
      }),
    ).toThrow();
    expect(journal.findRequest("r1")!.state).toBe("open");

    seal(journal, clock, "reversal", "v1", "s1", { targetRequestId: "r1", supersedes: "r1" });

    expect(journal.findRequest("r1")!.state).toBe("superseded");
    expect(journal.findRequest("v1")).toMatchObject({ state: "open", targetRequestId: "r1", seq: 2 });
    expect(journal.sale("s1")!.outcome).toBe("pending");
    expect(journal.requestsOf("s1").map((r) => r.requestId)).toEqual(["r1", "v1"]);
  });

  it("a second decision for a decided request changes nothing", () => {
    const { clock, journal } = journalAt();
    seal(journal, clock, "payment", "r1", "s1");
    journal.recordDecision("r1", decided("approved"), { outcome: "approved", code: 0 });
    journal.recordDecision("r1", decided("declined", ErrorCode.SeqReplayed));

    expect(journal.findRequest("r1")).toMatchObject({ status: "approved", code: 0 });
  });
});

describe("hub journal: bounds", () => {
  it("refuses a new payment with JournalFull once openRequestsMax wait, but never a reversal or status query", () => {
    const { clock, journal } = journalAt({ openRequestsMax: 2 });
    seal(journal, clock, "payment", "r1", "s1");
    seal(journal, clock, "offer", "o2", "s2");

    expect(codeOf(() => seal(journal, clock, "payment", "r3", "s3"))).toBe(ErrorCode.JournalFull);
    expect(journal.sale("s3")).toBeUndefined();
    expect(journal.lastSeq).toBe(1);
    seal(journal, clock, "reversal", "v1", "s1", { targetRequestId: "r1" });
    seal(journal, clock, "reversal", "v2", "s1", { targetRequestId: "r1" });
    seal(journal, clock, "status", "q2", "s2", { targetRequestId: "o2", supersedes: "o2" });
    expect(journal.openRequests()).toHaveLength(4);
  });

  it("counts no offline capture against openRequestsMax (its floor limits bound it)", () => {
    const { clock, journal } = journalAt({ openRequestsMax: 1 });
    journal.storeCapture(newSale("s1"), "c1", capture(clock));
    journal.storeCapture(newSale("s2"), "c2", capture(clock, 2, 2_000));

    expect(seal(journal, clock, "payment", "r1", "s3").seq).toBe(1);
  });

  it("refuses new sales with JournalFull past bytesMax, but still journals a reversal", () => {
    const { clock, journal } = journalAt({ bytesMax: 1_000 });
    seal(journal, clock, "payment", "r1", "s1", { sizeBytes: 600 });
    seal(journal, clock, "payment", "r2", "s2", { sizeBytes: 600 });

    expect(codeOf(() => seal(journal, clock, "payment", "r3", "s3"))).toBe(ErrorCode.JournalFull);
    expect(codeOf(() => journal.storeCapture(newSale("s4"), "c4", capture(clock)))).toBe(ErrorCode.JournalFull);
    expect(codeOf(() => seal(journal, clock, "reversal", "v1", "s1", { targetRequestId: "r1", supersedes: "r1" }))).toBeUndefined();
    expect(journal.findRequest("v1")!.state).toBe("open");
  });
});

describe("hub journal: pruning", () => {
  const dayMs = 24 * 3_600_000;

  function resolvedSale(journal: HubJournal, clock: VirtualClock, index: number): void {
    seal(journal, clock, "payment", `r${index}`, `s${index}`, { sizeBytes: 40 });
    journal.recordDecision(`r${index}`, decided("approved"), { outcome: "approved", code: 0 });
  }

  it("drops resolved sales past retentionMs with their requests, and keeps what is not settled", () => {
    const { clock, journal } = journalAt({ retentionMs: dayMs });
    resolvedSale(journal, clock, 1);
    seal(journal, clock, "payment", "r2", "s2");
    journal.storeCapture(newSale("s3"), "c3", capture(clock));
    seal(journal, clock, "payment", "r4", "s4");
    seal(journal, clock, "reversal", "v4", "s4", { targetRequestId: "r4", supersedes: "r4" });
    clock.advance(dayMs + 1);
    resolvedSale(journal, clock, 5);

    expect(journal.prune()).toBe(1);

    expect(journal.sale("s1")).toBeUndefined();
    expect(journal.findRequest("r1")).toBeUndefined();
    expect(["s2", "s3", "s4", "s5"].map((id) => journal.sale(id)?.outcome)).toEqual(["pending", "approved_offline", "pending", "approved"]);
    expect(journal.openRequests().map((r) => r.requestId)).toEqual(["r2", "v4", "c3"]);
  });

  it("keeps at most salesMax sales, dropping the oldest resolved ones first", () => {
    const { clock, journal } = journalAt({ salesMax: 3 });
    seal(journal, clock, "payment", "r0", "s0");
    for (let index = 1; index <= 4; index++) {
      clock.advance(1_000);
      resolvedSale(journal, clock, index);
    }

    expect(journal.prune()).toBe(2);

    expect(["s0", "s1", "s2", "s3", "s4"].map((id) => journal.sale(id) !== undefined)).toEqual([true, false, false, true, true]);
    expect(journal.lastSale()!.saleId).toBe("s4");
  });

  it("prunes at most 500 sales per call", () => {
    const { clock, journal } = journalAt({ retentionMs: dayMs });
    for (let index = 1; index <= 620; index++) resolvedSale(journal, clock, index);
    clock.advance(dayMs + 1);

    expect([journal.prune(), journal.prune(), journal.prune()]).toEqual([500, 120, 0]);
  });
});

describe("hub journal: offline backlog", () => {
  it("sums the captures the service has not settled", () => {
    const { clock, journal } = journalAt();
    expect(journal.offlineBacklog()).toEqual({ count: 0, totalMinor: 0, oldestCapturedAtMs: undefined });
    const firstAtMs = clock.nowMs();
    journal.storeCapture(newSale("s1", 1_200), "c1", capture(clock));
    clock.advance(60_000);
    journal.storeCapture(newSale("s2", 800), "c2", capture(clock, 2, 2_000));

    expect(journal.offlineBacklog()).toEqual({ count: 2, totalMinor: 2_000, oldestCapturedAtMs: firstAtMs });
    expect(journal.sale("s1")!.outcome).toBe("approved_offline");
    journal.recordDecision("c1", decided("approved"), { outcome: "approved_offline", code: 0 });
    expect(journal.offlineBacklog()).toEqual({ count: 1, totalMinor: 800, oldestCapturedAtMs: firstAtMs + 60_000 });
  });
});
