import { EventEmitter } from "node:events";
import { glassesNotifyUuid, glassesServiceUuid, glassesWriteUuid } from "../../firmware-bridge/ble/gatt.ts";
import { attHeaderBytes, attMtuMax, attMtuMin } from "../../firmware-bridge/ble/frames.ts";

/**
 * A noble bindings object with no radio: the same contract noble's hci/mac/win bindings fulfil (methods noble
 * calls, events noble listens to, with the same arguments), hosting virtual peripherals. Real noble runs on
 * top of it, so the hub's driver is tested through noble's own Peripheral/Characteristic code.
 *
 * Events are emitted on later turns of the event loop (setImmediate, first in first out), as a radio's are.
 */
export type VirtualAdapterState = "poweredOn" | "poweredOff" | "unauthorized" | "unsupported" | "resetting";

/** What a virtual peripheral must offer its host bindings. */
export interface VirtualPeripheral {
  readonly address: string;
  readonly rssi: number;
  readonly mtuMax: number;
  /** Advertising and reachable: discoverable while scanning, and a connect completes. */
  readonly inRange: boolean;
  advertisement(): VirtualAdvertisement;
  attach(host: VirtualPeripheralHost): void;
  /** Whether to refuse this connection attempt (a fault switch). */
  refuseConnection(): boolean;
  onConnected(mtu: number): void;
  onDisconnected(): void;
  onSubscribed(enabled: boolean): void;
  onWrite(data: Buffer): void;
}

export interface VirtualAdvertisement {
  localName: string;
  serviceUuids: string[];
  serviceData: Array<{ uuid: string; data: Buffer }>;
  txPowerLevel: number;
  manufacturerData: Buffer | undefined;
  serviceSolicitationUuids: string[];
}

/** What the bindings offer a peripheral: the ways the peripheral side can act on the link. */
export interface VirtualPeripheralHost {
  /** Sends a notification on the notify characteristic; false when nobody is connected and subscribed. */
  sendNotification(peripheral: VirtualPeripheral, data: Buffer): boolean;
  /** The ATT MTU changed (as after a new MTU exchange). */
  changeMtu(peripheral: VirtualPeripheral, mtu: number): void;
  /** The peripheral drops the link (supervision timeout by default). */
  drop(peripheral: VirtualPeripheral, reason?: number): void;
  /** Its advertisement or range changed: rediscovered if scanning, a pending connect completes. */
  advertisementChanged(peripheral: VirtualPeripheral): void;
}

interface Link {
  mtu: number;
  subscribed: boolean;
}

/** HCI reasons the bindings report, as hci bindings do (numbers). */
export const hciReason = {
  connectionTimeout: 0x08,
  remoteUserTerminated: 0x13,
  localHostTerminated: 0x16,
  connectionFailed: 0x3e,
} as const;

/** noble's hci Gatt asks for this MTU when the connect parameters name none. */
const hciDesiredMtuDefault = 256;

const characteristics = [
  { uuid: glassesWriteUuid, properties: ["write", "writeWithoutResponse"] },
  { uuid: glassesNotifyUuid, properties: ["notify"] },
];

export interface VirtualBleBindingsOptions {
  adapterState?: VirtualAdapterState;
  address?: string;
}

export class VirtualBleBindings extends EventEmitter implements VirtualPeripheralHost {
  private adapterState: VirtualAdapterState;
  private readonly adapterAddress: string;
  private scanning = false;
  private scanServiceUuids: string[] = [];
  private readonly peripherals = new Map<string, VirtualPeripheral>();
  private readonly links = new Map<string, Link>();
  private readonly pendingConnects = new Map<string, { mtu?: number } | undefined>();
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

  /** Takes a peripheral out of the world (its link, if any, drops). */
  removePeripheral(peripheral: VirtualPeripheral): void {
    const id = this.idOf(peripheral);
    if (this.links.has(id)) this.drop(peripheral, hciReason.connectionTimeout);
    this.peripherals.delete(id);
    this.pendingConnects.delete(id);
  }

  isConnected(peripheral: VirtualPeripheral): boolean {
    return this.links.has(this.idOf(peripheral));
  }

  /** Power the adapter off or on; leaving poweredOn drops every link first, as hci bindings do. */
  setAdapterState(state: VirtualAdapterState): void {
    if (state === this.adapterState) return;
    if (this.adapterState === "poweredOn") {
      for (const id of [...this.links.keys()]) this.dropId(id, 0x03);
      this.scanning = false;
      this.pendingConnects.clear();
    }
    this.adapterState = state;
    this.later("stateChange", state);
  }

