import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importPublicPem } from "../../protocol/keys.ts";
import { SettlementNode, type SettlementNodeOptions } from "../../broker/settlement-node.ts";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { HubLink, type HubLinkOptions } from "../../firmware-bridge/mqtt/hub-link.ts";

/**
 * A real settlement stack for end-to-end tests: the embedded aedes broker on a free loopback port with mTLS,
 * the settlement service on a temp-dir SQLite ledger, and helpers to enrol and connect clients.
 */
export class TestStack {
  private readonly links: HubLink[] = [];

  private constructor(
    readonly dataDir: string,
    readonly node: SettlementNode,
  ) {}

  static async start(options: Partial<SettlementNodeOptions> = {}): Promise<TestStack> {
    const dataDir = mkdtempSync(join(tmpdir(), "tapwire-e2e-"));
    const node = new SettlementNode({ dataDir, port: 0, ...options });
    await node.start();
    return new TestStack(dataDir, node);
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
    if (bundle.keyPem === undefined) throw new Error("bundle has no private key");
    const link = new HubLink({
      url: this.node.url,
      tls: { caPem: bundle.caPem, certPem: bundle.certPem, keyPem: bundle.keyPem },
      principal: { kind: bundle.principal.kind as "hub" | "wallet" | "agent", id: bundle.principal.id },
      protocolVersion: 4,
      servicePublicKey: importPublicPem(bundle.servicePublicKeyPem),
      reconnectAttemptsMax: 3,
      ...options,
    });
    link.start();
    this.links.push(link);
    await link.waitConnected(5_000);
    return link;
  }

  async stop(): Promise<void> {
    for (const link of this.links.splice(0)) await link.stop();
    await this.node.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
