import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { SettlementNode } from "../../broker/settlement-node.ts";
import { startNodeDashboard, type RunningDashboard } from "../../console/dashboards.ts";
import { Narrator, money, type Outcome } from "./narrator.ts";
import { runAgentScenes } from "./agent-scenes.ts";
import { runGlassesScenes } from "./glasses-scenes.ts";
import { runProviderScenes } from "./provider-scenes.ts";
import { runTapScenes } from "./tap-scenes.ts";

export interface DemoOptions {
  /** Embedded broker port; 0 picks a free one so the demo never fights a running `tapwire settle`. */
  port: number;
  /** Keep the data directory (ledger, PKI, evidence) for inspection instead of deleting it. */
  keepDataDir: boolean;
  write: (line: string) => void;
  /** Serve the live dashboard on 127.0.0.1 at this port (0 = a free one) while the demo runs. */
  dashboardPort?: number;
  /** With a dashboard: awaited after the summary, before anything stops, so a person can still look. */
  holdOpen?: (world: DemoWorld) => Promise<unknown>;
  /** Each scene's outcome as it is recorded: expected and actual status and code. */
  onOutcome?: (outcome: Outcome) => void;
}

/** What the demo set up, for whatever runs on after its scenes (`tapwire demo --dashboard`: keepSelling). */
export interface DemoWorld {
  node: SettlementNode;
  tapHub: EnrolmentBundle;
  glassesHub: EnrolmentBundle;
  wallet: EnrolmentBundle;
  walletId: string;
  merchantId: string;
  workDir: string;
  write: (line: string) => void;
}

const merchantId = "cafe-lumiere";
const currency = "EUR";
/** The operator the demo's console runs as and logs in with. */
const demoOperator = "demo";

/**
 * `npm start`: a settlement node (embedded mTLS broker, SQLite ledger) and simulated hubs doing real
 * payments end to end, narrated for a person; then a ledger summary. Resolves with the exit code.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const workDir = mkdtempSync(join(tmpdir(), "tapwire-demo-"));
  const narrator = new Narrator(options.write, options.onOutcome);
  const node = new SettlementNode({ dataDir: join(workDir, "settlement"), port: options.port });
  narrator.heading("Settlement service");
  await node.start();
  let dashboard: RunningDashboard | undefined;
  try {
    narrator.step(`embedded broker (MQTT 3.1.1 over mutual TLS) on ${node.url}; ledger in ${join(workDir, "settlement", "ledger.sqlite")}`);
    if (options.dashboardPort !== undefined) {
      const { loginToken } = await node.enrollOperator({ operatorId: demoOperator });
      dashboard = await startNodeDashboard(node, { port: options.dashboardPort, operatorId: demoOperator, label: "demo (in-process)" });
      narrator.step(`live console on ${dashboard.url}: log in as operator ${demoOperator} with token ${loginToken}`);
    }
    node.registry.enrollMerchant({ merchantId, currency, displayName: "Café Lumière" });
    const tapHub = await node.enrollHub({ hubId: "tap-hub-1", merchantId });
    const glassesHub = await node.enrollHub({ hubId: "glasses-hub-1", merchantId });
    const alice = await node.enrollWallet({ walletId: "alice", currency, perPaymentMaxMinor: 20_000 });
    const agent = await node.enrollAgent({ agentId: "alice-shopping-agent" });
    node.registry.fundWallet("alice", 10_000);
    narrator.step(`enrolled merchant ${merchantId}, hubs tap-hub-1 and glasses-hub-1, wallet alice funded ${money(10_000, currency)}, agent alice-shopping-agent (each with its own client certificate)`);

    await runTapScenes({ node, hub: tapHub, wallet: alice, merchantId, workDir, narrator });
    await runGlassesScenes({ node, hub: glassesHub, walletId: "alice", merchantId, narrator });
    await runAgentScenes({ node, wallet: alice, agent, merchantId, narrator });
    await runProviderScenes({ node, merchantId, workDir, narrator });

    narrator.heading("Summary");
    const ledger = node.service.ledger;
    const invariants = ledger.checkInvariants();
    narrator.step(`merchant ${merchantId}: ${money(ledger.balanceOf(merchantAccountId(merchantId)), currency)}; alice: ${money(ledger.balanceOf(walletAccountId("alice")), currency)}`);
    narrator.step(`${invariants.transfers} transfers over ${invariants.accounts} accounts; balances sum to zero per currency: ${JSON.stringify(invariants.balanceSumMinorByCurrency)}`);
    const evidence = node.service.verifyEvidence();
    narrator.step(`evidence chain verified offline from the stored messages: ${evidence.ok ? "ok" : "BROKEN"} (${evidence.receipts} receipts match ${evidence.transfers} transfers)`);
    const failures = narrator.failures;
    narrator.step(`${narrator.outcomes.length - failures.length} of ${narrator.outcomes.length} scenes ended as expected`);
    if (dashboard && options.holdOpen) {
      narrator.step(`dashboard still on ${dashboard.url}: Ctrl-C ends the demo`);
      await options.holdOpen({ node, tapHub, glassesHub, wallet: alice, walletId: "alice", merchantId, workDir, write: (line) => narrator.step(line) });
    }
    return failures.length === 0 ? 0 : 1;
  } finally {
    await dashboard?.stop();
    await node.stop();
    if (options.keepDataDir) {
      const dataDir = join(workDir, "settlement");
      narrator.step(`data kept in ${workDir}; its data dir, for the other commands: --data-dir ${dataDir} (e.g. tapwire ledger balances --data-dir ${dataDir})`);
    }
    else rmSync(workDir, { recursive: true, force: true });
  }
}
