import { brokerPortDefault } from "../broker/settlement-node.ts";
import { startDataDirDashboard } from "../console/dashboards.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";
import { untilStopSignal } from "./signals.ts";

export const dashboardPortDefault = 8080;

export const dashboardUsage = `tapwire console --operator NAME [--data-dir .tapwire] [--port ${dashboardPortDefault}] [--broker-url mqtts://127.0.0.1:${brokerPortDefault}] [--protocol 4] [--metrics-url http://127.0.0.1:PORT]
  The operator console, on 127.0.0.1 only, beside a running \`tapwire settle\` with the
  same data dir: hubs online, decisions from the evidence chain, balances and their zero-sum check, the review
  queue, charts from the node's /metrics (settle --metrics-port). It connects to the broker as operators/NAME
  (\`tapwire operator enroll --name NAME\` first); people log in with their operator name and login token and
  approve or decline review cases, resolve disputes and revoke hubs, each recorded in the evidence chain.
  --port 0 picks a free port.
  example: tapwire console --operator ops --port 8080 --metrics-url http://127.0.0.1:9464`;

export async function dashboardCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    "data-dir": { type: "string", default: ".tapwire" },
    operator: { type: "string" },
    port: { type: "string" },
    "broker-url": { type: "string", default: `mqtts://127.0.0.1:${brokerPortDefault}` },
    protocol: { type: "string" },
    "metrics-url": { type: "string" },
  });
  const stopRequested = untilStopSignal();
  const dashboard = await startDataDirDashboard({
    dataDir: values["data-dir"],
    operatorId: requireFlag(values.operator, "operator"),
    port: integerFlag(values.port, "port", 0, 65_535, dashboardPortDefault),
    brokerUrl: values["broker-url"],
    protocolVersion: integerFlag(values.protocol, "protocol", 4, 5, 4) as 4 | 5,
    ...(values["metrics-url"] ? { metricsUrl: values["metrics-url"].replace(/\/(metrics)?$/, "") } : {}),
  });
  process.stdout.write(`tapwire console on ${dashboard.url} (data in ${values["data-dir"]}); Ctrl-C stops it\n`);
  await stopRequested;
  await dashboard.stop();
  return 0;
}
