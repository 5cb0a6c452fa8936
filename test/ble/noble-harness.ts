import type { Noble, Peripheral } from "@stoprocent/noble";
import { vi } from "vitest";
import { glassesServiceUuid } from "../../firmware-bridge/ble/gatt.ts";
import { VirtualBleBindings, type VirtualBleBindingsOptions } from "../../simulator/glasses/virtual-ble-bindings.ts";
import { createVirtualNoble } from "../../simulator/glasses/virtual-noble.ts";
import type { VirtualAdvertisement, VirtualPeripheral, VirtualPeripheralHost } from "../../simulator/glasses/virtual-peripheral.ts";

/** A peripheral that only records what the link did to it, so the bindings are tested apart from the glasses. */
export class StubPeripheral implements VirtualPeripheral {
  readonly writes: Buffer[] = [];
  readonly subscriptions: boolean[] = [];
  connectedMtu: number | undefined;
  inRange = true;
  refuseNext = false;
  host: VirtualPeripheralHost | undefined;

  constructor(
    readonly address = "f0:0d:00:00:00:aa",
    readonly mtuMax = 185,
    readonly rssi = -52,
  ) {}

  advertisement(): VirtualAdvertisement {
    return {
      localName: "tapwire-glasses",
      serviceUuids: [glassesServiceUuid],
      serviceData: [{ uuid: glassesServiceUuid, data: Buffer.of(1, 2, 3) }],
      txPowerLevel: -8,
      manufacturerData: undefined,
      serviceSolicitationUuids: [],
    };
  }

  attach(host: VirtualPeripheralHost): void {
    this.host = host;
  }

  refuseConnection(): boolean {
    const refuse = this.refuseNext;
    this.refuseNext = false;
    return refuse;
  }

  onConnected(mtu: number): void {
    this.connectedMtu = mtu;
  }

  onDisconnected(): void {
    this.connectedMtu = undefined;
  }

  onSubscribed(enabled: boolean): void {
    this.subscriptions.push(enabled);
  }

  onWrite(data: Buffer): void {
    this.writes.push(data);
  }

  setInRange(inRange: boolean): void {
    this.inRange = inRange;
    if (inRange) this.host?.advertisementChanged(this);
  }
}

export interface NobleWorld {
  bindings: VirtualBleBindings;
  noble: Noble;
  stub: StubPeripheral;
  /** The events the bindings emitted, in order, as [name, ...arguments], since the last takeEventNames(). */
  events: unknown[][];
  /** The names of the events emitted since the last call; empties `events`. */
  takeEventNames(): string[];
}

export function nobleWorld(options: VirtualBleBindingsOptions = {}, stub = new StubPeripheral()): NobleWorld {
  const bindings = new VirtualBleBindings(options);
  const events: unknown[][] = [];
  const emit = bindings.emit.bind(bindings);
  vi.spyOn(bindings, "emit").mockImplementation((event: string | symbol, ...args: unknown[]) => {
    events.push([event, ...args]);
    return emit(event, ...args);
  });
  const noble = createVirtualNoble(bindings);
  bindings.addPeripheral(stub);
  return { bindings, noble, stub, events, takeEventNames: () => events.splice(0).map(([name]) => name as string) };
}

/** Lets every event already queued by the bindings (setImmediate, in order) be delivered. */
export async function drainEvents(turns = 20): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export async function poweredOn(noble: Noble): Promise<void> {
  await noble.waitForPoweredOnAsync(1_000);
}

/** Scans for tapwire's service until the first peripheral is reported, then stops. */
export async function discoverOne(noble: Noble, allowDuplicates = false): Promise<Peripheral> {
  const found = new Promise<Peripheral>((resolve) => noble.once("discover", resolve));
  await noble.startScanningAsync([glassesServiceUuid], allowDuplicates);
  const peripheral = await found;
  return peripheral;
}
