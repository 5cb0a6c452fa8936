import { glassesNotifyUuid, glassesServiceUuid, glassesWriteUuid } from "../../firmware-bridge/ble/gatt.ts";

/**
 * The glasses' attribute table, handle by handle, as a GATT server lays it out (Bluetooth Core Vol 3 Part G §3):
 * the mandatory GAP (1800) and GATT (1801) services, then tapwire's service. UUIDs are written as noble's hci
 * gatt.js reports them: 16-bit ones as lowercase hex without leading zeros, 128-bit ones as 32 lowercase digits.
 */
export interface GattCharacteristicEntry {
  uuid: string;
  declarationHandle: number;
  valueHandle: number;
  /** The characteristic properties byte (Core Vol 3 Part G §3.3.1.1). */
  propertiesFlags: number;
  /** Client Characteristic Configuration descriptor (2902), for notify and indicate. */
  cccdHandle: number | null;
  /** What a read returns; null when the characteristic is not readable. */
  value: Buffer | null;
}

export interface GattServiceEntry {
  uuid: string;
  startHandle: number;
  endHandle: number;
  characteristics: GattCharacteristicEntry[];
}

export const Property = {
  broadcast: 0x01,
  read: 0x02,
  writeWithoutResponse: 0x04,
  write: 0x08,
  notify: 0x10,
  indicate: 0x20,
  authenticatedSignedWrites: 0x40,
  extendedProperties: 0x80,
} as const;

export const cccdUuid = "2902";

/** The property names noble reports, in the bit order hci gatt.js decodes them. */
export function propertyNames(flags: number): string[] {
  return (Object.entries(Property) as Array<[string, number]>).filter(([, bit]) => (flags & bit) !== 0).map(([name]) => name);
}

export function glassesGattTable(deviceName: string): GattServiceEntry[] {
  return [
    {
      uuid: "1800",
      startHandle: 0x0001,
      endHandle: 0x0005,
      characteristics: [
        { uuid: "2a00", declarationHandle: 0x0002, valueHandle: 0x0003, propertiesFlags: Property.read, cccdHandle: null, value: Buffer.from(deviceName, "utf8") },
        { uuid: "2a01", declarationHandle: 0x0004, valueHandle: 0x0005, propertiesFlags: Property.read, cccdHandle: null, value: Buffer.of(0x00, 0x00) },
      ],
    },
    {
      uuid: "1801",
      startHandle: 0x0006,
      endHandle: 0x0009,
      characteristics: [
        { uuid: "2a05", declarationHandle: 0x0007, valueHandle: 0x0008, propertiesFlags: Property.indicate, cccdHandle: 0x0009, value: null },
      ],
    },
    {
      uuid: glassesServiceUuid,
      startHandle: 0x000a,
      endHandle: 0x000f,
      characteristics: [
        {
          uuid: glassesWriteUuid,
          declarationHandle: 0x000b,
          valueHandle: 0x000c,
          propertiesFlags: Property.writeWithoutResponse | Property.write,
          cccdHandle: null,
          value: null,
        },
        { uuid: glassesNotifyUuid, declarationHandle: 0x000d, valueHandle: 0x000e, propertiesFlags: Property.notify, cccdHandle: 0x000f, value: null },
      ],
    },
  ];
}
