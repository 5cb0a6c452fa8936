import { attHeaderBytes } from "../../firmware-bridge/ble/frames.ts";
import { glassesNotifyUuid } from "../../firmware-bridge/ble/gatt.ts";
import { Property, cccdUuid, propertyNames, type GattCharacteristicEntry, type GattServiceEntry } from "./glasses-gatt-table.ts";

/** The peripheral side of a GATT link: what the glasses' application sees. */
export interface GattServerApplication {
  onSubscribed(enabled: boolean): void;
  onWrite(data: Buffer): void;
}

/** CCCD bits (Core Vol 3 Part G §3.3.3.3). */
const cccdNotify = 0x0001;
const cccdIndicate = 0x0002;

/**
 * One connection's GATT traffic as noble's hci bindings report it (lib/hci-socket/gatt.js): the events, their
 * order and their arguments, including where gatt.js stays silent. An ATT error on a read still reports the
 * (empty) value; an ATT error on a write request, a CCCD that is missing, or a broadcast on a characteristic
 * without a Server Characteristic Configuration reports nothing, so the caller's own timeout ends the wait.
 */
export class VirtualGattLink {
  private readonly cccd = new Map<number, number>();

  constructor(
    readonly id: string,
    private readonly application: GattServerApplication,
    private readonly table: readonly GattServiceEntry[],
    /** ATT_MTU in force: the smaller of the client's and the server's Rx MTU. */
    public attMtu: number,
    /** The server's Rx MTU from its Exchange MTU Response: gatt.js takes it as its own MTU. */
    readonly serverMtu: number,
    private readonly emit: (event: string, ...args: unknown[]) => void,
  ) {}

  /** Notifications are on: the notify characteristic's CCCD has its notify bit set. */
  subscribedTo(characteristic: GattCharacteristicEntry): boolean {
    return characteristic.cccdHandle !== null && ((this.cccd.get(characteristic.cccdHandle) ?? 0) & cccdNotify) !== 0;
  }

  discoverServices(uuids: readonly string[]): void {
    const all = this.table.map(({ startHandle, endHandle, uuid }) => ({ startHandle, endHandle, uuid }));
    this.emit("servicesDiscovered", this.id, all);
    this.emit("servicesDiscover", this.id, all.map((s) => s.uuid).filter((uuid) => uuids.length === 0 || uuids.includes(uuid)));
  }

  discoverIncludedServices(serviceUuid: string): void {
    if (this.service(serviceUuid) !== undefined) this.emit("includedServicesDiscover", this.id, serviceUuid, []);
  }

  discoverCharacteristics(serviceUuid: string, uuids: readonly string[]): void {
    const service = this.service(serviceUuid);
    if (service === undefined) return;
    const raw = service.characteristics.map((c, index, list) => ({
      startHandle: c.declarationHandle,
      properties: c.propertiesFlags,
      valueHandle: c.valueHandle,
      uuid: c.uuid,
      propsDecoded: propertyNames(c.propertiesFlags),
      rawProps: c.propertiesFlags,
      endHandle: index + 1 < list.length ? list[index + 1]!.declarationHandle - 1 : service.endHandle,
    }));
    this.emit("characteristicsDiscovered", this.id, serviceUuid, raw);
    const wanted = raw.filter((c) => uuids.length === 0 || uuids.includes(c.uuid));
    this.emit("characteristicsDiscover", this.id, serviceUuid, wanted.map((c) => ({ properties: propertyNames(c.rawProps), uuid: c.uuid })));
  }

  read(serviceUuid: string, characteristicUuid: string): void {
    const characteristic = this.characteristic(serviceUuid, characteristicUuid);
    if (characteristic === undefined) return;
    this.emit("read", this.id, serviceUuid, characteristicUuid, this.readable(characteristic), false);
  }

  write(serviceUuid: string, characteristicUuid: string, data: Buffer, withoutResponse: boolean): void {
    const characteristic = this.characteristic(serviceUuid, characteristicUuid);
    if (characteristic === undefined) return;
    const delivered = this.deliver(characteristic, data, withoutResponse);
    // A Write Command has no response: gatt.js reports it as written once it is sent, whatever the server did.
    if (withoutResponse || delivered) this.emit("write", this.id, serviceUuid, characteristicUuid);
  }

  broadcast(): void {
    // No characteristic here has a Server Characteristic Configuration descriptor (2903) to write.
  }

  notify(serviceUuid: string, characteristicUuid: string, enabled: boolean): void {
    const characteristic = this.characteristic(serviceUuid, characteristicUuid);
    if (characteristic?.cccdHandle == null) return;
    const bit = (characteristic.propertiesFlags & Property.notify) !== 0 ? cccdNotify : cccdIndicate;
    const value = this.cccd.get(characteristic.cccdHandle) ?? 0;
    const changed = this.writeCccd(characteristic, enabled ? value | bit : value & ~bit);
    this.emit("notify", this.id, serviceUuid, characteristicUuid, enabled);
    this.tellApplication(characteristic, changed);
  }

  discoverDescriptors(serviceUuid: string, characteristicUuid: string): void {
    const characteristic = this.characteristic(serviceUuid, characteristicUuid);
    if (characteristic === undefined) return;
    this.emit("descriptorsDiscover", this.id, serviceUuid, characteristicUuid, characteristic.cccdHandle === null ? [] : [cccdUuid]);
  }

