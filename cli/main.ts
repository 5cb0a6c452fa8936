import { readFileSync } from "node:fs";
import { isTapwireError } from "../protocol/errors.ts";
import { exitCodeOf, exitCodes } from "./exit-codes.ts";
import { blocksOf, overview, usageBlocks } from "./help.ts";
import { installStopSignals } from "./signals.ts";

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
};

/** `tapwire <command> [sub-command] [flags]`: one table of every command, each in its own file. */
const commands: Record<string, Load<Command>> = {
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

/** Every usage text, in the order the overview lists them (help loads every module: it is no hot path). */
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
];

/** Bounds how long a command may take to stop after the first SIGINT/SIGTERM before it is ended forcibly. */
const stopGraceMs = 10_000;

function readVersion(): string {
  // ../package.json from the sources, ../../package.json from the compiled dist/cli/main.js.
  for (const path of ["../package.json", "../../package.json"]) {
    try {
      const found = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (found.name === "tapwire" && found.version) return found.version;
    } catch {
      // Not there in this layout: try the other.
    }
  }
  throw new Error("tapwire's package.json not found beside the CLI");
}

async function printHelp(command: string | undefined): Promise<void> {
  const blocks = usageBlocks(await Promise.all(usages.map((usage) => usage())));
  const text = command === undefined ? overview(blocks, readVersion()) : blocksOf(command, blocks, Object.keys(commands)).map((b) => b.text).join("\n");
  process.stdout.write(`${text}\n`);
}

const helpFlags = ["--help", "-h"];

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === "--version") {
    process.stdout.write(`tapwire ${readVersion()}\n`);
    return exitCodes.ok;
  }
  if (first === undefined || helpFlags.includes(first) || first === "help") {
    await printHelp(undefined);
    return first === undefined ? exitCodes.usage : exitCodes.ok;
  }
  const two = argv.slice(0, 2).join(" ");
  const [name, rest] = commands[two] ? [two, argv.slice(2)] : [first, argv.slice(1)];
  const load = commands[name];
  if (!load) {
    const typed = argv.slice(0, 2).filter((word) => !word.startsWith("-")).join(" ");
    const near = Object.keys(commands).filter((command) => command.startsWith(`${first} `));
    const hint = near.length > 0 ? `did you mean ${near.join(", ")}?` : "tapwire --help lists the commands";
    process.stderr.write(`tapwire: unknown command "${typed}" (${hint})\n`);
    return exitCodes.usage;
  }
  if (rest.some((arg) => helpFlags.includes(arg))) {
    await printHelp(name);
    return exitCodes.ok;
  }
  const command = await load();
  return command(rest);
}

installStopSignals({
  graceMs: stopGraceMs,
  exit: (signal) => {
    process.stderr.write(`tapwire: stopped by ${signal}\n`);
    process.exit(signal === "SIGINT" ? exitCodes.interrupted : exitCodes.terminated);
  },
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (!isTapwireError(error)) {
      process.stderr.write(`tapwire: bug: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(exitCodes.bug);
    }
    process.stderr.write(`tapwire: ${error.toString()}\n`);
    process.exit(exitCodeOf(error));
  },
);
