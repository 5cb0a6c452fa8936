import { EventEmitter } from "node:events";
import { glassesNotifyUuid, glassesServiceUuid } from "../../firmware-bridge/ble/gatt.ts";
import { attMtuMax, attMtuMin } from "../../firmware-bridge/ble/frames.ts";
import { glassesGattTable } from "./glasses-gatt-table.ts";
import { VirtualGattLink } from "./virtual-gatt-link.ts";
import { hciError, hciReason, type VirtualPeripheral, type VirtualPeripheralHost } from "./virtual-peripheral.ts";

/**
 * A noble bindings object with no radio, keeping the contract of noble's hci bindings (lib/hci-socket/
 * bindings.js, gap.js, gatt.js in @stoprocent/noble 2.8): the methods noble calls, and the events noble listens
 * to, in the order and with the arguments hci emits them. Real noble runs on top of it, so the hub's driver is
 * tested through noble's own Peripheral/Characteristic code. Events come on later turns of the event loop
 * (setImmediate, first in first out), as a radio's do.
 *
 * Slightly over the house's ~300 lines: it is noble's bindings contract, one method per call noble makes.
 */
export type VirtualAdapterState = "poweredOn" | "poweredOff" | "unauthorized" | "unsupported" | "resetting";

/** gatt.js asks for this MTU when the connect parameters name none. */
const hciDesiredMtuDefault = 256;

const clampMtu = (mtu: number) => Math.max(attMtuMin, Math.min(attMtuMax, mtu));

export interface VirtualBleBindingsOptions {
  adapterState?: VirtualAdapterState;
  address?: string;
}

interface ScanSession {
  filterDuplicates: boolean;
  serviceUuids: string[];
  /** The controller's duplicate filter: each address once per scan while it filters. */
  reported: Set<string>;
}

export class VirtualBleBindings extends EventEmitter implements VirtualPeripheralHost {
  private adapterState: VirtualAdapterState;
  private adapterAddress: string;
  private scan: ScanSession | null = null;
  private readonly peripherals = new Map<string, VirtualPeripheral>();
  private readonly links = new Map<string, VirtualGattLink>();
  private readonly pendingConnects = new Map<string, { mtu?: number }>();
  /** Addresses the bindings have seen advertise (bindings.js `_addresses`). */
  private readonly discovered = new Set<string>();
  /** Connection attempts per peripheral id, for tests of the retry policy. */
  readonly connectAttempts = new Map<string, number>();

  constructor(options: VirtualBleBindingsOptions = {}) {
    super();
    this.adapterState = options.adapterState ?? "poweredOn";
    this.adapterAddress = options.address ?? "00:1a:7d:da:71:01";
  }

  addressToId(address: string): string {
    return address.replace(/:/g, "").toLowerCase();
  }

  idOf(peripheral: VirtualPeripheral): string {
    return this.addressToId(peripheral.address);
  }

  addPeripheral(peripheral: VirtualPeripheral): void {
    this.peripherals.set(this.idOf(peripheral), peripheral);
    peripheral.attach(this);
    this.advertisementChanged(peripheral);
  }

  /** Takes a peripheral out of the world (its link, if any, times out). */
  removePeripheral(peripheral: VirtualPeripheral): void {
    const id = this.idOf(peripheral);
    this.dropId(id, hciReason.connectionTimeout);
    this.peripherals.delete(id);
  }

  isConnected(peripheral: VirtualPeripheral): boolean {
    return this.links.has(this.idOf(peripheral));
  }

  /**
   * Powers the adapter off or on. Leaving poweredOn ends every link with Hardware Failure (0x03) and forgets
   * queued connects before the new state is reported, as bindings.js onStateChange does; coming back re-runs
   * hci's initialisation.
   */
  setAdapterState(state: VirtualAdapterState): void {
    if (state === this.adapterState) return;
    if (this.adapterState === "poweredOn") {
      for (const id of [...this.links.keys()]) this.dropId(id, hciReason.hardwareFailure);
      this.scan = null;
      this.pendingConnects.clear();
    }
    this.adapterState = state;
    this.announceAdapter();
  }

  // The contract noble calls.

  start(): void {
    this.announceAdapter();
  }

  stop(): void {
    this.stopScanning();
    for (const id of [...this.links.keys()]) this.dropId(id, hciReason.localHostTerminated);
    this.pendingConnects.clear();
  }

