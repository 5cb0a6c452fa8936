import type { Principal } from "../../protocol/topics.ts";
import { healthyPn532 } from "../pn532/virtual-pn532.ts";
import type { SimTapHub } from "../world/sim-tap-hub.ts";
import type { SimWorld } from "../world/world.ts";
import type { FaultSpec } from "./step-schema.ts";
import type { ScenarioWorld } from "./scenario-world.ts";

/** The chip stops answering this many commands while it hangs: more than any wait of the driver sends. */
const hangCommands = 1_000_000;

function hubOf(world: SimWorld, hubId: string): SimTapHub {
  return world.hubs.find((hub) => hub.hubId === hubId)!;
}

/** The connection a network fault hits. */
function principalOf(fault: { hub?: string | undefined; wallet?: string | undefined; agent?: string | undefined }): Principal {
  if (fault.wallet !== undefined) return { kind: "wallet", id: fault.wallet };
  if (fault.agent !== undefined) return { kind: "agent", id: fault.agent };
  return { kind: "hub", id: fault.hub! };
}

/** The hub is back on `offForMs` after a cut (if it is still off then: a `reboot` step may have come first). */
function powerBackAfter(world: SimWorld, hub: SimTapHub, offForMs: number | undefined): void {
  if (offForMs !== undefined) world.later(offForMs, () => (hub.started ? undefined : hub.start()));
}

/**
 * One fault, now, through the simulators' own switches: the hub's VirtualPn532 and its cable, the SimNetwork
 * (connections, broker, refusals), the settlement service, a hub's power and clock, the glasses' radio. Faults
 * with a duration schedule their own end; the rest last until a step ends them (readerRecover, readerBack,
 * settlementRestart, reboot, heal).
 */
export async function runFault(context: ScenarioWorld, fault: FaultSpec): Promise<void> {
  const { world } = context;
  world.trace.record("fault", JSON.stringify(fault));
  switch (fault.kind) {
    case "readerGarbage":
      return hubOf(world, fault.hub).chip.setFaults({ garbageBeforeFrames: fault.frames });
    case "readerSplitFrames":
      return hubOf(world, fault.hub).chip.setFaults({ splitChunks: true });
    case "readerBadChecksum":
      return hubOf(world, fault.hub).chip.setFaults({ badChecksumResponses: fault.count });
    case "readerNack":
      return hubOf(world, fault.hub).chip.setFaults({ nackCommands: fault.count });
    case "readerSilent":
      return hubOf(world, fault.hub).chip.setFaults({ silentCommands: fault.count });
    case "readerHang":
      return hubOf(world, fault.hub).chip.setFaults({ silentCommands: hangCommands });
    case "readerRecover":
      return hubOf(world, fault.hub).chip.setFaults(healthyPn532);
    case "readerTargetRemoved":
      return hubOf(world, fault.hub).chip.setFaults({ removeTargetAtApdu: fault.atApdu });
    case "readerApplicationError":
      return hubOf(world, fault.hub).chip.setFaults({ applicationErrorCommands: fault.count });
    case "readerGone":
      return hubOf(world, fault.hub).pullReader();
    case "readerBack":
      return hubOf(world, fault.hub).reattachReader();
    case "linkCut":
      return world.network.cut(principalOf(fault));
    case "linkRefuse":
      return world.network.refuseConnects(world.nowMs + fault.for);
    case "linkStall":
      return world.network.pipeOf(principalOf(fault), fault.direction)?.stall(world.nowMs + fault.for);
    case "linkDrop":
      return world.network.pipeOf(principalOf(fault), fault.direction)?.dropNext(fault.count);
    case "linkDuplicate":
      return world.network.pipeOf(principalOf(fault), fault.direction)?.duplicateNext(fault.count);
    case "brokerRestart":
      return world.network.restartBroker(fault.down);
    case "settlementKill":
      return world.settlement.kill();
    case "settlementRestart":
      return world.settlement.running ? undefined : world.settlement.start();
    case "powerCut":
      return powerCut(world, fault);
    case "reboot": {
      const hub = hubOf(world, fault.hub);
      return hub.started ? undefined : hub.start();
    }
    case "clockSkew":
      hubOf(world, fault.hub).skewMs = fault.skew;
      return;
    case "bleDrop":
      return glassesOf(context, fault.glasses).dropLink();
    case "bleOutOfRange": {
      const glasses = glassesOf(context, fault.glasses);
      glasses.setInRange(false);
      return world.later(fault.for, () => glasses.setInRange(true));
    }
  }
}

function glassesOf(context: ScenarioWorld, glassesId: string) {
  return context.world.glassesHubs.find((hub) => hub.glasses.glassesId === glassesId)!.glasses;
}

async function powerCut(world: SimWorld, fault: Extract<FaultSpec, { kind: "powerCut" }>): Promise<void> {
  const hub = hubOf(world, fault.hub);
  if (fault.atStep === undefined) {
    await hub.crash();
    return powerBackAfter(world, hub, fault.offFor);
  }
  hub.armPowerCut(fault.atStep, () =>
    world.later(0, async () => {
      await hub.crash();
      powerBackAfter(world, hub, fault.offFor);
    }),
  );
}
