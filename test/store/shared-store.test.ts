import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fundingAccountId, merchantAccountId, walletAccountId, type TransferInput } from "../../broker/ledger/ledger.ts";
import type { StoredDecision } from "../../broker/settlement/decision-store.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import { engineNames, openEngine, type EngineUnderTest } from "./engines.ts";
import { acceptSeq, outcome, runJob, testClockStartMs, type Job, type Outcome, type SettlementStores } from "./store-jobs.ts";
import { atOnce } from "./store-workers.ts";

const pay = (walletId: string, merchantId: string, amountMinor: number, reference: string): TransferInput => ({
  debitAccountId: walletAccountId(walletId),
  creditAccountId: merchantAccountId(merchantId),
  amountMinor,
  currency: "EUR",
  kind: "payment",
  reference,
});

/** A wallet account funded with `amountMinor`, and merchant m1's account, straight on the ledger. */
function openWallet({ db, ledger }: SettlementStores, walletId: string, amountMinor: number): void {
  db.transaction(() => {
    for (const id of [fundingAccountId("EUR"), walletAccountId(walletId), merchantAccountId("m1")]) ledger.ensureAccount(id, "EUR");
    ledger.postLinked([{ debitAccountId: fundingAccountId("EUR"), creditAccountId: walletAccountId(walletId), amountMinor, currency: "EUR", kind: "funding", reference: `fund/${walletId}` }]);
  }).immediate();
}

function enrollHub({ registry }: SettlementStores, hubId: string): void {
  registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
  registry.enrollHub({ hubId, merchantId: "m1", publicKeyPem: publicKeyPem(generateP256().publicKey), certificateSerial: `serial-${hubId}` });
}

function addMandate({ db, registry, mandates }: SettlementStores, mandateId: string, budgetMinor: number): void {
  registry.enrollWallet({ walletId: "w1", publicKeyPem: publicKeyPem(generateP256().publicKey), currency: "EUR", perPaymentMaxMinor: budgetMinor });
  const terms = { type: "open_mandate", v: protocolVersion, mandateId, walletId: "w1", agentId: "a1", agentKey: new Uint8Array(91).fill(4) } as const;
  const limits = { perPaymentMaxMinor: budgetMinor, budgetMinor, currency: "EUR", allowedCategories: ["groceries"], notBefore: 0, expiresAt: testClockStartMs + 3_600_000, iat: 0 };
  db.transaction(() => mandates.insertMandate({ ...terms, ...limits }, new Uint8Array([0xd2]), new Uint8Array(32).fill(1), testClockStartMs)).immediate();
}

const decision = (requestId: string, status: "approved" | "declined"): StoredDecision => ({
  hubId: "h1",
  principalKind: "hub",
  requestId,
  bodyHash: new Uint8Array(32).fill(7),
  requestType: "payment_request",
  status,
  code: status === "approved" ? 0 : ErrorCode.InsufficientFunds,
  walletId: undefined,
  decision: Buffer.from([0xd2, 0x84, 1, 2, 3]),
  expMs: testClockStartMs + 360_000,
  createdAtMs: testClockStartMs,
});

const count = (outcomes: Outcome[][], wanted: Outcome) => outcomes.flat().filter((o) => o === wanted).length;

