import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OfflineConfig } from "../../device/tap/tap-config.ts";
import { assert } from "../../core/assert.ts";
import type { OfflineLimits } from "../../protocol/contract.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { VirtualClock, type Random } from "../../core/sources.ts";
import { enrollGlasses } from "../../broker/settlement/glasses-payer-verifier.ts";
import type { Lang } from "../../device/intent/intent.ts";
import { SimAgent } from "./sim-agent.ts";
import { SimGlassesHub, type SimGlassesHubDeps } from "./sim-glasses-hub.ts";
import type { SimHubLink } from "./sim-hub-link.ts";
import { runUntil, type RunEnd } from "./sim-loop.ts";
import { SimNetwork } from "./sim-network.ts";
import { SimSettlement } from "./sim-settlement.ts";
import { SimTapHub, type HubLinkPorts, type ShownApproval } from "./sim-tap-hub.ts";
import { SimWallet } from "./sim-wallet.ts";
import { Trace } from "./trace.ts";

/** Who is in a world, enrolled before it starts. */
export interface WorldPlan {
  /** The currency of every merchant and wallet that names none of its own. */
  currency: string;
  merchants: Array<{ merchantId: string; offlineLimits: OfflineLimits | undefined; currency?: string }>;
  /** `reboots`: the hub's journal goes to a file, so it survives a crash. */
  hubs: Array<{ hubId: string; merchantId: string; offline: OfflineConfig | undefined; reboots: boolean }>;
  wallets: Array<{ walletId: string; fundMinor: number; perPaymentMaxMinor: number; currency?: string }>;
  agents: Array<{ agentId: string }>;
  /** Glasses, each paired with its own glasses hub, paying from their owner's wallet. */
  glasses?: Array<{ glassesId: string; hubId: string; merchantId: string; walletId: string; ownerId: string; lang: Lang }>;
  /** The service's database goes to a file, so it survives a kill. */
  settlementKills: boolean;
}

export interface WorldHooks {
  /** Test-only: wraps a hub's link to the service, e.g. to plant a bug the explorer must find. */
  wrapLink?: (hubId: string, link: SimHubLink) => HubLinkPorts;
}

export interface WorldOptions {
  /** The seed's one source of randomness; the world and everything in it draw from it. */
  random: Random;
  /** Where journal and database files go when the plan needs them; default memoryBackedDir(). */
  workDir?: string;
  keepTrace?: boolean;
  hooks?: WorldHooks;
}

/**
 * Memory-backed storage when the machine has it (Linux's /dev/shm), else the temp directory. The journals keep
 * synchronous=FULL either way; a world's crashes are simulated, not power cuts, so a real fsync proves nothing here
 * and only makes a seed with a reboot or a kill ten times slower.
 */
export function memoryBackedDir(): string {
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}

/** Virtual time the glasses hubs of a closing world may take to stop (their BLE teardown's bounded waits). */
const glassesStopMsMax = 60_000;

/** Timers one run may run before it counts as stuck (far more than any seed needs: a few hundred). */
export const runStepsMax = 400_000;

/**
 * A whole tapwire stack in one process on one virtual clock: the real settlement service on its SQLite
 * database, the in-memory broker (SimNetwork), tap hubs (real TapHub, real PN532 driver on a VirtualPn532) and the
 * customers' wallets. No sockets, no threads, no real timers: `run` settles the event loop and moves the clock
 * from timer to timer, so one seed always makes the same world do the same things in the same order.
 */
export class SimWorld {
  readonly clock = new VirtualClock();
  readonly trace: Trace;
  readonly network: SimNetwork;
  readonly settlement: SimSettlement;
  readonly hubs: SimTapHub[] = [];
  readonly wallets: SimWallet[] = [];
  readonly agents: SimAgent[] = [];
  readonly glassesHubs: SimGlassesHub[] = [];
  /** Every time a hub showed a customer "approved". */
  readonly approvals: ShownApproval[] = [];
  /** Bugs that stopped a hub's machine (hub id and error text). */
  readonly crashes: string[] = [];
  /** Scheduled work of the world itself that failed (a fault or an action that threw). */
  readonly errors: string[] = [];
  private readonly workDir: string | undefined;