  readValue(serviceUuid: string, characteristicUuid: string, descriptorUuid: string): void {
    const characteristic = this.characteristic(serviceUuid, characteristicUuid);
    if (characteristic?.cccdHandle == null || descriptorUuid !== cccdUuid) return;
    const value = Buffer.alloc(2);
    value.writeUInt16LE(this.cccd.get(characteristic.cccdHandle) ?? 0);
    this.emit("valueRead", this.id, serviceUuid, characteristicUuid, descriptorUuid, value);
  }

  writeValue(serviceUuid: string, characteristicUuid: string, descriptorUuid: string, data: Buffer): void {
    const characteristic = this.characteristic(serviceUuid, characteristicUuid);
    if (characteristic?.cccdHandle == null || descriptorUuid !== cccdUuid || data.length !== 2) return;
    const changed = this.writeCccd(characteristic, data.readUInt16LE(0));
    this.emit("valueWrite", this.id, serviceUuid, characteristicUuid, descriptorUuid);
    this.tellApplication(characteristic, changed);
  }

  readHandle(handle: number): void {
    const byValue = this.characteristics().find((c) => c.valueHandle === handle);
    const byCccd = this.characteristics().find((c) => c.cccdHandle === handle);
    let data: Buffer = Buffer.alloc(0);
    if (byValue !== undefined) data = this.readable(byValue);
    else if (byCccd !== undefined) data = Buffer.from([(this.cccd.get(handle) ?? 0) & 0xff, 0]);
    this.emit("handleRead", this.id, handle, data);
  }

  writeHandle(handle: number, data: Buffer, withoutResponse: boolean): void {
    const byValue = this.characteristics().find((c) => c.valueHandle === handle);
    const byCccd = this.characteristics().find((c) => c.cccdHandle === handle);
    let written = false;
    let changed = false;
    if (byValue !== undefined) written = this.deliver(byValue, data, withoutResponse);
    else if (byCccd !== undefined && data.length === 2) {
      changed = this.writeCccd(byCccd, data.readUInt16LE(0));
      written = true;
    }
    if (withoutResponse || written) this.emit("handleWrite", this.id, handle);
    if (byCccd !== undefined) this.tellApplication(byCccd, changed);
  }

  /** A Handle Value Notification: gatt.js reports it by handle, then as a read of its characteristic. */
  notification(serviceUuid: string, characteristicUuid: string, data: Buffer): boolean {
    const characteristic = this.characteristic(serviceUuid, characteristicUuid);
    if (characteristic === undefined || !this.subscribedTo(characteristic)) return false;
    if (data.length > this.attMtu - attHeaderBytes) {
      throw new RangeError(`notification of ${data.length} bytes exceeds ATT MTU ${this.attMtu} - ${attHeaderBytes}`);
    }
    this.emit("handleNotify", this.id, characteristic.valueHandle, Buffer.from(data));
    this.emit("read", this.id, serviceUuid, characteristic.uuid, Buffer.from(data), true);
    return true;
  }

  /**
   * Whether the server took the value. A request longer than gatt.js's MTU goes as a long write (prepare, execute)
   * and arrives whole; a PDU past the ATT_MTU in force, or a write the characteristic does not allow, is refused
   * (a command is dropped without a word).
   */
  private deliver(characteristic: GattCharacteristicEntry, data: Buffer, withoutResponse: boolean): boolean {
    const allowed = withoutResponse ? Property.writeWithoutResponse : Property.write;
    if ((characteristic.propertiesFlags & allowed) === 0) return false;
    const longWrite = !withoutResponse && data.length + attHeaderBytes > this.serverMtu;
    if (!longWrite && data.length > this.attMtu - attHeaderBytes) return false;
    this.application.onWrite(Buffer.from(data));
    return true;
  }

  /** Whether notifications were switched on or off. */
  private writeCccd(characteristic: GattCharacteristicEntry, value: number): boolean {
    const wasOn = this.subscribedTo(characteristic);
    this.cccd.set(characteristic.cccdHandle!, value);
    return wasOn !== this.subscribedTo(characteristic);
  }

  /**
   * After the write's response is on its way: an application that notifies as soon as it is subscribed sends
   * behind it, as a server stack answers the CCCD write before it runs the application's callback.
   */
  private tellApplication(characteristic: GattCharacteristicEntry, changed: boolean): void {
    if (changed && characteristic.uuid === glassesNotifyUuid) this.application.onSubscribed(this.subscribedTo(characteristic));
  }

  private readable(characteristic: GattCharacteristicEntry): Buffer {
    const readable = (characteristic.propertiesFlags & Property.read) !== 0 && characteristic.value !== null;
    return readable ? Buffer.from(characteristic.value!) : Buffer.alloc(0);
  }

  private service(uuid: string): GattServiceEntry | undefined {
    return this.table.find((service) => service.uuid === uuid);
  }

  private characteristic(serviceUuid: string, uuid: string): GattCharacteristicEntry | undefined {
    return this.service(serviceUuid)?.characteristics.find((c) => c.uuid === uuid);
  }

  private characteristics(): GattCharacteristicEntry[] {
    return this.table.flatMap((service) => service.characteristics);
  }
}
