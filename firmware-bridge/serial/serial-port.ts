/**
 * The few things a driver needs from a byte link. A `serialport` SerialPort (or any SerialPortStream) satisfies
 * it as is; open-serial-port.ts adapts a TCP socket to it so the simulator can be served over the network.
 */
export interface SerialPortLike {
  write(bytes: Buffer, callback?: (error: Error | null | undefined) => void): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "close", listener: () => void): unknown;
  off(event: "data", listener: (chunk: Buffer) => void): unknown;
  off(event: "close", listener: () => void): unknown;
  close(callback?: (error: Error | null) => void): void;
  readonly isOpen: boolean;
}
