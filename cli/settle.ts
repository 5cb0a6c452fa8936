import { recordStore } from "../broker/store/store-location.ts";
import { createDataDir } from "../core/data-dir.ts";
import { SettlementNode, brokerPortDefault } from "../broker/settlement-node.ts";
import { amountMinorMax } from "../protocol/money.ts";
import { integerFlag, parseFlags } from "./args.ts";
import { untilStopSignal } from "./signals.ts";

export const settleUsage = `tapwire settle [--data-dir .tapwire] [--host 127.0.0.1] [--port ${brokerPortDefault}] [--broker-url mqtts://HOST:PORT --protocol 5 [--shared-group G --instance I]] [--store postgres://USER@HOST:PORT/DB] [--review-above-minor N] [--metrics-port N [--metrics-host 127.0.0.1]]
  Runs the settlement service on its SQLite ledger with the embedded mTLS broker (or against an external
  broker such as Mosquitto). Creates the data dir on first start. Stops cleanly on SIGINT/SIGTERM. With --instance I
  the worker connects with its own certificate (services/settlement.I, issued on first start), so workers of one
  shared group never push each other off a broker that binds client ids to certificates (mosquitto-config --worker I).
  --store keeps the ledger, registry and evidence in a PostgreSQL database that any number of workers share (named
  in DIR/store.url, so admin commands on DIR use it too); each worker's batch is one SERIALIZABLE transaction.
  --review-above-minor N holds every payment above N minor units for an operator (\`tapwire review list\`,
  \`review approve|decline\`; the hub gets the outcome when it is decided); off by default.
  --metrics-port serves Prometheus /metrics, /healthz and /readyz (503 while the ledger's storage refuses writes or
  the broker link is down).
  TAPWIRE_LOG=info logs one line per decision on stderr (JSON: request, principal, status, code); default warn.
  example: tapwire settle --data-dir .tapwire`;

export async function settleCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    "data-dir": { type: "string", default: ".tapwire" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    "broker-url": { type: "string" },
    protocol: { type: "string" },
    "shared-group": { type: "string" },
    instance: { type: "string" },
    store: { type: "string" },
    "review-above-minor": { type: "string" },
    "metrics-port": { type: "string" },
    "metrics-host": { type: "string", default: "127.0.0.1" },
  });
  const reviewAboveMinor = values["review-above-minor"];
  if (values.store !== undefined) {
    await createDataDir(values["data-dir"]);
    recordStore(values["data-dir"], values.store);
  }
  const node = new SettlementNode({
    dataDir: values["data-dir"],
    host: values.host,
    port: integerFlag(values.port, "port", 0, 65_535, brokerPortDefault),
    protocolVersion: integerFlag(values.protocol, "protocol", 4, 5, 4) as 4 | 5,
    ...(values["broker-url"] ? { externalBrokerUrl: values["broker-url"] } : {}),
    ...(values["shared-group"] ? { sharedGroup: values["shared-group"] } : {}),
    ...(values.instance ? { instance: values.instance } : {}),
    ...(reviewAboveMinor === undefined ? {} : { settlement: { review: { humanReviewAboveMinor: integerFlag(reviewAboveMinor, "review-above-minor", 1, amountMinorMax) } } }),
    ...(values["metrics-port"] === undefined ? {} : { metrics: { port: integerFlag(values["metrics-port"], "metrics-port", 0, 65_535, 0), host: values["metrics-host"] } }),
  });
  // Listen before announcing "ready": a supervisor may signal the moment it reads that line. A signal during a
  // slow start (an external broker that does not answer) stops it too; main exits once this command returns.
  const stopRequested = untilStopSignal().then(() => "stop" as const);
  const started = node.start().then(() => "started" as const);
  if ((await Promise.race([started, stopRequested])) === "stop") {
    started.catch(() => undefined);
    await node.stop();
    return 0;
  }
  process.stdout.write(`tapwire settlement ready on ${node.url} (data in ${values["data-dir"]})${node.metricsUrl ? `; metrics on ${node.metricsUrl}/metrics` : ""}\n`);
  await stopRequested;
  await node.stop();
  return 0;
}
