import type { SimWorld } from "../world/world.ts";
import type { FaultKind, FaultPlan } from "./scenario.ts";

/** Faults that hit a connection (a hub's, or a wallet's); the rest hit a hub. */
const networkFaults = new Set<FaultKind>(["drop", "duplicate", "stall", "cut"]);

/** The chip stops answering this many commands while it hangs: more than any wait of the driver sends. */
const hangCommands = 1_000_000;

/**
 * Starts one fault now and schedules its end (after `durationMs`). Network faults hit the hub's connection (or
 * a wallet's); reader faults hit the hub's VirtualPn532 and its cable; a reboot crashes the hub and starts it
 * again on its journal, a power cut does so the next time a sale reaches a given step; a settlement kill stops the service until it restarts on the same database.
 */
export async function startFault(world: SimWorld, fault: FaultPlan): Promise<void> {
  const hub = world.hubs[fault.hubIndex]!;
  const principal =
    fault.walletIndex === undefined ? { kind: "hub" as const, id: hub.hubId } : { kind: "wallet" as const, id: world.wallets[fault.walletIndex]!.walletId };
  const later = (work: () => Promise<void> | void) => world.later(fault.durationMs, work);
  const target = networkFaults.has(fault.kind) ? `${principal.kind}/${principal.id} ${fault.direction}` : `hub/${hub.hubId}`;
  world.trace.record("fault", `${fault.kind} ${target} ${fault.durationMs}ms x${fault.count} skew ${fault.skewMs} step ${fault.step}`);
  switch (fault.kind) {
    case "drop":
      return world.network.pipeOf(principal, fault.direction)?.dropNext(fault.count);
    case "duplicate":
      return world.network.pipeOf(principal, fault.direction)?.duplicateNext(fault.count);
    case "stall":
      return world.network.pipeOf(principal, fault.direction)?.stall(world.nowMs + fault.durationMs);
    case "cut":
      return world.network.cut(principal);
    case "refuse":
      return world.network.refuseConnects(world.nowMs + fault.durationMs);
    case "brokerRestart":
      return world.network.restartBroker(Math.min(fault.durationMs, 30_000));
    case "settlementKill":
      await world.settlement.kill();
      return later(() => (world.settlement.running ? undefined : world.settlement.start()));
    case "readerGarbage":
      return hub.chip.setFaults({ garbageBeforeFrames: 2 * fault.count, badChecksumResponses: fault.count, nackCommands: fault.count, splitChunks: fault.count > 2 });
    case "readerHang":
      hub.chip.setFaults({ silentCommands: hangCommands });
      return later(() => hub.chip.setFaults({ silentCommands: 0 }));
    case "readerGone":
      hub.pullReader();
      return later(() => hub.reattachReader());
    case "clockSkew":
      hub.skewMs = fault.skewMs;
      return later(() => {
        hub.skewMs = 0;
      });
    case "hubReboot":
      await hub.crash();
      return later(() => (hub.started ? undefined : hub.start()));
    case "powerCut":
      return hub.armPowerCut(fault.step, () =>
        world.later(0, async () => {
          await hub.crash();
          later(() => (hub.started ? undefined : hub.start()));
        }),
      );
  }
}
