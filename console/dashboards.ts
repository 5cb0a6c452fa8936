import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { busyTimeoutMs, type SqliteDb } from "../broker/ledger/sqlite-db.ts";
import { servicePrincipal } from "../broker/operator-pki.ts";
import { PkiStore } from "../broker/pki/store.ts";
import type { SettlementNode } from "../broker/settlement-node.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { principalName, type Principal } from "../protocol/topics.ts";
import { DashboardServer } from "./dashboard-server.ts";
import { HubPresence } from "./hub-presence.ts";
import { SettlementDashboardSource } from "./settlement-source.ts";
import type { DashboardSource } from "./snapshot.ts";

/**
 * The identity the hub-state watcher borrows. The embedded broker admits only enrolled hubs, wallets,
 * agents and the service, and of those only the service may read every hub's state, so the dashboard uses
 * the service's certificate under its own client id and only ever subscribes with it.
 */
const watcherPrincipal: Principal = servicePrincipal;

export interface RunningDashboard {
  readonly url: string;
  readonly server: DashboardServer;
  readonly presence: HubPresence;
  readonly source: DashboardSource;
  stop(): Promise<void>;
}

/** A dashboard over a node in this process (the demo): its own database connection, its broker, its PKI. */
export async function startNodeDashboard(node: SettlementNode, options: { port: number; label?: string }): Promise<RunningDashboard> {
  const pki = node.pki;
  const presence = new HubPresence({
    url: node.url,
    tls: { caPem: pki.ca.certPem, certPem: pki.service.certPem, keyPem: pki.service.keyPem },
    principal: watcherPrincipal,
    protocolVersion: 4,
  });
  const source = new SettlementDashboardSource({ db: node.service.database, presence, label: options.label ?? "in-process settlement node" });
  return startParts(presence, source, options.port, () => undefined);
}

export interface DataDirDashboardOptions {
  /** The data directory of a running (or stopped) `tapwire settle`. */
  dataDir: string;
  port: number;
  /** Where that settlement's broker listens, for hub states. */
  brokerUrl: string;
  protocolVersion: 4 | 5;
}

/**
 * A dashboard beside a running `tapwire settle`: reads its ledger through a read-only SQLite connection (WAL
 * lets it read while the service writes) and watches hub states on its broker.
 */
export async function startDataDirDashboard(options: DataDirDashboardOptions): Promise<RunningDashboard> {
  const db = openReadOnly(join(options.dataDir, "ledger.sqlite"));
  try {
    const tls = await watcherTls(options.dataDir);
    const presence = new HubPresence({ url: options.brokerUrl, tls, principal: watcherPrincipal, protocolVersion: options.protocolVersion });
    const source = new SettlementDashboardSource({ db, presence, label: `data dir ${options.dataDir}` });
    return await startParts(presence, source, options.port, () => db.close());
  } catch (error) {
    db.close();
    throw error;
  }
}

async function startParts(presence: HubPresence, source: SettlementDashboardSource, port: number, release: () => void): Promise<RunningDashboard> {
  const server = new DashboardServer({ source, port });
  await server.start();
  presence.start();
  return {
    url: server.url,
    server,
    presence,
    source,
    async stop() {
      await server.stop();
      await presence.stop();
      release();
    },
  };
}

function openReadOnly(path: string): SqliteDb {
  if (!existsSync(path)) {
    throw new TapwireError(`no settlement database at ${path}: start \`tapwire settle\` with this --data-dir first`, ErrorCode.ConfigInvalid, { path });
  }
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    return db;
  } catch (error) {
    throw new TapwireError(`cannot open ${path} read-only: ${(error as Error).message}`, ErrorCode.LedgerStorage, { path });
  }
}

async function watcherTls(dataDir: string): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const store = new PkiStore(join(dataDir, "pki"));
  const ca = await store.loadCa();
  const identity = await store.loadIdentity(principalName(watcherPrincipal));
  if (!ca || !identity) {
    throw new TapwireError(`no operator PKI under ${join(dataDir, "pki")}`, ErrorCode.ConfigInvalid, { dataDir });
  }
  return { caPem: ca.certPem, certPem: identity.certPem, keyPem: identity.keyPem };
}
