import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock, systemRandom } from "../../core/sources.ts";
import { SettlementNode, type SettlementNodeOptions } from "../../broker/settlement-node.ts";
import { loadOrCreateOperatorPki, type OperatorPki } from "../../broker/operator-pki.ts";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { linkOptionsFor } from "../../sdk/client-link.ts";
import { HubLink, type HubLinkOptions } from "../../firmware-bridge/mqtt/hub-link.ts";
import { RefusalLog } from "../broker/fixtures.ts";
import type { TapHubView } from "../../device/tap-hub.ts";
import type { SimulatedTapHub } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";

/** A broker the test starts itself (Mosquitto), given the operator PKI its TLS listener must use. */
export interface ExternalBroker {
  url: string;
  stop(): Promise<void>;
}

export interface TestStackOptions extends Partial<SettlementNodeOptions> {
  /**
   * Starts the broker for the node: the operator PKI is created in the data dir first, so the broker can serve
   * its server certificate and trust its CA; the node then runs against it with MQTT 5.
   */
  externalBroker?: (pki: OperatorPki) => Promise<ExternalBroker>;
}

/**
 * A real settlement stack for end-to-end tests: the embedded aedes broker on a free loopback port with mTLS
 * (or an external broker over MQTT 5), the settlement service on a temp-dir SQLite ledger, and helpers to
 * enrol and connect clients. Embedded-broker refusals are collected in `refusals`.
 */
export class TestStack {
  private readonly links: HubLink[] = [];

  private constructor(
    readonly dataDir: string,
    readonly node: SettlementNode,
    readonly refusals: RefusalLog,
    readonly protocolVersion: 4 | 5,
    private readonly broker: ExternalBroker | undefined,
  ) {}

  static async start(options: TestStackOptions = {}): Promise<TestStack> {
    const { externalBroker, ...nodeOptions } = options;
    const dataDir = mkdtempSync(join(tmpdir(), "tapwire-e2e-"));
    const refusals = new RefusalLog();
    let broker: ExternalBroker | undefined;
    try {
      if (externalBroker) broker = await externalBroker(await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom));
      const protocolVersion = broker ? 5 : (nodeOptions.protocolVersion ?? 4);
      const node = new SettlementNode({
        dataDir,
        port: 0,
        onBrokerRefusal: refusals.record,
        ...nodeOptions,
        ...(broker ? { externalBrokerUrl: broker.url, protocolVersion } : {}),
      });
      await node.start();
      return new TestStack(dataDir, node, refusals, protocolVersion, broker);
    } catch (error) {
      await broker?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Merchant m1 (EUR), hub h1 at m1, wallet w1 funded with `fundedMinor`. */
  async enrolDefaults(fundedMinor = 100_000): Promise<{ hub: EnrolmentBundle; wallet: EnrolmentBundle }> {
    this.node.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
    const hub = await this.node.enrollHub({ hubId: "h1", merchantId: "m1" });
    const wallet = await this.node.enrollWallet({ walletId: "w1", currency: "EUR", perPaymentMaxMinor: 50_000 });
    this.node.registry.fundWallet("w1", fundedMinor);
    return { hub, wallet };
  }

  async connect(bundle: EnrolmentBundle, options: Partial<HubLinkOptions> = {}): Promise<HubLink> {
    const link = new HubLink({ ...linkOptionsFor(bundle, this.node.url, this.protocolVersion), reconnectAttemptsMax: 3, ...options });
    link.start();
    this.links.push(link);
    await link.waitConnected(5_000);
    return link;
  }

  async stop(): Promise<void> {
    for (const link of this.links.splice(0)) await link.stop();
    await this.node.stop();
    await this.broker?.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Starts a simulated tap hub, waits until it is ready, and sells one reader-mode sale to its HCE phone: the final view. */
export async function startAndTap(hub: SimulatedTapHub, amountMinor: number, currency: string, waitMs: number): Promise<TapHubView> {
  await hub.start();
  await hub.waitFor((view) => view.hub === "ready" && view.tap.state === "idle", waitMs);
  hub.setAmount(amountMinor, currency, "reader");
  await hub.waitFor((view) => view.tap.state === "waitingForTap", waitMs);
  hub.placePhone(hub.hcePhone());
  return hub.waitFor((view) => view.tap.state === "approved" || view.tap.state === "declined", waitMs);
}