  private constructor(
    readonly plan: WorldPlan,
    private readonly options: WorldOptions,
  ) {
    this.trace = new Trace(this.clock, options.keepTrace ?? false);
    this.network = new SimNetwork({ clock: this.clock, timers: this.clock, random: options.random, trace: this.trace });
    const needsFiles = plan.settlementKills || plan.hubs.some((hub) => hub.reboots);
    this.workDir = needsFiles ? mkdtempSync(join(options.workDir ?? memoryBackedDir(), "tapwire-world-")) : undefined;
    this.settlement = new SimSettlement({
      databasePath: plan.settlementKills ? this.file("settlement.sqlite") : ":memory:",
      serviceKey: generateP256().privateKey,
      clock: this.clock,
      timers: this.clock,
      network: this.network,
      trace: this.trace,
      withGlasses: (plan.glasses?.length ?? 0) > 0,
    });
  }

  /** Starts the service, enrols everyone, and starts every hub connecting. */
  static async create(plan: WorldPlan, options: WorldOptions): Promise<SimWorld> {
    const world = new SimWorld(plan, options);
    try {
      await world.settlement.start();
      world.enrolAndBuild();
      for (const hub of world.hubs) await hub.start();
      for (const hub of world.glassesHubs) await hub.start();
    } catch (error) {
      await world.close();
      throw error;
    }
    return world;
  }

  get nowMs(): number {
    return this.clock.nowMs();
  }

  /** Runs until `done()` holds (checked whenever the loop is quiet) or virtual time reaches `untilMs`. */
  run(untilMs: number, done: () => boolean = () => false): Promise<RunEnd> {
    return runUntil(this.clock, done, { untilMs, stepsMax: runStepsMax });
  }

  /** Runs for `ms` of virtual time. */
  runFor(ms: number): Promise<RunEnd> {
    return this.run(this.nowMs + ms);
  }

  /** Runs `work` after `delayMs` of virtual time; if it fails, that is recorded in `errors`. */
  later(delayMs: number, work: () => Promise<void> | void): void {
    this.clock.setTimeout(() => {
      Promise.resolve()
        .then(work)
        .catch((error: unknown) => {
          this.errors.push(String(error));
          this.trace.record("world", `scheduled work failed: ${String(error)}`);
        });
    }, delayMs);
  }

  /** Every fault over: the network flows, readers answer, clocks agree. Hubs that crashed are started again. */
  async heal(): Promise<void> {
    this.trace.record("world", "heal");
    this.network.heal();
    for (const hub of this.hubs) {
      hub.heal();
      if (!hub.started) await hub.start();
    }
    if (!this.settlement.running) await this.settlement.start();
  }

  /** Nothing left to settle: every hub idle and online with an empty outbox, nothing on the wire. */
  quiescent(): boolean {
    if (!this.network.idle) return false;
    const glassesSettled = this.glassesHubs.every((hub) => hub.started && hub.online && hub.journal.openRequests().length === 0 && hub.journal.pendingSales(1).length === 0);
    return glassesSettled && this.hubs.every((hub) => {
      if (!hub.started) return false;
      const view = hub.view();
      return view.hub === "ready" && view.tap.state === "idle" && hub.journal.openRequests().length === 0 && hub.journal.pendingSales(1).length === 0;
    });
  }

  async close(): Promise<void> {
    await this.stopGlassesHubs();
    for (const hub of this.hubs) {
      hub.removePhone();
      await hub.crash();
    }
    for (const client of [...this.wallets, ...this.agents]) client.close();
    await this.settlement.kill();
    if (this.workDir) rmSync(this.workDir, { recursive: true, force: true });
  }