  // The contract noble calls.

  start(): void {
    this.later("addressChange", this.adapterAddress);
    this.later("stateChange", this.adapterState);
  }

  stop(): void {
    this.scanning = false;
    for (const id of [...this.links.keys()]) this.dropId(id, hciReason.localHostTerminated);
    this.pendingConnects.clear();
  }

  reset(): void {
    this.stop();
  }

  setScanParameters(): void {
    this.later("scanParametersSet");
  }

  setAddress(address: string): void {
    this.later("addressChange", address);
  }

  startScanning(serviceUuids: string[] | undefined, allowDuplicates: boolean | undefined): void {
    this.scanning = true;
    this.scanServiceUuids = serviceUuids ?? [];
    this.later("scanStart", !allowDuplicates);
    for (const peripheral of this.peripherals.values()) this.announce(peripheral);
  }

  stopScanning(): void {
    this.scanning = false;
    this.later("scanStop");
  }

  connect(id: string, parameters?: { mtu?: number }): void {
    this.connectAttempts.set(id, (this.connectAttempts.get(id) ?? 0) + 1);
    const peripheral = this.peripherals.get(id);
    if (this.adapterState !== "poweredOn" || !peripheral) {
      this.later("connect", id, new Error(`cannot connect to ${id}`));
      return;
    }
    if (this.links.has(id)) {
      this.later("connect", id, null);
      return;
    }
    if (!peripheral.inRange) {
      // A radio keeps initiating until the peripheral shows up or the central cancels.
      this.pendingConnects.set(id, parameters);
      return;
    }
    this.establish(id, peripheral, parameters);
  }

  cancelConnect(id: string): void {
    this.pendingConnects.delete(id);
  }

  disconnect(id: string): void {
    this.dropId(id, hciReason.localHostTerminated);
  }

  updateRssi(id: string): void {
    this.later("rssiUpdate", id, this.peripherals.get(id)?.rssi ?? -127);
  }

  discoverServices(id: string, uuids: string[] | undefined): void {
    if (!this.requireLink(id)) return;
    const wanted = uuids ?? [];
    const services = wanted.length === 0 || wanted.includes(glassesServiceUuid) ? [glassesServiceUuid] : [];
    this.later("servicesDiscover", id, services);
  }

  discoverIncludedServices(id: string, serviceUuid: string): void {
    if (!this.requireLink(id)) return;
    this.later("includedServicesDiscover", id, serviceUuid, []);
  }

  discoverCharacteristics(id: string, serviceUuid: string, uuids: string[] | undefined): void {
    if (!this.requireLink(id)) return;
    const wanted = uuids ?? [];
    const found = serviceUuid !== glassesServiceUuid ? [] : characteristics.filter((c) => wanted.length === 0 || wanted.includes(c.uuid));
    this.later("characteristicsDiscover", id, serviceUuid, found.map((c) => ({ uuid: c.uuid, properties: [...c.properties] })));
  }

  read(id: string, serviceUuid: string, characteristicUuid: string): void {
    if (!this.requireLink(id)) return;
    this.later("read", id, serviceUuid, characteristicUuid, Buffer.alloc(0), false, new Error("read not permitted"));
  }

  write(id: string, serviceUuid: string, characteristicUuid: string, data: Buffer, _withoutResponse: boolean): void {
    const link = this.links.get(id);
    const peripheral = this.peripherals.get(id);
    if (!link || !peripheral) return;
    if (serviceUuid !== glassesServiceUuid || characteristicUuid !== glassesWriteUuid) {
      this.later("write", id, serviceUuid, characteristicUuid, new Error("write not permitted"));
      return;
    }
    if (data.length > link.mtu - attHeaderBytes) {
      this.later("write", id, serviceUuid, characteristicUuid, new Error(`value of ${data.length} bytes exceeds ATT MTU ${link.mtu} - 3`));
      return;
    }
    peripheral.onWrite(Buffer.from(data));
    this.later("write", id, serviceUuid, characteristicUuid);
  }

  broadcast(id: string, serviceUuid: string, characteristicUuid: string, broadcast: boolean): void {
    this.later("broadcast", id, serviceUuid, characteristicUuid, broadcast);
  }

  notify(id: string, serviceUuid: string, characteristicUuid: string, enabled: boolean): void {
    const link = this.links.get(id);
    const peripheral = this.peripherals.get(id);
    if (!link || !peripheral) return;
    if (characteristicUuid !== glassesNotifyUuid) {
      this.later("notify", id, serviceUuid, characteristicUuid, false, new Error("notify not permitted"));
      return;
    }
    link.subscribed = enabled;
    this.later("notify", id, serviceUuid, characteristicUuid, enabled);
    peripheral.onSubscribed(enabled);
  }

