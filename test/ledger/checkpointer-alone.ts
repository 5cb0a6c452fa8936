/**
 * Run by wal-checkpointer.test.ts as a process of its own: a checkpointer with nothing else on the event loop
 * (as in a process that is stopping) is asked for a checkpoint and closed; it prints what it got and exits 0.
 * A thread that kept nothing alive let node leave with the close still pending (exit code 13, nothing printed).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { WalCheckpointer } from "../../broker/ledger/wal-checkpointer.ts";

const dir = mkdtempSync(join(tmpdir(), "tapwire-wal-alone-"));
const db = new Database(join(dir, "settlement.sqlite"));
db.pragma("journal_mode = WAL");
db.exec("CREATE TABLE t (v BLOB NOT NULL); INSERT INTO t (v) VALUES (randomblob(100000))");
const checkpointer = new WalCheckpointer(db, 0);
checkpointer.committed();
await checkpointer.idle();
const checkpointsBeforeClose = checkpointer.checkpoints;
checkpointer.committed();
await checkpointer.close();
db.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ checkpointsBeforeClose, checkpoints: checkpointer.checkpoints }));