  private enrolAndBuild(): void {
    const { plan } = this;
    const registry = this.settlement.service.registry;
    const servicePublicKey = this.settlement.service.publicKey;
    for (const merchant of plan.merchants) {
      registry.enrollMerchant({ merchantId: merchant.merchantId, currency: merchant.currency ?? plan.currency, ...(merchant.offlineLimits ? { offlineLimits: merchant.offlineLimits } : {}) });
    }
    const base = { network: this.network, servicePublicKey, clock: this.clock, timers: this.clock, random: this.options.random, trace: this.trace };
    for (const wallet of plan.wallets) {
      const keys = generateP256();
      registry.enrollWallet({ walletId: wallet.walletId, publicKeyPem: publicKeyPem(keys.publicKey), currency: wallet.currency ?? plan.currency, perPaymentMaxMinor: wallet.perPaymentMaxMinor });
      if (wallet.fundMinor > 0) registry.fundWallet(wallet.walletId, wallet.fundMinor);
      this.wallets.push(new SimWallet({ ...base, walletId: wallet.walletId, keys, connectTimeoutMs: 10_000 }));
    }
    for (const agent of plan.agents) {
      const keys = generateP256();
      this.settlement.service.agents.enrollAgent({ agentId: agent.agentId, publicKeyPem: publicKeyPem(keys.publicKey), certificateSerial: `sim-${agent.agentId}` });
      this.agents.push(new SimAgent({ ...base, agentId: agent.agentId, keys, connectTimeoutMs: 10_000 }));
    }
    this.buildGlasses(base);
    const wrapLink = this.options.hooks?.wrapLink;
    for (const hub of plan.hubs) {
      const keys = generateP256();
      registry.enrollHub({ hubId: hub.hubId, merchantId: hub.merchantId, publicKeyPem: publicKeyPem(keys.publicKey), certificateSerial: `sim-${hub.hubId}` });
      this.hubs.push(
        new SimTapHub({
          ...base,
          hubId: hub.hubId,
          merchantId: hub.merchantId,
          hubKey: keys.privateKey,
          journalPath: hub.reboots ? this.file(`${hub.hubId}.journal.sqlite`) : ":memory:",
          offline: hub.offline,
          onShown: (approval) => this.approvals.push(approval),
          onCrash: (hubId, error) => this.crashed(hubId, error),
          ...(wrapLink ? { wrapLink: (link: SimHubLink) => wrapLink(hub.hubId, link) } : {}),
        }),
      );
    }
  }

  /** A BLE link's teardown waits (bounded) on the world's timers, so the clock runs while the glasses hubs stop. */
  private async stopGlassesHubs(): Promise<void> {
    if (this.glassesHubs.length === 0) return;
    let stopped = false;
    const stopping = Promise.all(this.glassesHubs.map((hub) => hub.stop())).finally(() => {
      stopped = true;
    });
    await this.run(this.nowMs + glassesStopMsMax, () => stopped);
    await stopping;
  }

  private buildGlasses(base: Omit<SimGlassesHubDeps, "hubId" | "merchantId" | "hubKey" | "glassesId" | "ownerId" | "walletId" | "lang" | "onCrash">): void {
    const service = this.settlement.service;
    for (const entry of this.plan.glasses ?? []) {
      const keys = generateP256();
      service.registry.enrollHub({ hubId: entry.hubId, merchantId: entry.merchantId, publicKeyPem: publicKeyPem(keys.publicKey), certificateSerial: `sim-${entry.hubId}` });
      const hub = new SimGlassesHub({ ...base, ...entry, hubKey: keys.privateKey, onCrash: (hubId, error) => this.crashed(hubId, error) });
      enrollGlasses(service.database, service.registry, { glassesId: entry.glassesId, walletId: entry.walletId, publicKeyPem: publicKeyPem(hub.glasses.publicKey), ownerId: entry.ownerId }, this.nowMs);
      this.glassesHubs.push(hub);
    }
  }

  private crashed(hubId: string, error: unknown): void {
    this.crashes.push(`${hubId}: ${String(error)}`);
    this.trace.record(hubId, `machine stopped on a bug: ${String(error)}`);
  }

  private file(name: string): string {
    assert(this.workDir !== undefined, "a world whose plan needs no files keeps nothing on disk");
    return join(this.workDir, name);
  }
}
