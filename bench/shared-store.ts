/**
 * `npm run bench -- --store sqlite|postgres [--workers N]`: the shared store alone, as settlement workers drive it.
 * Each worker commits batches (group commit) of payment-shaped work: lock the hub's window, look for a stored
 * decision, accept the seq, post the payment leg, store the decision. Requests go round-robin to the workers, as a
 * shared subscription hands them out, so a hub's seqs reach different workers out of order. Bounded by a request
 * count and a time limit; ends by proving the books and that every request was settled once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fundingAccountId, merchantAccountId, walletAccountId } from "../broker/ledger/ledger.ts";
import { openSqliteDb } from "../broker/ledger/sqlite-db.ts";
import { serviceSchema } from "../broker/settlement/service-schema.ts";
import type { DataStore, DataTx } from "../broker/store/data-store.ts";
import { PgDataStore } from "../broker/store/pg-data-store.ts";
import { SqliteDataStore } from "../broker/store/sqlite-data-store.ts";
import { systemClock } from "../core/sources.ts";
import { createTestDatabase } from "../test/support/postgres.ts";

interface StoreBenchOptions {
  store: "sqlite" | "postgres";
  workers: number;
  requests: number;
  seconds: number;
  batch: number;
}

const hubs = 64;
const wallets = 512;
const merchants = 8;

function parse(argv: string[]): StoreBenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: { store: { type: "string" }, workers: { type: "string" }, requests: { type: "string" }, seconds: { type: "string" }, batch: { type: "string" } },
  });
  const bounded = (raw: string | undefined, fallback: number, max: number, name: string) => {
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new Error(`--${name} must be an integer 1..${max}`);
    return value;
  };
  if (values.store !== "sqlite" && values.store !== "postgres") throw new Error("--store must be sqlite or postgres");
  // SQLite has one writer in one process: more workers would only queue on the same connection.
  const workers = values.store === "sqlite" ? 1 : bounded(values.workers, 1, 16, "workers");
  return { store: values.store, workers, requests: bounded(values.requests, 20_000, 1_000_000, "requests"), seconds: bounded(values.seconds, 20, 600, "seconds"), batch: bounded(values.batch, 64, 1_000, "batch") };
}

/** Opens `workers` stores on one fresh database; `dispose` closes them and removes the data. */
async function openStores(options: StoreBenchOptions): Promise<{ stores: DataStore[]; enrollHub(hubId: string): void; dispose(): Promise<void> }> {
  if (options.store === "postgres") {
    const database = await createTestDatabase();
    const stores = await Promise.all(Array.from({ length: options.workers }, () => PgDataStore.open({ url: database.url, clock: systemClock })));
    return { stores, enrollHub: () => undefined, dispose: async () => (await Promise.all(stores.map((s) => s.close())), await database.drop()) };
  }
  const dir = mkdtempSync(join(tmpdir(), "tapwire-store-bench-"));
  const db = openSqliteDb({ path: join(dir, "ledger.sqlite"), components: serviceSchema([]), clock: systemClock });
  db.prepare("INSERT INTO registry_merchants (merchant_id, currency, display_name, enrolled_at_ms) VALUES ('m0', 'EUR', 'bench', 0)").run();
  const enrollHub = (hubId: string) =>
    void db.prepare("INSERT INTO registry_hubs (hub_id, merchant_id, public_key_pem, status, certificate_serial, enrolled_at_ms) VALUES (?, 'm0', 'pem', 'active', '01', 0)").run(hubId);
  const store = new SqliteDataStore(db, systemClock);
  return { stores: [store], enrollHub, dispose: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
}

async function settle(tx: DataTx, request: number): Promise<void> {
  const hubId = `h${request % hubs}`;
  const seq = Math.floor(request / hubs) + 1;
  const requestId = `r${request}`;
  await tx.lockHubWindow(hubId);
  if (await tx.findDecision(hubId, requestId)) return;
  await tx.acceptHubSeq(hubId, seq);
  const walletId = `w${request % wallets}`;
  await tx.postLinked([
    { debitAccountId: walletAccountId(walletId), creditAccountId: merchantAccountId(`m${request % merchants}`), amountMinor: 100, currency: "EUR", kind: "payment", reference: `${hubId}/${requestId}` },
  ]);
  await tx.saveDecision({
    hubId,
    principalKind: "hub",
    requestId,
    bodyHash: new Uint8Array(32),
    requestType: "payment_request",
    status: "approved",
    code: 0,
    walletId: undefined,
    decision: Buffer.alloc(180, 1),
    expMs: systemClock.nowMs() + 330_000,
    createdAtMs: systemClock.nowMs(),
  });
}

function retries(stores: readonly DataStore[]): number {
  return stores.reduce((sum, store) => sum + (store instanceof PgDataStore ? store.conflictRetries : 0), 0);
}

export async function storeBenchCommand(argv: string[]): Promise<number> {
  const options = parse(argv);
  const { stores, enrollHub, dispose } = await openStores(options);
  try {
    for (let h = 0; h < hubs; h++) enrollHub(`h${h}`);
    await stores[0]!.transaction(async (tx) => {
      await tx.ensureAccount(fundingAccountId("EUR"), "EUR");
      for (let m = 0; m < merchants; m++) await tx.ensureAccount(merchantAccountId(`m${m}`), "EUR");
      for (let w = 0; w < wallets; w++) {
        await tx.ensureAccount(walletAccountId(`w${w}`), "EUR");
        await tx.postLinked([{ debitAccountId: fundingAccountId("EUR"), creditAccountId: walletAccountId(`w${w}`), amountMinor: 100_000_000, currency: "EUR", kind: "funding", reference: `fund/w${w}` }]);
      }
    });
    const deadlineMs = Date.now() + options.seconds * 1_000;
    let next = 0;
    let settled = 0;
    let batches = 0;
    const startedMs = Date.now();
    await Promise.all(
      stores.map(async (store) => {
        while (next < options.requests && Date.now() < deadlineMs) {
          const batch: number[] = [];
          // Round-robin: this worker takes every workers-th request, as a shared subscription would.
          while (batch.length < options.batch && next < options.requests) batch.push(next++);
          await store.transaction(async (tx) => {
            for (const request of batch) await settle(tx, request);
          });
          settled += batch.length;
          batches += 1;
        }
      }),
    );
    const elapsedMs = Date.now() - startedMs;
    const books = await stores[0]!.checkInvariants();
    const paymentsInBooks = books.transfers - wallets;
    console.log(
      [
        `shared store bench: ${options.store}, ${options.workers} worker(s), batches of ${options.batch}, ${hubs} hubs, ${wallets} wallets, ${merchants} merchants`,
        `| requests settled | seconds | requests/s | batches | conflict retries | books |`,
        `| ---: | ---: | ---: | ---: | ---: | --- |`,
        `| ${settled} | ${(elapsedMs / 1_000).toFixed(1)} | ${Math.round((settled / elapsedMs) * 1_000)} | ${batches} | ${retries(stores)} | ${paymentsInBooks === settled ? "each once" : `MISMATCH ${paymentsInBooks}`}, sum ${JSON.stringify(books.balanceSumMinorByCurrency)} |`,
      ].join("\n"),
    );
    return paymentsInBooks === settled ? 0 : 1;
  } finally {
    await dispose();
  }
}
