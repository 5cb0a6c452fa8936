import type { KeyObject } from "node:crypto";
import { GlassesPayerVerifier, glassesSchema } from "../../broker/settlement/glasses-payer-verifier.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { Clock, Timers } from "../../core/sources.ts";
import type { SimNetwork } from "./sim-network.ts";
import type { Trace } from "./trace.ts";

/**
 * The service's sweep (expired review cases, pushes, idempotency pruning) every minute instead of every second: a
 * world runs hours of virtual time, and no review case is opened in one (review policy off, as by default).
 */
export const worldSweepIntervalMs = 60_000;

export interface SimSettlementDeps {
  /** ":memory:", or a file when the service is killed (it starts again on the same database). */
  databasePath: string;
  serviceKey: KeyObject;
  clock: Clock;
  timers: Timers;
  network: SimNetwork;
  trace: Trace;
  /** Glasses hubs pay in this world: the service checks glasses assertions (as SettlementNode does). */
  withGlasses: boolean;
}

/**
 * The real SettlementService of a world (SQLite, group commit, production defaults but for the sweep interval and
 * with signatures checked inline: no worker threads), attached to the world's network as the broker's service.
 * A kill takes it off the network at once (what was on its way to or from it is lost) and stops it; a restart
 * opens the same database again.
 */
export class SimSettlement {
  private current: SettlementService | undefined;
  private unsubscribePush: (() => void) | undefined;

  constructor(private readonly deps: SimSettlementDeps) {}

  get service(): SettlementService {
    if (!this.current) throw new TapwireError("the world's settlement service is down", ErrorCode.ServiceUnavailable);
    return this.current;
  }

  get running(): boolean {
    return this.current !== undefined;
  }

  async start(): Promise<void> {
    const { deps } = this;
    const service = new SettlementService({
      databasePath: deps.databasePath,
      serviceKey: deps.serviceKey,
      clock: deps.clock,
      timers: deps.timers,
      verifyWorkers: 0,
      // The world kills processes, not power: the OS keeps what was written, and a real fsync would end at times the
      // seeded schedule cannot replay.
      syncFile: () => Promise.resolve(),
      // No threads in the world (verifyWorkers 0 too): SQLite checkpoints at commit, where the schedule sees it.
      checkpointThread: false,
      review: { sweepIntervalMs: worldSweepIntervalMs },
      ...(deps.withGlasses ? { payerVerifiers: [new GlassesPayerVerifier()], schemaComponents: [glassesSchema] } : {}),
    });
    await service.start();
    this.current = service;
    this.unsubscribePush = service.onPush((outbound) => deps.network.push(outbound));
    deps.network.attachService({ handle: (inbound) => service.handle(inbound) });
    deps.trace.record("service", "started");
  }

  /**
   * Off the network first, then stopped. Kills come from timers, which run only once the event loop is quiet, so
   * the service's queue is empty by then: nothing committed is lost, and nothing half-done is drained.
   */
  async kill(): Promise<void> {
    const service = this.current;
    if (service === undefined) return;
    this.deps.trace.record("service", `killed with ${service.queueLength} queued`);
    this.deps.network.detachService();
    this.unsubscribePush?.();
    this.current = undefined;
    await service.stop();
  }
}
