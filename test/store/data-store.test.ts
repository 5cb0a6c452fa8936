import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fundingAccountId, merchantAccountId, walletAccountId, type TransferInput } from "../../broker/ledger/ledger.ts";
import type { DataStore, DataTx } from "../../broker/store/data-store.ts";
import type { StoredDecision } from "../../broker/settlement/decision-store.ts";
import { contract } from "../../protocol/contract.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { engines, type EngineUnderTest } from "./engines.ts";

/** The code a transaction failed with, or "committed". */
async function outcome(store: DataStore, work: (tx: DataTx) => Promise<unknown>): Promise<number | "committed"> {
  try {
    await store.transaction(work);
    return "committed";
  } catch (error) {
    if (isTapwireError(error)) return error.code;
    throw error;
  }
}

const pay = (walletId: string, merchantId: string, amountMinor: number, reference: string): TransferInput => ({
  debitAccountId: walletAccountId(walletId),
  creditAccountId: merchantAccountId(merchantId),
  amountMinor,
  currency: "EUR",
  kind: "payment",
  reference,
});

const fund = (walletId: string, amountMinor: number): TransferInput => ({
  debitAccountId: fundingAccountId("EUR"),
  creditAccountId: walletAccountId(walletId),
  amountMinor,
  currency: "EUR",
  kind: "funding",
  reference: `fund/${walletId}`,
});

async function openWallet(store: DataStore, walletId: string, amountMinor: number): Promise<void> {
  await store.transaction(async (tx) => {
    for (const id of [fundingAccountId("EUR"), walletAccountId(walletId), merchantAccountId("m1")]) await tx.ensureAccount(id, "EUR");
    await tx.postLinked([fund(walletId, amountMinor)]);
  });
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
  expMs: 1_700_000_360_000,
  createdAtMs: 1_700_000_000_000,
});

