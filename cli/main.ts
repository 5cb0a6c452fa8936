import { errorCodeName, isTapwireError } from "../protocol/errors.ts";
import { dashboardCommand, dashboardUsage } from "./dashboard.ts";
import { demoCommand, demoUsage } from "./demo.ts";
import { glassesHubCommand, glassesHubUsage } from "./glasses-hub.ts";
import { enrollUsage, hubEnrollCommand, merchantAddCommand, walletEnrollCommand } from "./enroll.ts";
import { hubListCommand, hubRegistryUsage, hubRevokeCommand } from "./hub-registry.ts";
import { merchantSetOfflineCommand, offlineLossesCommand, offlineUsage } from "./offline.ts";
import { settleCommand, settleUsage } from "./settle.ts";
import { hubCommand, hubUsage } from "./hub.ts";
import { simServeCommand, simServeUsage } from "./sim-serve.ts";
import { simExploreCommand, simExploreUsage } from "./sim-explore.ts";
import { simRunCommand, simRunUsage } from "./sim-run.ts";
import { reviewApproveCommand, reviewDeclineCommand, reviewListCommand, reviewShowCommand, reviewUsage } from "./review.ts";
import { disputeListCommand, disputeResolveCommand, disputeUsage } from "./dispute.ts";
import { agentEnrollCommand, agentUsage } from "./agent.ts";
import { mandateRegisterCommand, mandateUsage } from "./mandate.ts";
import { mosquittoConfigCommand, mosquittoConfigUsage } from "./mosquitto-config.ts";
import { evidenceExportCommand, evidenceUsage, evidenceVerifyCommand } from "./evidence.ts";
import { campaignAddCommand, campaignListCommand, campaignStopCommand, campaignUsage } from "./campaign.ts";

type Command = (argv: string[]) => Promise<number>;

/** `tapwire <command> [sub-command] [flags]`: one table of every command, each in its own file. */
const commands: Record<string, Command> = {
  demo: demoCommand,
  settle: settleCommand,
  dashboard: dashboardCommand,
  "merchant add": merchantAddCommand,
  "merchant set-offline": merchantSetOfflineCommand,
  "offline losses": offlineLossesCommand,
  "hub enroll": hubEnrollCommand,
  "hub list": hubListCommand,
  "hub revoke": hubRevokeCommand,
  "wallet enroll": walletEnrollCommand,
  "glasses-hub": glassesHubCommand,
  hub: hubCommand,
  "sim serve": simServeCommand,
  "sim explore": (argv) => simExploreCommand(argv),
  "sim run": (argv) => simRunCommand(argv),
  "review list": reviewListCommand,
  "review show": reviewShowCommand,
  "review approve": reviewApproveCommand,
  "review decline": reviewDeclineCommand,
  "dispute list": disputeListCommand,
  "dispute resolve": disputeResolveCommand,
  "agent enroll": agentEnrollCommand,
  "mandate register": mandateRegisterCommand,
  "evidence export": evidenceExportCommand,
  "mosquitto-config": mosquittoConfigCommand,
  "evidence verify": evidenceVerifyCommand,
  "campaign add": campaignAddCommand,
  "campaign list": campaignListCommand,
  "campaign stop": campaignStopCommand,
};

const usage = [
  "usage:",
  demoUsage,
  settleUsage,
  dashboardUsage,
  enrollUsage,
  offlineUsage,
  hubRegistryUsage,
  glassesHubUsage,
  hubUsage,
  simServeUsage,
  simExploreUsage,
  simRunUsage,
  reviewUsage,
  disputeUsage,
  agentUsage,
  mandateUsage,
  evidenceUsage,
  campaignUsage,
  mosquittoConfigUsage,
].join("\n");

async function main(argv: string[]): Promise<number> {
  const two = argv.slice(0, 2).join(" ");
  const [name, rest] = commands[two] ? [two, argv.slice(2)] : [argv[0] ?? "", argv.slice(1)];
  const command = commands[name];
  if (!command || argv.includes("--help")) {
    process.stdout.write(`${usage}\n`);
    return command || argv.includes("--help") ? 0 : 2;
  }
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