  setScanParameters(): void {
    this.later("scanParametersSet");
  }

  setAddress(address: string): void {
    this.adapterAddress = address;
    this.later("addressChange", address);
  }

  /** gap.js: scanStart(filterDuplicates), then the scan parameters it always sets; a second start only says scanStart. */
  startScanning(serviceUuids: string[] | undefined, allowDuplicates: boolean | undefined): void {
    if (this.adapterState !== "poweredOn") return;
    if (this.scan !== null) {
      this.later("scanStart");
      return;
    }
    this.scan = { filterDuplicates: !allowDuplicates, serviceUuids: serviceUuids ?? [], reported: new Set() };
    this.later("scanStart", this.scan.filterDuplicates);
    this.later("scanParametersSet");
    for (const peripheral of this.peripherals.values()) this.announce(peripheral);
  }

  stopScanning(): void {
    this.scan = null;
    this.later("scanStop");
  }

  /**
   * bindings.js connect: refused unless poweredOn; a connect already queued is ignored; a running scan is stopped
   * first (scanStop), as the controller cannot scan while it initiates. The radio keeps initiating until the
   * peripheral is in range or the central cancels.
   */
  connect(id: string, parameters: { mtu?: number } = {}): void {
    this.connectAttempts.set(id, (this.connectAttempts.get(id) ?? 0) + 1);
    if (this.adapterState !== "poweredOn") {
      this.later("connect", id, new Error(`Cannot connect while adapter state is ${this.adapterState} (not poweredOn)`));
      return;
    }
    if (this.pendingConnects.has(id)) return;
    if (this.scan !== null) this.stopScanning();
    if (this.links.has(id)) {
      this.later("connect", id, hciError(hciReason.aclConnectionAlreadyExists));
      return;
    }
    this.pendingConnects.set(id, parameters);
    const peripheral = this.peripherals.get(id);
    if (peripheral?.inRange) this.establish(id, peripheral);
  }

  /** The LE Create Connection Cancel's completion reports nothing: noble answers the caller itself. */
  cancelConnect(id: string): void {
    this.pendingConnects.delete(id);
  }

  disconnect(id: string): void {
    this.dropId(id, hciReason.localHostTerminated);
  }

  updateRssi(id: string): void {
    const peripheral = this.peripherals.get(id);
    if (this.links.has(id) && peripheral) this.later("rssiUpdate", id, peripheral.rssi);
  }

  // GATT: with no link the request goes nowhere, as bindings.js only warns; noble's disconnect handling or the
  // caller's timeout ends the wait.

  discoverServices(id: string, uuids: string[] | undefined): void {
    this.links.get(id)?.discoverServices(uuids ?? []);
  }

  discoverIncludedServices(id: string, serviceUuid: string): void {
    this.links.get(id)?.discoverIncludedServices(serviceUuid);
  }

  discoverCharacteristics(id: string, serviceUuid: string, uuids: string[] | undefined): void {
    this.links.get(id)?.discoverCharacteristics(serviceUuid, uuids ?? []);
  }

  read(id: string, serviceUuid: string, characteristicUuid: string): void {
    this.links.get(id)?.read(serviceUuid, characteristicUuid);
  }

  write(id: string, serviceUuid: string, characteristicUuid: string, data: Buffer, withoutResponse: boolean): void {
    this.links.get(id)?.write(serviceUuid, characteristicUuid, data, withoutResponse);
  }

  broadcast(id: string): void {
    this.links.get(id)?.broadcast();
  }

  notify(id: string, serviceUuid: string, characteristicUuid: string, enabled: boolean): void {
    this.links.get(id)?.notify(serviceUuid, characteristicUuid, enabled);
  }

  discoverDescriptors(id: string, serviceUuid: string, characteristicUuid: string): void {
    this.links.get(id)?.discoverDescriptors(serviceUuid, characteristicUuid);
  }

  readValue(id: string, serviceUuid: string, characteristicUuid: string, descriptorUuid: string): void {
    this.links.get(id)?.readValue(serviceUuid, characteristicUuid, descriptorUuid);
  }

  writeValue(id: string, serviceUuid: string, characteristicUuid: string, descriptorUuid: string, data: Buffer): void {
    this.links.get(id)?.writeValue(serviceUuid, characteristicUuid, descriptorUuid, data);
  }

  readHandle(id: string, handle: number): void {
    this.links.get(id)?.readHandle(handle);
  }

