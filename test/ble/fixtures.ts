import type { EventEmitter } from "node:events";
import { GlassesLink } from "../../firmware-bridge/ble/glasses-link.ts";
import type { GlassesLinkOptions } from "../../firmware-bridge/ble/glasses-link-options.ts";
import { MemoryPairingStore, type PairingStore } from "../../firmware-bridge/ble/pairing-store.ts";
import { VirtualBleBindings } from "../../simulator/glasses/virtual-ble-bindings.ts";
import { VirtualGlasses, type VirtualGlassesOptions } from "../../simulator/glasses/virtual-glasses.ts";
import { createVirtualNoble } from "../../simulator/glasses/virtual-noble.ts";

/** Short limits so faults, timeouts and backoff play out in milliseconds with real timers. */
export const fastLinkOptions = {
  timeouts: {
    poweredOnMs: 500,
    scanMs: 300,
    connectMs: 300,
    discoverMs: 300,
    subscribeMs: 300,
    mtuMs: 200,
    writeMs: 300,
    authMs: 300,
    pairMs: 2_000,
    disconnectMs: 200,
    scanStopMs: 200,
  },
  reconnect: { delayMsInitial: 10, delayMsMax: 40, attemptsMax: 6 },
  expireIntervalMs: 10,
  frames: { reassemblyTimeoutMs: 80 },
} satisfies Partial<GlassesLinkOptions>;

export interface World {
  bindings: VirtualBleBindings;
  store: PairingStore;
  link: GlassesLink;
  glasses: VirtualGlasses;
}

let addressCounter = 0;

export function makeGlasses(options: Partial<VirtualGlassesOptions> = {}): VirtualGlasses {
  addressCounter++;
  const suffix = addressCounter.toString(16).padStart(2, "0");
  return new VirtualGlasses({ glassesId: "glasses-a", ownerId: "owner-1", address: `f0:0d:00:00:00:${suffix}`, ...options });
}

export function makeWorld(options: Partial<GlassesLinkOptions> = {}, glassesOptions: Partial<VirtualGlassesOptions> = {}): World {
  const bindings = new VirtualBleBindings();
  const noble = createVirtualNoble(bindings);
  const store = options.store ?? new MemoryPairingStore();
  const link = new GlassesLink({ noble, store, ...fastLinkOptions, ...options });
  const glasses = makeGlasses(glassesOptions);
  bindings.addPeripheral(glasses);
  return { bindings, store, link, glasses };
}

/** Resolves with the arguments of the next `event` that satisfies `accept`; rejects after `timeoutMs`. */
export function nextEvent<T extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  accept: (...args: T) => boolean = () => true,
  timeoutMs = 2_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      if (!accept(...(args as T))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on(event, listener);
  });
}

/** Starts the link and pairs it with `glasses` through the code they show. */
export async function startPaired(world: World, glasses: VirtualGlasses = world.glasses): Promise<void> {
  await world.link.start();
  const code = glasses.showPairingCode();
  await world.link.pair(code);
  await world.link.waitUntilReady(2_000);
}

/** Collects every emission of `event` into an array. */
export function collect<T>(emitter: EventEmitter, event: string): T[] {
  const items: T[] = [];
  emitter.on(event, (item: T) => items.push(item));
  return items;
}
