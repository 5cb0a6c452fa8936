import { createSerialLinkPair, type SerialLinkEnd } from "../../firmata/serial-link-pair.ts";
import { VirtualFirmataBoard, type VirtualFirmataBoardOptions } from "../../firmata/virtual-firmata-board.ts";
import type { SerialDevice } from "../../serial/serial-device.ts";

/**
 * A VirtualFirmataBoard as a SerialDevice, so serveOverTcp can serve it to a HubPanel in another process. Each
 * host connection boots a fresh board, as an Uno resets when its port is opened; `board` is the current one.
 */
export class FirmataSerialDevice implements SerialDevice {
  private current: { board: VirtualFirmataBoard; host: SerialLinkEnd } | undefined;

  constructor(private readonly options: VirtualFirmataBoardOptions = {}) {}

  get board(): VirtualFirmataBoard | undefined {
    return this.current?.board;
  }

  connect(toHost: (bytes: Uint8Array) => void): void {
    this.disconnect();
    const { host, device } = createSerialLinkPair();
    host.on("data", (chunk: Buffer) => toHost(new Uint8Array(chunk)));
    const board = new VirtualFirmataBoard(device, this.options);
    this.current = { board, host };
    board.start();
  }

  receive(bytes: Uint8Array): void {
    this.current?.host.write(Buffer.from(bytes));
  }

  disconnect(): void {
    const current = this.current;
    this.current = undefined;
    current?.board.stop();
    current?.host.close();
  }
}