describe.each(engineNames)("the settlement stores on %s", (engine) => {
  let e: EngineUnderTest;
  /** `first` on this thread, `second` in a worker thread with a connection of its own, both at once. */
  const twoWorkers = (first: Job, second: Job) => atOnce(e.location, [{ kind: "job", job: second }], () => runJob(e.stores, first, testClockStartMs));

  beforeEach(async () => {
    e = await openEngine(engine);
  });
  afterEach(async () => {
    await e.dispose();
  });

  describe("ledger", () => {
    it("posts a payment, and the books prove: balances per account and a sum of zero", () => {
      const { db, ledger } = e.stores;
      openWallet(e.stores, "w1", 1_000);

      const [transfer] = db.transaction(() => ledger.postLinked([pay("w1", "m1", 250, "h1/r1")])).immediate();

      expect(transfer).toMatchObject({ amountMinor: 250, postedAtMs: testClockStartMs });
      expect([ledger.balanceOf(walletAccountId("w1")), ledger.balanceOf(merchantAccountId("m1"))]).toEqual([750, 250]);
      expect(ledger.checkInvariants()).toEqual({ accounts: 3, transfers: 2, balanceSumMinorByCurrency: { EUR: 0 } });
    });

    it("refuses overdraft, missing accounts, another currency and bad amounts with their codes, and moves nothing", () => {
      const { db, ledger } = e.stores;
      openWallet(e.stores, "w1", 100);
      outcome(db, () => void ledger.ensureAccount("wallet:w-usd", "USD"));
      const post = (input: TransferInput) => outcome(db, () => void ledger.postLinked([input]));

      const codes = [
        post(pay("w1", "m1", 101, "h1/r1")),
        post(pay("w-nobody", "m1", 1, "h1/r2")),
        post({ ...pay("w1", "m1", 1, "h1/r3"), creditAccountId: "wallet:w-usd" }),
        post(pay("w1", "m1", 0, "h1/r4")),
        post(pay("w1", "m1", 1.5, "h1/r5")),
        outcome(db, () => void ledger.ensureAccount(walletAccountId("w1"), "USD")),
      ];

      expect(codes).toEqual([
        ErrorCode.InsufficientFunds,
        ErrorCode.LedgerAccountMissing,
        ErrorCode.CurrencyMismatch,
        ErrorCode.AmountNotPositive,
        ErrorCode.InvalidMoney,
        ErrorCode.CurrencyMismatch,
      ]);
      expect(ledger.checkInvariants()).toMatchObject({ transfers: 1, balanceSumMinorByCurrency: { EUR: 0, USD: 0 } });
    });

    it("posts linked legs all or none: a refused second leg undoes the first, and the transaction goes on", () => {
      const { db, ledger } = e.stores;
      openWallet(e.stores, "w1", 100);

      const result = db
        .transaction(() => {
          let refused: unknown;
          try {
            ledger.postLinked([pay("w1", "m1", 60, "h1/r1"), pay("w1", "m1", 60, "h1/r1")]);
          } catch (error) {
            refused = error;
          }
          return { refused, after: ledger.postLinked([pay("w1", "m1", 30, "h1/r2")]) };
        })
        .immediate();

      expect(isTapwireError(result.refused, ErrorCode.InsufficientFunds)).toBe(true);
      expect(result.after).toHaveLength(1);
      expect(ledger.balanceOf(walletAccountId("w1"))).toBe(70);
      expect(ledger.checkInvariants()).toMatchObject({ transfers: 2 });
    });

    it("never overdraws a wallet that two workers charge at once: 1000 charged 100 thirty times", async () => {
      openWallet(e.stores, "w1", 1_000);
      const charges = (parity: number): Job => ({
        kind: "charge",
        walletId: "w1",
        merchantId: "m1",
        amountMinor: 100,
        references: Array.from({ length: 15 }, (_, i) => `h1/r${2 * i + parity}`),
      });

      const outcomes = await twoWorkers(charges(0), charges(1));

      expect(count(outcomes, "committed")).toBe(10);
      expect(count(outcomes, ErrorCode.InsufficientFunds)).toBe(20);
      expect(e.stores.ledger.checkInvariants()).toMatchObject({ transfers: 11, balanceSumMinorByCurrency: { EUR: 0 } });
      expect(e.stores.ledger.balanceOf(walletAccountId("w1"))).toBe(0);
    });
  });

  describe("idempotency records (DecisionStore)", () => {
    it("returns the stored decision to a retry, and the unique key refuses a second one, keeping the first", () => {
      const { db, decisions } = e.stores;
      db.transaction(() => decisions.saveDecision(decision("r1", "approved"))).immediate();

      const duplicate = (() => {
        try {
          db.transaction(() => decisions.saveDecision(decision("r1", "declined"))).immediate();
          return "saved";
        } catch (error) {
          // A constraint, not a business refusal: the service reads the stored decision before it saves one.
          return isTapwireError(error) ? error.code : (error as { code?: string }).code;
        }
      })();

      // SQLite keeps decisions in a rowid table with a unique (hub_id, request_id) key (settlement migration 5).
      expect(duplicate).toBe(engine === "sqlite" ? "SQLITE_CONSTRAINT_UNIQUE" : "23505");
      expect(decisions.findDecision("h1", "r1")).toEqual(decision("r1", "approved"));
      expect(decisions.findDecision("h1", "r2")).toBeUndefined();
    });

    it("rolls back a transaction's decision with its postings", () => {
      const { db, ledger, decisions } = e.stores;
      openWallet(e.stores, "w1", 100);

      const code = outcome(db, () => {
        ledger.postLinked([pay("w1", "m1", 50, "h1/r1")]);
        decisions.saveDecision(decision("r1", "approved"));
        ledger.postLinked([pay("w1", "m1", 80, "h1/r1b")]);
      });

      expect(code).toBe(ErrorCode.InsufficientFunds);
      expect(decisions.findDecision("h1", "r1")).toBeUndefined();
      expect(ledger.checkInvariants()).toMatchObject({ transfers: 1 });
    });
  });

  describe("a hub's anti-replay window (Registry.advanceHubSeq)", () => {
    beforeEach(() => {
      enrollHub(e.stores, "h1");
    });

    it("accepts reordered seqs once each, refuses a replay (SeqReplayed) and a seq below the window (SeqBelowWindow)", () => {
      const accept = (seq: number) => outcome(e.stores.db, () => acceptSeq(e.stores, "h1", seq));

      const reordered = [accept(3), accept(1), accept(2)];
      const replayed = accept(2);
      accept(contract.seqWindow + 4);
      const below = accept(4);

      expect(reordered).toEqual(["committed", "committed", "committed"]);
      expect([replayed, below]).toEqual([ErrorCode.SeqReplayed, ErrorCode.SeqBelowWindow]);
      expect(accept(5)).toBe("committed");
    });

    it("forgets a seq accepted in a transaction that rolled back", () => {
      const { db, ledger } = e.stores;

      const code = outcome(db, () => {
        acceptSeq(e.stores, "h1", 1);
        ledger.postLinked([pay("w-nobody", "m1", 1, "h1/r1")]);
      });

      expect(code).toBe(ErrorCode.LedgerAccountMissing);
      expect(outcome(db, () => acceptSeq(e.stores, "h1", 1))).toBe("committed");
    });

    it("accepts each seq exactly once when two workers take the same seqs in different orders", async () => {
      const seqs = Array.from({ length: 12 }, (_, i) => i + 1);
      const orders = [seqs, [...seqs].reverse()];

      const outcomes = await twoWorkers({ kind: "accept-seqs", hubId: "h1", seqs: orders[0]! }, { kind: "accept-seqs", hubId: "h1", seqs: orders[1]! });

      const acceptances = seqs.map((seq) => orders.filter((order, worker) => outcomes[worker]![order.indexOf(seq)] === "committed").length);
      expect(acceptances).toEqual(seqs.map(() => 1));
      expect(count(outcomes, ErrorCode.SeqReplayed)).toBe(seqs.length);
      expect(e.stores.registry.getHub("h1").lastSeq).toBe(seqs.length);
    });
  });

  describe("mandate budgets and consumed closed mandates (MandateStore)", () => {
    it("spends a budget with a guarded statement: never past it, even from two workers at once", async () => {
      addMandate(e.stores, "mandate-1", 500);
      const spends: Job = { kind: "spend", mandateId: "mandate-1", amountMinor: 100, times: 6 };

      const outcomes = await twoWorkers(spends, spends);

      expect([count(outcomes, "committed"), count(outcomes, "unchanged")]).toEqual([5, 7]);
      expect(e.stores.mandates.findMandate("mandate-1")?.spentMinor).toBe(500);
      expect(outcome(e.stores.db, () => e.stores.mandates.spend("mandate-1", 1))).toBe("unchanged");
      expect(outcome(e.stores.db, () => e.stores.mandates.spend("mandate-unknown", 1))).toBe("unchanged");
    });

    it("consumes a closed mandate once, whichever worker sees it first", async () => {
      const consume: Job = { kind: "consume-closed", closedHash: new Uint8Array(32).fill(9), agentId: "a1", requestId: "r1", mandateId: "mandate-1", times: 3 };

      const outcomes = await twoWorkers(consume, consume);

      expect([count(outcomes, "committed"), count(outcomes, "unchanged")]).toEqual([1, 5]);
      expect(e.stores.mandates.isClosedConsumed(new Uint8Array(32).fill(9))).toBe(true);
    });
  });
});
