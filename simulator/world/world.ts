import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OfflineConfig } from "../../device/tap/tap-config.ts";
import { assert } from "../../core/assert.ts";
import type { OfflineLimits } from "../../protocol/contract.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { VirtualClock, type Random } from "../../core/sources.ts";
import { SimAgent } from "./sim-agent.ts";
import type { SimHubLink } from "./sim-hub-link.ts";
import { runUntil, type RunEnd } from "./sim-loop.ts";
import { SimNetwork } from "./sim-network.ts";
import { SimSettlement } from "./sim-settlement.ts";
import { SimTapHub, type HubLinkPorts, type ShownApproval } from "./sim-tap-hub.ts";
import { SimWallet } from "./sim-wallet.ts";
import { Trace } from "./trace.ts";

/** Who is in a world, enrolled before it starts. */
export interface WorldPlan {
  currency: string;
  merchants: Array<{ merchantId: string; offlineLimits: OfflineLimits | undefined }>;
  /** `reboots`: the hub's journal goes to a file, so it survives a crash. */
  hubs: Array<{ hubId: string; merchantId: string; offline: OfflineConfig | undefined; reboots: boolean }>;
  wallets: Array<{ walletId: string; fundMinor: number; perPaymentMaxMinor: number }>;
  agents: Array<{ agentId: string }>;
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
    });
  }

  /** Starts the service, enrols everyone, and starts every hub connecting. */
  static async create(plan: WorldPlan, options: WorldOptions): Promise<SimWorld> {
    const world = new SimWorld(plan, options);
    try {
      await world.settlement.start();
      world.enrolAndBuild();
      for (const hub of world.hubs) await hub.start();
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
    return this.hubs.every((hub) => {
      if (!hub.started) return false;
      const view = hub.view();
      return view.hub === "ready" && view.tap.state === "idle" && hub.journal.openRequests().length === 0 && hub.journal.pendingSales(1).length === 0;
    });
  }

  async close(): Promise<void> {
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
      registry.enrollMerchant({ merchantId: merchant.merchantId, currency: plan.currency, ...(merchant.offlineLimits ? { offlineLimits: merchant.offlineLimits } : {}) });
    }
    const base = { network: this.network, servicePublicKey, clock: this.clock, timers: this.clock, random: this.options.random, trace: this.trace };
    for (const wallet of plan.wallets) {
      const keys = generateP256();
      registry.enrollWallet({ walletId: wallet.walletId, publicKeyPem: publicKeyPem(keys.publicKey), currency: plan.currency, perPaymentMaxMinor: wallet.perPaymentMaxMinor });
      if (wallet.fundMinor > 0) registry.fundWallet(wallet.walletId, wallet.fundMinor);
      this.wallets.push(new SimWallet({ ...base, walletId: wallet.walletId, keys, connectTimeoutMs: 10_000 }));
    }
    for (const agent of plan.agents) {
      const keys = generateP256();
      this.settlement.service.agents.enrollAgent({ agentId: agent.agentId, publicKeyPem: publicKeyPem(keys.publicKey), certificateSerial: `sim-${agent.agentId}` });
      this.agents.push(new SimAgent({ ...base, agentId: agent.agentId, keys, connectTimeoutMs: 10_000 }));
    }
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
          onCrash: (hubId, error) => {
            this.crashes.push(`${hubId}: ${String(error)}`);
            this.trace.record(hubId, `machine stopped on a bug: ${String(error)}`);
          },
          ...(wrapLink ? { wrapLink: (link: SimHubLink) => wrapLink(hub.hubId, link) } : {}),
        }),
      );
    }
  }

  private file(name: string): string {
    assert(this.workDir !== undefined, "a world whose plan needs no files keeps nothing on disk");
    return join(this.workDir, name);
  }
}
