import { Duplex } from "node:stream";

/** Roughly what a USB-serial driver buffers per direction; a writer past it waits (backpressure). */
export const linkBufferBytesMax = 4096;

/**
 * One end of an in-memory serial cable. Like an auto-opening serialport `SerialPort`, it reports `isOpen` and
 * emits "open" on the next tick; close() ends both ends and each emits "close".
 */
export class SerialLinkEnd extends Duplex {
  private peer: SerialLinkEnd | null = null;
  private readonly waitingWriters: Array<() => void> = [];
  private opened = false;

  constructor(bufferBytesMax: number) {
    super({ highWaterMark: bufferBytesMax });
    process.nextTick(() => {
      if (this.destroyed) return;
      this.opened = true;
      this.emit("open");
    });
  }

  get isOpen(): boolean {
    return this.opened && !this.destroyed;
  }

  /** Pulls the cable: both ends close. */
  close(): void {
    this.destroy();
  }

  connect(peer: SerialLinkEnd): void {
    this.peer = peer;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer === null || peer.destroyed) {
      callback(new Error("serial link is closed"));
      return;
    }
    // A wire is never synchronous: delivering in the same tick would let a reply overtake the writer's own
    // bookkeeping (firmata-io registers its read listener right after sending the request).
    setImmediate(() => {
      if (peer.destroyed) callback(new Error("serial link is closed"));
      else peer.receive(chunk, () => callback());
    });
  }

  override _read(): void {
    for (const release of this.waitingWriters.splice(0)) release();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this._read();
    const peer = this.peer;
    this.peer = null;
    if (peer !== null && !peer.destroyed) {
      peer.push(null);
      peer.destroy();
    }
    callback(error);
  }

  private receive(chunk: Buffer, release: () => void): void {
    if (this.push(chunk)) release();
    else this.waitingWriters.push(release);
  }
}

export interface SerialLinkPair {
  /** The hub's side: hand it to HubPanel as its transport. */
  host: SerialLinkEnd;
  /** The microcontroller's side: the virtual board reads and writes here. */
  device: SerialLinkEnd;
}

export function createSerialLinkPair(bufferBytesMax = linkBufferBytesMax): SerialLinkPair {
  const host = new SerialLinkEnd(bufferBytesMax);
  const device = new SerialLinkEnd(bufferBytesMax);
  host.connect(device);
  device.connect(host);
  return { host, device };
}