  discoverDescriptors(id: string, serviceUuid: string, characteristicUuid: string): void {
    if (!this.requireLink(id)) return;
    this.later("descriptorsDiscover", id, serviceUuid, characteristicUuid, characteristicUuid === glassesNotifyUuid ? ["2902"] : []);
  }

  readValue(id: string, serviceUuid: string, characteristicUuid: string, descriptorUuid: string): void {
    const subscribed = this.links.get(id)?.subscribed ? 1 : 0;
    this.later("valueRead", id, serviceUuid, characteristicUuid, descriptorUuid, Buffer.of(subscribed, 0));
  }

  writeValue(id: string, serviceUuid: string, characteristicUuid: string, descriptorUuid: string): void {
    this.later("valueWrite", id, serviceUuid, characteristicUuid, descriptorUuid);
  }

  readHandle(id: string, handle: number): void {
    this.later("handleRead", id, handle, Buffer.alloc(0), new Error("handles are not exposed"));
  }

  writeHandle(id: string, handle: number): void {
    this.later("handleWrite", id, handle, new Error("handles are not exposed"));
  }

  // The peripheral side.

  changeMtu(peripheral: VirtualPeripheral, mtu: number): void {
    const id = this.idOf(peripheral);
    const link = this.links.get(id);
    if (!link) return;
    link.mtu = Math.max(attMtuMin, Math.min(attMtuMax, mtu));
    this.later("onMtu", id, link.mtu);
  }

  drop(peripheral: VirtualPeripheral, reason: number = hciReason.connectionTimeout): void {
    this.dropId(this.idOf(peripheral), reason);
  }

  advertisementChanged(peripheral: VirtualPeripheral): void {
    const id = this.idOf(peripheral);
    if (!peripheral.inRange || !this.peripherals.has(id)) return;
    if (this.pendingConnects.has(id)) {
      const parameters = this.pendingConnects.get(id);
      this.pendingConnects.delete(id);
      this.establish(id, peripheral, parameters);
    }
    this.announce(peripheral);
  }

  sendNotification(peripheral: VirtualPeripheral, data: Buffer): boolean {
    const id = this.idOf(peripheral);
    const link = this.links.get(id);
    if (!link || !link.subscribed) return false;
    if (data.length > link.mtu - attHeaderBytes) {
      throw new Error(`notification of ${data.length} bytes exceeds ATT MTU ${link.mtu} - 3`);
    }
    this.later("read", id, glassesServiceUuid, glassesNotifyUuid, Buffer.from(data), true);
    return true;
  }

  private establish(id: string, peripheral: VirtualPeripheral, parameters: { mtu?: number } | undefined): void {
    if (peripheral.refuseConnection()) {
      this.later("connect", id, new Error(`Connection Failed to be Established (0x${hciReason.connectionFailed.toString(16)})`));
      return;
    }
    const mtu = Math.max(attMtuMin, Math.min(parameters?.mtu ?? hciDesiredMtuDefault, peripheral.mtuMax, attMtuMax));
    this.links.set(id, { mtu, subscribed: false });
    peripheral.onConnected(mtu);
    this.later("connect", id, null);
    this.later("onMtu", id, mtu);
  }

  private dropId(id: string, reason: number): void {
    if (!this.links.delete(id)) return;
    this.peripherals.get(id)?.onDisconnected();
    this.later("disconnect", id, reason);
  }

  private announce(peripheral: VirtualPeripheral): void {
    if (!this.scanning || this.adapterState !== "poweredOn" || !peripheral.inRange) return;
    const id = this.idOf(peripheral);
    if (this.links.has(id)) return;
    const advertisement = peripheral.advertisement();
    const offered = [...advertisement.serviceUuids, ...advertisement.serviceData.map((d) => d.uuid)];
    if (this.scanServiceUuids.length > 0 && !offered.some((uuid) => this.scanServiceUuids.includes(uuid))) return;
    this.later("discover", id, peripheral.address, "random", true, advertisement, peripheral.rssi, true);
  }

  /** Without a link a request goes unanswered, as over the air; noble's disconnect handling or the caller's timeout ends it. */
  private requireLink(id: string): boolean {
    return this.links.has(id);
  }

  private later(event: string, ...args: unknown[]): void {
    setImmediate(() => this.emit(event, ...args));
  }
}
