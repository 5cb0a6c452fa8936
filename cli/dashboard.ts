import { brokerPortDefault } from "../broker/settlement-node.ts";
import { startDataDirDashboard } from "../console/dashboards.ts";
import { integerFlag, parseFlags } from "./args.ts";
import { untilStopSignal } from "./signals.ts";

export const dashboardPortDefault = 8080;

export const dashboardUsage = `tapwire dashboard [--data-dir .tapwire] [--port ${dashboardPortDefault}] [--broker-url mqtts://127.0.0.1:${brokerPortDefault}] [--protocol 4]
  A read-only live web page (on 127.0.0.1 only) beside a running \`tapwire settle\` with the same data dir:
  hubs online, recent decisions, ledger balances and their zero-sum check, the review queue. --port 0 picks a free port.`;

export async function dashboardCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    "data-dir": { type: "string", default: ".tapwire" },
    port: { type: "string" },
    "broker-url": { type: "string", default: `mqtts://127.0.0.1:${brokerPortDefault}` },
    protocol: { type: "string" },
  });
  const stopRequested = untilStopSignal();
  const dashboard = await startDataDirDashboard({
    dataDir: values["data-dir"],
    port: integerFlag(values.port, "port", 0, 65_535, dashboardPortDefault),
    brokerUrl: values["broker-url"],
    protocolVersion: integerFlag(values.protocol, "protocol", 4, 5, 4) as 4 | 5,
  });
  process.stdout.write(`tapwire dashboard on ${dashboard.url} (data in ${values["data-dir"]}); Ctrl-C stops it\n`);
  await stopRequested;
  await dashboard.stop();
  return 0;
}
