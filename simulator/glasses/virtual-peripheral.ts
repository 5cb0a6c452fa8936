import type { GattServerApplication } from "./virtual-gatt-link.ts";

/** What a virtual peripheral must offer its host bindings. */
export interface VirtualPeripheral extends GattServerApplication {
  readonly address: string;
  readonly rssi: number;
  /** The peripheral's Rx MTU, its answer to the Exchange MTU Request. */
  readonly mtuMax: number;
  /** Advertising and reachable: discoverable while scanning, and a connect completes. */
  readonly inRange: boolean;
  advertisement(): VirtualAdvertisement;
  attach(host: VirtualPeripheralHost): void;
  /** Whether to refuse this connection attempt (a fault switch). */
  refuseConnection(): boolean;
  onConnected(mtu: number): void;
  onDisconnected(): void;
}

/** The advertisement object gap.js builds from advertising data and scan responses. */
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
  /**
   * The link's MTU changed mid-connection. hci never reports this (the client exchanges MTUs once); noble's
   * Windows bindings do (GattSession.MaxPduSizeChanged), and the hub follows either way.
   */
  changeMtu(peripheral: VirtualPeripheral, mtu: number): void;
  /** The peripheral drops the link (supervision timeout by default). */
  drop(peripheral: VirtualPeripheral, reason?: number): void;
  /** Its advertisement or range changed: reported again if scanning, and a pending connect completes. */
  advertisementChanged(peripheral: VirtualPeripheral): void;
}

/** HCI status and disconnect reasons, as numbers, with hci-status.json's names for the ones used here. */
export const hciReason = {
  hardwareFailure: 0x03,
  connectionTimeout: 0x08,
  aclConnectionAlreadyExists: 0x0b,
  remoteUserTerminated: 0x13,
  localHostTerminated: 0x16,
  connectionFailed: 0x3e,
} as const;

const hciStatusNames: Record<number, string> = {
  [hciReason.aclConnectionAlreadyExists]: "ACL Connection Already Exists",
  [hciReason.connectionFailed]: "Connection Failed to be Established",
};

/** The error bindings.js builds from an LE Connection Complete status. */
export function hciError(status: number): Error {
  return new Error(`${hciStatusNames[status] ?? "HCI Error: Unknown"} (0x${status.toString(16)})`);
}
