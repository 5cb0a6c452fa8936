import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadOrCreateOperatorPki } from "../broker/operator-pki.ts";
import { PkiStore } from "../broker/pki/store.ts";
import type { SettlementNode } from "../broker/settlement-node.ts";
import { SettlementService } from "../broker/settlement/settlement-service.ts";
import { systemClock, systemRandom } from "../core/sources.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { principalName, type Principal } from "../protocol/topics.ts";
import { DashboardServer } from "./dashboard-server.ts";
import { HubPresence } from "./hub-presence.ts";
import { MetricsHistory } from "./metrics-history.ts";
import type { OperatorDesk } from "./operator-actions.ts";
import { Sessions } from "./sessions.ts";
import { SettlementDashboardSource } from "./settlement-source.ts";
import type { DashboardSource } from "./snapshot.ts";
import { asSqlite } from "../broker/ledger/sqlite-db.ts";

export interface RunningDashboard {
  readonly url: string;
  readonly server: DashboardServer;
  readonly presence: HubPresence;
  readonly source: DashboardSource;
  stop(): Promise<void>;
}

/**
 * The console over a node in this process (the demo, tests): the node's database, broker and metrics registry.
 * It watches hub states as `operators/<operatorId>`, whose certificate `node.enrollOperator` put in the PKI store.
 */
export async function startNodeDashboard(node: SettlementNode, options: { port: number; operatorId: string; label?: string }): Promise<RunningDashboard> {
  const tls = await operatorTls(node.pki.store, options.operatorId);
  const presence = new HubPresence({ url: node.url, tls, principal: operatorPrincipal(options.operatorId), protocolVersion: 4 });
  const source = new SettlementDashboardSource({ db: asSqlite(node.service.database), presence, label: options.label ?? "in-process settlement node" });
  const charts = new MetricsHistory({ read: () => node.metrics.registry.metrics(), source: "this node's metrics" });
  const sessions = new Sessions({
    checkLogin: (operatorId, token) => node.service.operators.checkLogin(operatorId, token),
    isActive: (operatorId) => node.service.operators.find(operatorId)?.status === "active",
  });
  return startParts({ presence, source, charts, sessions, desk: node.service, port: options.port }, async () => undefined);
}

export interface DataDirDashboardOptions {
  /** The data directory of a running (or stopped) `tapwire settle`. */
  dataDir: string;
  port: number;
  /** Where that settlement's broker listens, for hub states. */
  brokerUrl: string;
  protocolVersion: 4 | 5;
  /** The enrolled operator whose certificate the console connects with (`tapwire operator enroll --name`). */
  operatorId: string;
  /** The node's `/metrics` base URL (`tapwire settle --metrics-port`), for the charts. */
  metricsUrl?: string;
}

/**
 * The console beside a running `tapwire settle`: its own connection to the settlement database (WAL lets both
 * write; an operator's decision queues its push there and the node publishes it), hub states watched on the
 * node's broker as the operator, charts scraped from the node's `/metrics`.
 */
export async function startDataDirDashboard(options: DataDirDashboardOptions): Promise<RunningDashboard> {
  const databasePath = join(options.dataDir, "ledger.sqlite");
  if (!existsSync(databasePath)) {
    throw new TapwireError(`no settlement database at ${databasePath}: start \`tapwire settle\` with this --data-dir first`, ErrorCode.ConfigInvalid, { path: databasePath });
  }
  const pki = await loadOrCreateOperatorPki(options.dataDir, systemClock, systemRandom);
  const tls = await operatorTls(pki.store, options.operatorId);
  // No verify workers: the console answers no requests, it only reads and applies operators' decisions.
  const service = new SettlementService({ databasePath, serviceKey: pki.serviceSigningKey, clock: systemClock, verifyWorkers: 0 });
  await service.start();
  try {
    const presence = new HubPresence({ url: options.brokerUrl, tls, principal: operatorPrincipal(options.operatorId), protocolVersion: options.protocolVersion });
    const source = new SettlementDashboardSource({ db: asSqlite(service.database), presence, label: `data dir ${options.dataDir}` });
    const metricsUrl = options.metricsUrl;
    const charts = metricsUrl === undefined ? undefined : new MetricsHistory({ read: () => scrape(metricsUrl), source: `${metricsUrl}/metrics` });
    const sessions = new Sessions({
      checkLogin: (operatorId, token) => service.operators.checkLogin(operatorId, token),
      isActive: (operatorId) => service.operators.find(operatorId)?.status === "active",
    });
    return await startParts({ presence, source, charts, sessions, desk: service, port: options.port }, () => service.stop());
  } catch (error) {
    await service.stop();
    throw error;
  }
}

interface ConsoleParts {
  presence: HubPresence;
  source: SettlementDashboardSource;
  charts: MetricsHistory | undefined;
  sessions: Sessions;
  desk: OperatorDesk;
  port: number;
}

async function startParts(parts: ConsoleParts, release: () => Promise<void>): Promise<RunningDashboard> {
  const { presence, source, charts, sessions, desk, port } = parts;
  const server = new DashboardServer({ source, sessions, desk, ...(charts ? { charts } : {}), port });
  await server.start();
  presence.start();
  charts?.start();
  return {
    url: server.url,
    server,
    presence,
    source,
    async stop() {
      charts?.stop();
      await server.stop();
      await presence.stop();
      await release();
    },
  };
}

function operatorPrincipal(operatorId: string): Principal {
  return { kind: "operator", id: operatorId };
}

/** The operator's own client identity; never the service's. */
async function operatorTls(store: PkiStore, operatorId: string): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const ca = await store.loadCa();
  const identity = await store.loadIdentity(principalName(operatorPrincipal(operatorId)));
  if (!ca || !identity?.keyPem) {
    throw new TapwireError(`no operator ${operatorId} here: enrol one with \`tapwire operator enroll --name ${operatorId}\``, ErrorCode.UnknownOperator, { operatorId });
  }
  return { caPem: ca.certPem, certPem: identity.certPem, keyPem: identity.keyPem };
}

async function scrape(metricsUrl: string): Promise<string> {
  const response = await fetch(`${metricsUrl}/metrics`);
  if (!response.ok) throw new TapwireError(`${metricsUrl}/metrics answered ${response.status}`, ErrorCode.ServiceUnavailable);
  return response.text();
}