describe.each(Object.keys(engines) as Array<keyof typeof engines>)("the shared store on %s", (engine) => {
  let e: EngineUnderTest;
  beforeEach(async () => {
    e = await engines[engine]();
  });
  afterEach(async () => {
    await e.dispose();
  });

  describe("ledger", () => {
    it("posts a payment, and the books prove: balances per account and a sum of zero", async () => {
      await openWallet(e.store, "w1", 1_000);

      const [transfer] = await e.store.transaction((tx) => tx.postLinked([pay("w1", "m1", 250, "h1/r1")]));
      const balances = await e.store.transaction(async (tx) => [(await tx.findAccount(walletAccountId("w1")))?.balanceMinor, (await tx.findAccount(merchantAccountId("m1")))?.balanceMinor]);

      expect(transfer).toMatchObject({ amountMinor: 250, postedAtMs: 1_700_000_000_000 });
      expect(balances).toEqual([750, 250]);
      expect(await e.store.checkInvariants()).toEqual({ accounts: 3, transfers: 2, balanceSumMinorByCurrency: { EUR: 0 } });
    });

    it("refuses overdraft, missing accounts, another currency and bad amounts with their codes, and moves nothing", async () => {
      await openWallet(e.store, "w1", 100);
      await e.store.transaction((tx) => tx.ensureAccount("wallet:w-usd", "USD"));

      const codes = [
        await outcome(e.store, (tx) => tx.postLinked([pay("w1", "m1", 101, "h1/r1")])),
        await outcome(e.store, (tx) => tx.postLinked([pay("w-nobody", "m1", 1, "h1/r2")])),
        await outcome(e.store, (tx) => tx.postLinked([{ ...pay("w1", "m1", 1, "h1/r3"), creditAccountId: "wallet:w-usd" }])),
        await outcome(e.store, (tx) => tx.postLinked([pay("w1", "m1", 0, "h1/r4")])),
        await outcome(e.store, (tx) => tx.postLinked([pay("w1", "m1", 1.5, "h1/r5")])),
        await outcome(e.store, (tx) => tx.ensureAccount(walletAccountId("w1"), "USD")),
      ];

      expect(codes).toEqual([
        ErrorCode.InsufficientFunds,
        ErrorCode.LedgerAccountMissing,
        ErrorCode.CurrencyMismatch,
        ErrorCode.AmountNotPositive,
        ErrorCode.InvalidMoney,
        ErrorCode.CurrencyMismatch,
      ]);
      expect(await e.store.checkInvariants()).toMatchObject({ transfers: 1, balanceSumMinorByCurrency: { EUR: 0, USD: 0 } });
    });

    it("posts linked legs all or none: a refused second leg undoes the first, and the transaction goes on", async () => {
      await openWallet(e.store, "w1", 100);

      const result = await e.store.transaction(async (tx) => {
        const refused = await tx.postLinked([pay("w1", "m1", 60, "h1/r1"), pay("w1", "m1", 60, "h1/r1")]).catch((error: unknown) => error);
        const after = await tx.postLinked([pay("w1", "m1", 30, "h1/r2")]);
        return { refused, after };
      });

      expect(isTapwireError(result.refused, ErrorCode.InsufficientFunds)).toBe(true);
      expect(result.after).toHaveLength(1);
      expect(await e.store.transaction(async (tx) => (await tx.findAccount(walletAccountId("w1")))?.balanceMinor)).toBe(70);
      expect(await e.store.checkInvariants()).toMatchObject({ transfers: 2 });
    });

    it("never overdraws a wallet that two workers charge at once", async () => {
      await openWallet(e.store, "w1", 1_000);
      const second = await e.secondWorker();

      const charges = Array.from({ length: 30 }, (_, i) => outcome(i % 2 ? second : e.store, (tx) => tx.postLinked([pay("w1", "m1", 100, `h1/r${i}`)])));
      const results = await Promise.all(charges);

      expect(results.filter((r) => r === "committed")).toHaveLength(10);
      expect(results.filter((r) => r !== "committed")).toEqual(Array(20).fill(ErrorCode.InsufficientFunds));
      expect(await e.store.checkInvariants()).toMatchObject({ transfers: 11, balanceSumMinorByCurrency: { EUR: 0 } });
    });
  });

  describe("idempotency records", () => {
    it("returns the stored decision to a retry, and the unique key refuses a second one, keeping the first", async () => {
      await e.store.transaction((tx) => tx.saveDecision(decision("r1", "approved")));

      const duplicate = await e.store.transaction((tx) => tx.saveDecision(decision("r1", "declined"))).then(
        () => "saved",
        () => "refused",
      );
      const stored = await e.store.transaction((tx) => tx.findDecision("h1", "r1"));

      expect(duplicate).toBe("refused");
      expect(stored).toEqual(decision("r1", "approved"));
      expect(await e.store.transaction((tx) => tx.findDecision("h1", "r2"))).toBeUndefined();
    });

    it("rolls back a transaction's decision with its postings", async () => {
      await openWallet(e.store, "w1", 100);

      const code = await outcome(e.store, async (tx) => {
        await tx.postLinked([pay("w1", "m1", 50, "h1/r1")]);
        await tx.saveDecision(decision("r1", "approved"));
        await tx.postLinked([pay("w1", "m1", 80, "h1/r1b")]);
      });

      expect(code).toBe(ErrorCode.InsufficientFunds);
      expect(await e.store.transaction((tx) => tx.findDecision("h1", "r1"))).toBeUndefined();
      expect(await e.store.checkInvariants()).toMatchObject({ transfers: 1 });
    });
  });

  describe("a hub's anti-replay window", () => {
    beforeEach(async () => {
      await e.addHub("h1");
    });

    it("accepts reordered seqs once each, refuses a replay (SeqReplayed) and a seq below the window (SeqBelowWindow)", async () => {
      const accept = (seq: number) => outcome(e.store, (tx) => tx.acceptHubSeq("h1", seq));

      const reordered = [await accept(3), await accept(1), await accept(2)];
      const replayed = await accept(2);
      await accept(contract.seqWindow + 4);
      const below = await accept(4);

      expect(reordered).toEqual(["committed", "committed", "committed"]);
      expect([replayed, below]).toEqual([ErrorCode.SeqReplayed, ErrorCode.SeqBelowWindow]);
      expect(await accept(5)).toBe("committed");
    });

    it("forgets a seq accepted in a transaction that rolled back", async () => {
      await outcome(e.store, async (tx) => {
        await tx.acceptHubSeq("h1", 1);
        await tx.postLinked([pay("w-nobody", "m1", 1, "h1/r1")]);
      });

      expect(await outcome(e.store, (tx) => tx.acceptHubSeq("h1", 1))).toBe("committed");
    });

    it("accepts each seq exactly once when two workers take the same hub's requests, duplicates included", async () => {
      const second = await e.secondWorker();
      const seqs = [1, 2, 3, 4, 5, 6, 7, 8];

      const results = await Promise.all(
        [...seqs, ...seqs.reverse()].map((seq, i) =>
          outcome(i % 2 ? second : e.store, async (tx) => {
            await tx.lockHubWindow("h1");
            await tx.acceptHubSeq("h1", seq);
          }),
        ),
      );

      expect(results.filter((r) => r === "committed")).toHaveLength(8);
      expect(results.filter((r) => r !== "committed")).toEqual(Array(8).fill(ErrorCode.SeqReplayed));
    });
  });

  describe("mandate budgets and consumed closed mandates", () => {
    it("spends a budget with a guarded statement: never past it, even from two workers at once", async () => {
      await e.addBudget("mandate-1", 500);
      const second = await e.secondWorker();

      const spends = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? second : e.store).transaction((tx) => tx.spendBudget("mandate-1", 100))));

      expect(spends.filter(Boolean)).toHaveLength(5);
      expect(await e.store.transaction((tx) => tx.spendBudget("mandate-1", 1))).toBe(false);
      expect(await e.store.transaction((tx) => tx.spendBudget("mandate-unknown", 1))).toBe(false);
    });

    it("consumes a closed mandate once, whichever worker sees it first", async () => {
      const second = await e.secondWorker();
      const hash = new Uint8Array(32).fill(9);
      const consumer = { agentId: "a1", requestId: "r1", mandateId: "mandate-1" };

      const results = await Promise.all([e.store, second, e.store, second].map((s) => s.transaction((tx) => tx.consumeClosedMandate(hash, consumer, 1))));

      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
});
