import { errorCodeName, isTapwireError } from "../protocol/errors.ts";

type Command = (argv: string[]) => Promise<number>;
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
  operator: () => import("./operator.ts"),
  revoke: () => import("./revoke.ts"),
  hubRotate: () => import("./hub-rotate.ts"),
  pki: () => import("./pki.ts"),
};

/** `tapwire <command> [sub-command] [flags]`: one table of every command, each in its own file. */
const commands: Record<string, Load<Command>> = {
  demo: async () => (await cli.demo()).demoCommand,
  settle: async () => (await cli.settle()).settleCommand,
  dashboard: async () => (await cli.dashboard()).dashboardCommand,
  console: async () => (await cli.dashboard()).dashboardCommand,
  "operator enroll": async () => (await cli.operator()).operatorEnrollCommand,
  "operator list": async () => (await cli.operator()).operatorListCommand,
  "merchant add": async () => (await cli.enroll()).merchantAddCommand,
  "merchant set-offline": async () => (await cli.offline()).merchantSetOfflineCommand,
  "offline losses": async () => (await cli.offline()).offlineLossesCommand,
  "hub enroll": async () => (await cli.enroll()).hubEnrollCommand,
  "hub list": async () => (await cli.hubRegistry()).hubListCommand,
  "hub revoke": async () => (await cli.hubRegistry()).hubRevokeCommand,
  "hub rotate": async () => (await cli.hubRotate()).hubRotateCommand,
  "wallet revoke": async () => (await cli.revoke()).walletRevokeCommand,
  "pki crl": async () => (await cli.pki()).pkiCrlCommand,
  "agent revoke": async () => (await cli.revoke()).agentRevokeCommand,
  "wallet enroll": async () => (await cli.enroll()).walletEnrollCommand,
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
};

/** Every usage text, in the order --help prints them (it loads every module: help is no hot path). */
const usages: Array<Load<string>> = [
  async () => (await cli.demo()).demoUsage,
  async () => (await cli.settle()).settleUsage,
  async () => (await cli.dashboard()).dashboardUsage,
  async () => (await cli.enroll()).enrollUsage,
  async () => (await cli.offline()).offlineUsage,
  async () => (await cli.hubRegistry()).hubRegistryUsage,
  async () => (await cli.glassesHub()).glassesHubUsage,
  async () => (await cli.hub()).hubUsage,
  async () => (await cli.hubInit()).hubInitUsage,
  async () => (await cli.hubCheck()).hubCheckUsage,
  async () => (await cli.simServe()).simServeUsage,
  async () => (await cli.simExplore()).simExploreUsage,
  async () => (await cli.simRun()).simRunUsage,
  async () => (await cli.review()).reviewUsage,
  async () => (await cli.dispute()).disputeUsage,
  async () => (await cli.agent()).agentUsage,
  async () => (await cli.mandate()).mandateUsage,
  async () => (await cli.evidence()).evidenceUsage,
  async () => (await cli.campaign()).campaignUsage,
  async () => (await cli.mosquittoConfig()).mosquittoConfigUsage,
  async () => (await cli.operator()).operatorUsage,
  async () => (await cli.revoke()).revokeUsage,
  async () => (await cli.pki()).pkiUsage,
];

async function main(argv: string[]): Promise<number> {
  const two = argv.slice(0, 2).join(" ");
  const [name, rest] = commands[two] ? [two, argv.slice(2)] : [argv[0] ?? "", argv.slice(1)];
  const load = commands[name];
  if (!load || argv.includes("--help")) {
    const texts = await Promise.all(usages.map((usage) => usage()));
    process.stdout.write(`${["usage:", ...texts].join("\n")}\n`);
    return load || argv.includes("--help") ? 0 : 2;
  }
  const command = await load();
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (isTapwireError(error)) {
      process.stderr.write(`tapwire: E${error.code} ${errorCodeName(error.code)}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  },
);
