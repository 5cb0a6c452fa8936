import { SettlementNode, brokerPortDefault } from "../broker/settlement-node.ts";
import { integerFlag, parseFlags } from "./args.ts";
import { untilStopSignal } from "./signals.ts";

export const settleUsage = `tapwire settle [--data-dir DIR] [--host 127.0.0.1] [--port ${brokerPortDefault}] [--broker-url mqtts://HOST:PORT --protocol 5 [--shared-group G --instance I]] [--metrics-port N [--metrics-host 127.0.0.1]]
  Runs the settlement service on its SQLite ledger with the embedded mTLS broker (or against an external
  broker such as Mosquitto). Stops cleanly on SIGINT/SIGTERM. --metrics-port serves Prometheus /metrics,
  /healthz and /readyz (503 while the ledger's storage refuses writes or the broker link is down).`;

export async function settleCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    "data-dir": { type: "string", default: ".tapwire" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    "broker-url": { type: "string" },
    protocol: { type: "string" },
    "shared-group": { type: "string" },
    instance: { type: "string" },
    "metrics-port": { type: "string" },
    "metrics-host": { type: "string", default: "127.0.0.1" },
  });
  const node = new SettlementNode({
    dataDir: values["data-dir"],
    host: values.host,
    port: integerFlag(values.port, "port", 0, 65_535, brokerPortDefault),
    protocolVersion: integerFlag(values.protocol, "protocol", 4, 5, 4) as 4 | 5,
    ...(values["broker-url"] ? { externalBrokerUrl: values["broker-url"] } : {}),
    ...(values["shared-group"] ? { sharedGroup: values["shared-group"] } : {}),
    ...(values.instance ? { instance: values.instance } : {}),
    ...(values["metrics-port"] === undefined ? {} : { metrics: { port: integerFlag(values["metrics-port"], "metrics-port", 0, 65_535, 0), host: values["metrics-host"] } }),
  });
  // Listen before announcing "ready": a supervisor may signal the moment it reads that line.
  const stopRequested = untilStopSignal();
  await node.start();
  process.stdout.write(`tapwire settlement ready on ${node.url} (data in ${values["data-dir"]})${node.metricsUrl ? `; metrics on ${node.metricsUrl}/metrics` : ""}\n`);
  await stopRequested;
  await node.stop();
  return 0;
}
