import type { Characteristic, Noble, Peripheral } from "@stoprocent/noble";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import type { Timers } from "../../core/sources.ts";
import { attMtuMax, attMtuMin } from "./frames.ts";
import { glassesNotifyUuid, glassesServiceUuid, glassesWriteUuid, readAdvert, type GlassesAdvert } from "./gatt.ts";
import type { GlassesLinkSettings } from "./glasses-link-options.ts";
import { withTimeout } from "./waits.ts";

const log = logger("tapwire:ble");

/**
 * The radio's steps of one connection, each bounded by its own timeout: wait for the adapter, scan for tapwire's
 * service, discover its characteristics, learn the ATT MTU, hang up. Each step leaves nothing behind (listeners,
 * a running scan) whether it succeeds, fails or is aborted.
 */
export class GattSteps {
  constructor(
    private readonly noble: Noble,
    private readonly timers: Timers,
    private readonly settings: GlassesLinkSettings,
  ) {}

  /** Resolves once the adapter reports poweredOn; BleAdapterUnavailable after poweredOnMs. */
  async poweredOn(signal: AbortSignal): Promise<void> {
    if (this.noble.state === "poweredOn") return;
    let listener: ((state: string) => void) | undefined;
    const poweredOn = new Promise<void>((resolve) => {
      listener = (state) => {
        if (state === "poweredOn") resolve();
      };
      this.noble.on("stateChange", listener);
    });
    try {
      await withTimeout(this.timers, poweredOn, this.settings.timeouts.poweredOnMs, "adapter poweredOn", signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new TapwireError(`Bluetooth adapter is ${this.noble.state}, not poweredOn`, ErrorCode.BleAdapterUnavailable);
    } finally {
      this.noble.removeListener("stateChange", listener!);
    }
  }

  /** The first connectable peripheral advertising tapwire's service whose advert `matches`; BleNotFound after scanMs. */
  scan(matches: (advert: GlassesAdvert) => boolean, signal: AbortSignal): Promise<Peripheral> {
    const { scanMs, scanStopMs } = this.settings.timeouts;
    let onDiscover: ((peripheral: Peripheral) => void) | undefined;
    const found = new Promise<Peripheral>((resolve) => {
      onDiscover = (peripheral) => {
        const advert = readAdvert(peripheral.advertisement);
        if (advert && peripheral.connectable && matches(advert)) resolve(peripheral);
      };
      this.noble.on("discover", onDiscover);
    });
    const scanning = withTimeout(this.timers, this.noble.startScanningAsync([glassesServiceUuid], true).then(() => found), scanMs, "scan", signal).catch(
      (error: unknown) => {
        const failure = asTapwireError(error, ErrorCode.BleAdapterUnavailable);
        if (failure.code === ErrorCode.BleTimeout) throw new TapwireError(`no tapwire glasses found within ${scanMs} ms`, ErrorCode.BleNotFound);
        throw failure;
      },
    );
    return scanning.finally(async () => {
      this.noble.removeListener("discover", onDiscover!);
      await withTimeout(this.timers, this.noble.stopScanningAsync(), scanStopMs, "stop scanning").catch((error: unknown) => {
        log.warn({ error: String(error) }, "scan did not stop cleanly");
      });
    });
  }

  /** tapwire's write and notify characteristics, with the properties the link uses; BleServiceMissing otherwise. */
  async discover(peripheral: Peripheral, signal: AbortSignal): Promise<{ write: Characteristic; notify: Characteristic }> {
    const discovered = await withTimeout(
      this.timers,
      peripheral.discoverSomeServicesAndCharacteristicsAsync([glassesServiceUuid], [glassesWriteUuid, glassesNotifyUuid]),
      this.settings.timeouts.discoverMs,
      "discover",
      signal,
    ).catch((error: unknown) => {
      if (error instanceof TapwireError) throw error;
      throw new TapwireError(`tapwire service not found: ${String(error)}`, ErrorCode.BleServiceMissing);
    });
    const write = discovered.characteristics.find((c) => c.uuid === glassesWriteUuid);
    const notify = discovered.characteristics.find((c) => c.uuid === glassesNotifyUuid);
    if (!write || !notify) throw new TapwireError("tapwire characteristics missing", ErrorCode.BleServiceMissing);
    if (!notify.properties.includes("notify")) throw new TapwireError("notify characteristic cannot notify", ErrorCode.BleServiceMissing);
    const writeKind = this.settings.writeWithoutResponse ? "writeWithoutResponse" : "write";
    if (!write.properties.includes(writeKind)) throw new TapwireError(`write characteristic lacks ${writeKind}`, ErrorCode.BleServiceMissing);
    return { write, notify };
  }

  /** The MTU the bindings report after connecting; links that never report one keep the ATT minimum. */
  async learnMtu(peripheral: Peripheral, reported: () => number | undefined, signal: AbortSignal): Promise<number> {
    const known = reported() ?? peripheral.mtu ?? undefined;
    if (known !== undefined) return this.negotiated(known);
    let listener: ((mtu: number) => void) | undefined;
    const next = new Promise<number>((resolve) => {
      listener = resolve;
      peripheral.once("mtu", listener);
    });
    try {
      return this.negotiated(await withTimeout(this.timers, next, this.settings.timeouts.mtuMs, "MTU exchange", signal));
    } catch (error) {
      if (signal.aborted) throw error;
      log.info({ mtu: attMtuMin }, "no MTU reported; using the ATT minimum");
      return attMtuMin;
    } finally {
      peripheral.removeListener("mtu", listener!);
    }
  }

  /**
   * noble reports the peer's MTU from its exchange, not the one both sides agreed on: the ATT MTU in use is the
   * smaller of what the hub asked for and what the glasses offered.
   */
  negotiated(reportedMtu: number): number {
    return Math.max(attMtuMin, Math.min(attMtuMax, Math.floor(Math.min(reportedMtu, this.settings.mtuRequested))));
  }

  /** Disconnects if still connected and waits (bounded) for the disconnect to be confirmed. */
  async hangUp(peripheral: Peripheral): Promise<void> {
    if (peripheral.state !== "connected") return;
    await withTimeout(this.timers, peripheral.disconnectAsync(), this.settings.timeouts.disconnectMs, "disconnect").catch((error: unknown) => {
      log.warn({ error: String(error) }, "disconnect not confirmed");
    });
  }
}
