/**
 * WAL frames a settlement commit writes, by the b-tree each page belongs to (not a test, not CI):
 *   npx tsx bench/count-wal-pages.ts [hubs] [rounds]
 * `hubs` hubs, each with a wallet of its own, pay one after the other, `rounds` times, in-process (as
 * bench/count-statements.ts); each payment is a batch of one, as at a quiet counter. After each one the frames its
 * commit appended to `-wal` are read back and their page numbers named through SQLite's dbstat table. Every page a
 * commit changes is one frame: a page and its 24-byte header, two write calls, and its share of the checkpoint that
 * copies it into the database file later. So each table or index a payment inserts into costs about one frame, and
 * the frames per payment fall as a batch's payments share pages (an append-only table's last page, a hub's row).
 * The service checkpoints at commit here (no checkpoint thread), so a commit that restarted the WAL is skipped.
 */
import Database from "better-sqlite3";
import { readFileSync } from "node:fs";
import { SettlementFixture } from "../test/settlement/fixtures.ts";
import { frameHeaderBytes, walHeaderBytes, walPageBytes } from "../test/support/sqlite-wal.ts";

const hubCount = Number(process.argv[2] ?? 32);
const rounds = Number(process.argv[3] ?? 10);
/** Payments per hub before counting: the tables grow past their first pages, as in a running service. */
const warmRounds = 30;

interface WalFrames {
  bytes: Buffer;
  pageSize: number;
  /** The WAL header's first salt: it changes when a checkpoint restarts the WAL. */
  salt: number;
  /** Frames from the start that carry this WAL's salts: the ones written since the WAL (re)started. */
  count: number;
}

function readWal(path: string): WalFrames {
  const bytes = readFileSync(path);
  const pageSize = walPageBytes(bytes);
  const [salt1, salt2] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
  let count = 0;
  for (let at = walHeaderBytes; at + frameHeaderBytes + pageSize <= bytes.length; at += frameHeaderBytes + pageSize) {
    if (bytes.readUInt32BE(at + 8) !== salt1 || bytes.readUInt32BE(at + 12) !== salt2) break;
    count += 1;
  }
  return { bytes, pageSize, salt: salt1, count };
}

const f = await SettlementFixture.create({ service: { checkpointThread: false } });
const reader = new Database(f.databasePath, { readonly: true });
try {
  const hubs = Array.from({ length: hubCount }, (_, index) => f.enrollHub(`hub${index}`, "m1"));
  const wallets = Array.from({ length: hubCount }, (_, index) => f.enrollWallet(`wallet${index}`, 1_000_000_000));
  const pay = (index: number) => f.fromHub(hubs[index]!, hubs[index]!.paymentRequest(wallets[index]!, 1).bytes);
  for (let round = 0; round < warmRounds; round += 1) for (let index = 0; index < hubCount; index += 1) await pay(index);

  const framesByTree = new Map<string, number>();
  let commits = 0;
  let frames = 0;
  for (let round = 0; round < rounds; round += 1) {
    for (let index = 0; index < hubCount; index += 1) {
      const before = readWal(`${f.databasePath}-wal`);
      await pay(index);
      const after = readWal(`${f.databasePath}-wal`);
      if (after.salt !== before.salt || after.count <= before.count) continue;
      const trees = new Map(reader.prepare<[], { name: string; pageno: number }>("SELECT name, pageno FROM dbstat").all().map((row) => [row.pageno, row.name]));
      commits += 1;
      for (let frame = before.count; frame < after.count; frame += 1) {
        const page = after.bytes.readUInt32BE(walHeaderBytes + frame * (frameHeaderBytes + after.pageSize));
        const tree = trees.get(page) ?? "(a page no table holds now)";
        framesByTree.set(tree, (framesByTree.get(tree) ?? 0) + 1);
        frames += 1;
      }
    }
  }
  console.log(`${commits} one-payment commits counted of ${rounds * hubCount}; ${(frames / commits).toFixed(1)} frames each`);
  for (const [tree, count] of [...framesByTree].sort((a, b) => b[1] - a[1])) console.log(`${(count / commits).toFixed(2).padStart(6)}  ${tree}`);
} finally {
  reader.close();
  await f.close();
}
