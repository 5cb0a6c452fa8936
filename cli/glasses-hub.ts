import type { Noble } from "@stoprocent/noble";
import type { PurchaseOutcome } from "../device/glasses/outcome.ts";
import { HubJournal } from "../device/journal/hub-journal.ts";
import { defaultLinkConfig } from "../device/link/link-machine.ts";
import { systemClock, systemTimers } from "../core/sources.ts";
import { GlassesHubAssembly } from "../firmware-bridge/adapters/glasses-hub-assembly.ts";
import { KeyFileHubSigner } from "../firmware-bridge/adapters/key-file-signer.ts";
import { JsonFilePairingStore } from "../firmware-bridge/ble/pairing-store.ts";
import { journalHealth } from "../firmware-bridge/systemd/journal-health.ts";
import { serviceWatchdogFromEnv } from "../firmware-bridge/systemd/service-watchdog.ts";
import { ErrorCode, TapwireError, errorCodeName } from "../protocol/errors.ts";
import { importPublicPem } from "../protocol/keys.ts";
import { pairingCodePattern } from "../protocol/glasses.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";
import { glassesHubMetered, serveHubMetrics, type ServedHubMetrics } from "../firmware-bridge/adapters/hub-metrics.ts";
import { glassesHubOptionsOf, loadGlassesHubSetup, type GlassesHubSetup } from "./glasses-hub-config.ts";
import { untilStopSignal } from "./signals.ts";

export const glassesHubUsage = `tapwire glasses-hub --config glasses.json [--pair CODE] [--metrics-port N [--metrics-host 127.0.0.1]]
  Runs a smart-glasses payment hub on this board's Bluetooth adapter (HCI) against a settlement broker.
  --pair CODE pairs the glasses showing that 6-digit code first (replacing any paired glasses).
  --metrics-port serves Prometheus /metrics, /healthz and /readyz (ready while the link is up and the journal writable).
  Config keys (schema/glasses.schema.json; named as in hub.json): hubId, merchantId, owner {ownerId, walletId, lang},
  broker {url, enrolmentDir | caFile, certFile, keyFile, servicePublicKeyFile, protocolVersion}, signingKeyFile,
  journalFile, pairingFile, ble {hciDeviceId, mtuRequested, timeouts, reconnect}, quantityMax, unclearRetriesMax,
  stepUpsMax, timings {…, requestTtlMs}. Relative paths are read from the config file's folder. Under systemd it
  sends READY=1, STATUS= and, with WatchdogSec=, WATCHDOG=1 while the journal is writable and the adapter is on.
  example: tapwire glasses-hub --config glasses.json --pair 123456`;

export interface GlassesHubRun {
  assembly: GlassesHubAssembly;
  journal: HubJournal;
}

/** Builds the hub from a checked setup over the noble it is handed (HCI from the command, virtual in tests). */
export function assembleGlassesHub(setup: GlassesHubSetup, noble: Noble): GlassesHubRun {
  const { config } = setup;
  const journal = HubJournal.open({ path: setup.journalPath, clock: systemClock });
  const assembly = new GlassesHubAssembly({
    noble,
    pairingStore: new JsonFilePairingStore(setup.pairingPath),
    link: {
      ...(config.ble.mtuRequested === undefined ? {} : { mtuRequested: config.ble.mtuRequested }),
      ...(config.ble.timeouts === undefined ? {} : { timeouts: config.ble.timeouts }),
      ...(config.ble.reconnect === undefined ? {} : { reconnect: config.ble.reconnect }),
    },
    settlement: {
      link: {
        url: config.broker.url,
        tls: setup.tls,
        principal: { kind: "hub", id: config.hubId },
        protocolVersion: config.broker.protocolVersion,
        servicePublicKey: importPublicPem(setup.servicePublicKeyPem),
      },
      connectTimeoutMs: defaultLinkConfig.connectTimeoutMs,
    },
    owner: config.owner,
    hub: glassesHubOptionsOf(config),
    signer: KeyFileHubSigner.fromFile(setup.signingKeyPath),
    journal,
  });
  return { assembly, journal };
}

type WithBindings = typeof import("@stoprocent/noble").withBindings;

/**
 * Only the hardware path loads noble, and through its `withBindings` module rather than the package index:
 * the index also builds a second noble on the platform's default bindings as soon as it is imported.
 */
const withBindingsModule = "@stoprocent/noble/lib/resolve-bindings.js";

async function hciNoble(deviceId: number): Promise<Noble> {
  const loaded = (await import(withBindingsModule)) as { default: WithBindings };
  return loaded.default("hci", { deviceId });
}

function describeOutcome(outcome: PurchaseOutcome): string {
  const code = outcome.code === 0 ? "" : ` E${outcome.code} ${errorCodeName(outcome.code)}`;
  const request = outcome.paymentRequestId ? ` payment ${outcome.paymentRequestId}` : "";
  return `purchase ${outcome.kind}${code}${request}\n`;
}

export async function glassesHubCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    config: { type: "string" },
    pair: { type: "string" },
    "metrics-port": { type: "string" },
    "metrics-host": { type: "string", default: "127.0.0.1" },
  });
  const setup = loadGlassesHubSetup(requireFlag(values.config, "config"));
  if (values.pair !== undefined && !pairingCodePattern.test(values.pair)) {
    throw new TapwireError("--pair must be the 6 digits the glasses show", ErrorCode.ConfigInvalid);
  }
  const noble = await hciNoble(setup.config.ble.hciDeviceId);
  const { assembly, journal } = assembleGlassesHub(setup, noble);
  assembly.onOutcome((outcome) => process.stdout.write(describeOutcome(outcome)));
  const stopRequested = untilStopSignal();
  let served: ServedHubMetrics | undefined;
  try {
    await assembly.start();
    if (values.pair !== undefined) {
      process.stdout.write("pairing: look at the glasses showing the code…\n");
      const binding = await assembly.pair(values.pair);
      process.stdout.write(`paired glasses ${binding.glassesId} (owner ${binding.ownerId})\n`);
    }
    if (assembly.link.binding === undefined) {
      throw new TapwireError("no glasses are paired: run again with --pair CODE (the code the glasses show)", ErrorCode.GlassesNotPaired);
    }
    const checks = {
      journal: journalHealth(journal, setup.journalPath),
      bluetooth: () => (noble.state === "poweredOn" ? undefined : `the Bluetooth adapter is ${noble.state}`),
    };
    const metricsPort = values["metrics-port"];
    served = metricsPort === undefined ? undefined : await serveHubMetrics(glassesHubMetered(assembly), journal, checks, { port: integerFlag(metricsPort, "metrics-port", 0, 65_535, 0), host: values["metrics-host"] });
    process.stdout.write(`tapwire glasses hub ${setup.config.hubId} running (Ctrl-C to stop)${served ? `; metrics on ${served.url}/metrics` : ""}\n`);
    const watchdog = serviceWatchdogFromEnv(process.env, checks, systemTimers);
    watchdog?.ready(`glasses hub ${setup.config.hubId} running, paired with ${assembly.link.binding.glassesId}`);
    await stopRequested;
    await watchdog?.stop();
  } finally {
    await served?.stop();
    await assembly.stop();
    journal.close();
    noble.stop();
  }
  return 0;
}
