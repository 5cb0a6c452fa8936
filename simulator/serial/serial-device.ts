/**
 * The device end of a serial link, as simulated hardware sees it. The mock binding and the TCP server both
 * drive a device through this, so the same VirtualPn532 answers a SerialPortStream or a TCP client.
 */
export interface SerialDevice {
  /** A host opened the link; `toHost` delivers bytes to it until disconnect(). */
  connect(toHost: (bytes: Uint8Array) => void): void;
  /** Every byte the host wrote, in order, in the chunks it wrote them. */
  receive(bytes: Uint8Array): void;
  disconnect(): void;
}
