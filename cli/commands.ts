/** Every `tapwire` command and its usage text, each in its own module (main.ts runs them; tests read the table). */
export type Command = (argv: string[]) => Promise<number>;
type Load<T> = () => Promise<T>;

/*
 * Each command's module is loaded when that command runs: a hub on a Pi then never loads the broker, the ledger,
 * the dashboard or the simulator (tens of megabytes of resident memory, and start-up time).
 */
const cli = {
  demo: () => import("./demo.ts"),
  settle: () => import("./settle.ts"),
  dashboard: () => import("./dashboard.ts"),
  enroll: () => import("./enroll.ts"),
  offline: () => import("./offline.ts"),
  hubRegistry: () => import("./hub-registry.ts"),
  glassesHub: () => import("./glasses-hub.ts"),
  hub: () => import("./hub.ts"),
  hubInit: () => import("./hub-init.ts"),
  hubCheck: () => import("./hub-check.ts"),
  simServe: () => import("./sim-serve.ts"),
  simExplore: () => import("./sim-explore.ts"),
  simRun: () => import("./sim-run.ts"),
  review: () => import("./review.ts"),
  dispute: () => import("./dispute.ts"),
  agent: () => import("./agent.ts"),
  mandate: () => import("./mandate.ts"),
  mosquittoConfig: () => import("./mosquitto-config.ts"),
  evidence: () => import("./evidence.ts"),
  campaign: () => import("./campaign.ts"),
  walletCode: () => import("./wallet-code.ts"),
  merchantEvents: () => import("./merchant-events.ts"),
  db: () => import("./db.ts"),
  pki: () => import("./pki.ts"),
  ledger: () => import("./ledger.ts"),
};

/** `tapwire <command> [sub-command] [flags]`: one table of every command, each in its own file. */
export const commands: Record<string, Load<Command>> = {
  demo: async () => (await cli.demo()).demoCommand,
  settle: async () => (await cli.settle()).settleCommand,
  dashboard: async () => (await cli.dashboard()).dashboardCommand,
  "merchant add": async () => (await cli.enroll()).merchantAddCommand,
  "merchant set-offline": async () => (await cli.offline()).merchantSetOfflineCommand,
  "offline losses": async () => (await cli.offline()).offlineLossesCommand,
  "hub enroll": async () => (await cli.enroll()).hubEnrollCommand,
  "hub list": async () => (await cli.hubRegistry()).hubListCommand,
  "hub revoke": async () => (await cli.hubRegistry()).hubRevokeCommand,
  "wallet enroll": async () => (await cli.enroll()).walletEnrollCommand,
  "wallet code": async () => (await cli.walletCode()).walletCodeCommand,
  "merchant events": async () => (await cli.merchantEvents()).merchantEventsCommand,
  "glasses-hub": async () => (await cli.glassesHub()).glassesHubCommand,
  hub: async () => (await cli.hub()).hubCommand,
  "hub init": async () => (await cli.hubInit()).hubInitCommand,
  "hub check": async () => (await cli.hubCheck()).hubCheckCommand,
  "hub schema": async () => (await cli.hubInit()).hubSchemaCommand,
  "sim serve": async () => (await cli.simServe()).simServeCommand,
  "sim explore": async () => {
    const { simExploreCommand } = await cli.simExplore();
    return (argv) => simExploreCommand(argv);
  },
  "sim run": async () => {
    const { simRunCommand } = await cli.simRun();
    return (argv) => simRunCommand(argv);
  },
  "review list": async () => (await cli.review()).reviewListCommand,
  "review show": async () => (await cli.review()).reviewShowCommand,
  "review approve": async () => (await cli.review()).reviewApproveCommand,
  "review decline": async () => (await cli.review()).reviewDeclineCommand,
  "dispute list": async () => (await cli.dispute()).disputeListCommand,
  "dispute resolve": async () => (await cli.dispute()).disputeResolveCommand,
  "agent enroll": async () => (await cli.agent()).agentEnrollCommand,
  "mandate register": async () => (await cli.mandate()).mandateRegisterCommand,
  "evidence export": async () => (await cli.evidence()).evidenceExportCommand,
  "mosquitto-config": async () => (await cli.mosquittoConfig()).mosquittoConfigCommand,
  "evidence verify": async () => (await cli.evidence()).evidenceVerifyCommand,
  "campaign add": async () => (await cli.campaign()).campaignAddCommand,
  "campaign list": async () => (await cli.campaign()).campaignListCommand,
  "campaign stop": async () => (await cli.campaign()).campaignStopCommand,
  "ledger balances": async () => (await cli.ledger()).ledgerBalancesCommand,
  "ledger show": async () => (await cli.ledger()).ledgerShowCommand,
  "ledger export": async () => (await cli.ledger()).ledgerExportCommand,
  "db migrate": async () => (await cli.db()).dbMigrateCommand,
  "pki crl": async () => (await cli.pki()).pkiCrlCommand,
};

/** Every usage text, in the order the overview lists them (help loads every module: it is no hot path). */
export const usages: Array<Load<string>> = [
  async () => (await cli.demo()).demoUsage,
  async () => (await cli.settle()).settleUsage,
  async () => (await cli.dashboard()).dashboardUsage,
  async () => (await cli.enroll()).enrollUsage,
  async () => (await cli.walletCode()).walletCodeUsage,
  async () => (await cli.merchantEvents()).merchantEventsUsage,
  async () => (await cli.offline()).offlineUsage,
  async () => (await cli.hubRegistry()).hubRegistryUsage,
  async () => (await cli.glassesHub()).glassesHubUsage,
  async () => (await cli.hub()).hubUsage,
  async () => (await cli.hubInit()).hubInitUsage,
  async () => (await cli.hubCheck()).hubCheckUsage,
  async () => (await cli.simServe()).simServeUsage,
  async () => (await cli.simExplore()).simExploreUsage,
  async () => (await cli.simRun()).simRunUsage,
  async () => (await cli.ledger()).ledgerUsage,
  async () => (await cli.review()).reviewUsage,
  async () => (await cli.dispute()).disputeUsage,
  async () => (await cli.agent()).agentUsage,
  async () => (await cli.mandate()).mandateUsage,
  async () => (await cli.evidence()).evidenceUsage,
  async () => (await cli.campaign()).campaignUsage,
  async () => (await cli.mosquittoConfig()).mosquittoConfigUsage,
  async () => (await cli.db()).dbUsage,
  async () => (await cli.pki()).pkiUsage,
];