  writeHandle(id: string, handle: number, data: Buffer, withoutResponse: boolean): void {
    this.links.get(id)?.writeHandle(handle, data, withoutResponse);
  }

  // The peripheral side.

  sendNotification(peripheral: VirtualPeripheral, data: Buffer): boolean {
    return this.links.get(this.idOf(peripheral))?.notification(glassesServiceUuid, glassesNotifyUuid, data) ?? false;
  }

  changeMtu(peripheral: VirtualPeripheral, mtu: number): void {
    const id = this.idOf(peripheral);
    const link = this.links.get(id);
    if (!link) return;
    link.attMtu = clampMtu(mtu);
    this.later("onMtu", id, link.attMtu);
  }

  drop(peripheral: VirtualPeripheral, reason: number = hciReason.connectionTimeout): void {
    this.dropId(this.idOf(peripheral), reason);
  }

  advertisementChanged(peripheral: VirtualPeripheral): void {
    const id = this.idOf(peripheral);
    if (!peripheral.inRange || !this.peripherals.has(id)) return;
    if (this.pendingConnects.has(id)) this.establish(id, peripheral);
    this.announce(peripheral);
  }

  /**
   * LE Connection Complete. A peripheral never seen advertising is first reported as bindings.js does (an empty
   * advertisement, RSSI 127). Then connect, then gatt.js's MTU exchange: it reports the server's Rx MTU as the
   * link's MTU, while the link itself runs at the smaller of the two.
   */
  private establish(id: string, peripheral: VirtualPeripheral): void {
    const parameters = this.pendingConnects.get(id) ?? {};
    this.pendingConnects.delete(id);
    if (peripheral.refuseConnection()) {
      this.later("connect", id, hciError(hciReason.connectionFailed));
      return;
    }
    if (!this.discovered.has(id)) {
      this.discovered.add(id);
      this.later("discover", id, peripheral.address, "random", true, { serviceUuids: [], serviceData: [] }, 127, false);
    }
    const serverMtu = clampMtu(peripheral.mtuMax);
    const attMtu = Math.min(clampMtu(parameters.mtu ?? hciDesiredMtuDefault), serverMtu);
    const table = glassesGattTable(peripheral.advertisement().localName);
    const link = new VirtualGattLink(id, peripheral, table, attMtu, serverMtu, (event, ...args) => this.later(event, ...args));
    this.links.set(id, link);
    peripheral.onConnected(attMtu);
    this.later("connect", id, null);
    this.later("onMtu", id, serverMtu);
  }

  private dropId(id: string, reason: number): void {
    this.pendingConnects.delete(id);
    if (!this.links.delete(id)) return;
    this.peripherals.get(id)?.onDisconnected();
    this.later("disconnect", id, reason);
  }

  /**
   * An advertising report as gap.js passes it on: a connectable ADV_IND with its scan response, so connectable
   * and not "scannable" (that flag marks ADV_SCAN_IND). bindings.js matches the scan's service filter against
   * the advertised service UUIDs and service data UUIDs; a connected peripheral no longer advertises.
   */
  private announce(peripheral: VirtualPeripheral): void {
    const scan = this.scan;
    if (scan === null || this.adapterState !== "poweredOn" || !peripheral.inRange) return;
    const id = this.idOf(peripheral);
    if (this.links.has(id) || (scan.filterDuplicates && scan.reported.has(id))) return;
    const advertisement = peripheral.advertisement();
    const offered = [...advertisement.serviceUuids, ...advertisement.serviceData.map((d) => d.uuid)];
    if (scan.serviceUuids.length > 0 && !offered.some((uuid) => scan.serviceUuids.includes(uuid))) return;
    scan.reported.add(id);
    this.discovered.add(id);
    this.later("discover", id, peripheral.address, "random", true, advertisement, peripheral.rssi, false);
  }

  /** hci's initialisation: the controller's address, then poweredOn with the scan parameters it sets on the way. */
  private announceAdapter(): void {
    if (this.adapterState !== "poweredOn") {
      this.later("stateChange", this.adapterState);
      return;
    }
    this.later("addressChange", this.adapterAddress);
    this.later("stateChange", this.adapterState);
    this.later("scanParametersSet");
  }

  private later(event: string, ...args: unknown[]): void {
    setImmediate(() => this.emit(event, ...args));
  }
}
