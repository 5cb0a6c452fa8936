import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";
import { ManualClock } from "../../core/sources.ts";
import { VirtualFirmataBoard, type VirtualFirmataBoardOptions } from "../../simulator/firmata/virtual-firmata-board.ts";

/**
 * The board's end of a serial cable, synchronous: what the board writes is collected at once, so a test can send
 * bytes and read the exact answer with no wire in between.
 */
class CapturingLink extends EventEmitter {
  readonly written: number[] = [];
  destroyed = false;

  write(chunk: Buffer): boolean {
    this.written.push(...chunk);
    return true;
  }
}

export interface WireBoard {
  board: VirtualFirmataBoard;
  clock: ManualClock;
  /** Sends host bytes and returns what the board wrote in answer. */
  exchange(bytes: number[]): number[];
  /** What the board wrote since the last exchange or drain (its boot announcement, or answers to button presses). */
  drain(): number[];
}

export function wireBoard(options: VirtualFirmataBoardOptions = {}): WireBoard {
  const link = new CapturingLink();
  const clock = new ManualClock();
  const board = new VirtualFirmataBoard(link as unknown as Duplex, { clock, ...options });
  board.start();
  const drain = () => link.written.splice(0);
  return {
    board,
    clock,
    drain,
    exchange(bytes) {
      drain();
      link.emit("data", Buffer.from(bytes));
      return drain();
    },
  };
}

/** Text as Firmata carries it in STRING_DATA and REPORT_FIRMWARE: each character as LSB, MSB. */
export function sevenBitPairs(text: string): number[] {
  return [...Buffer.from(text, "latin1")].flatMap((byte) => [byte & 0x7f, byte >> 7]);
}

export function hex(bytes: readonly number[]): string {
  return bytes.map((byte) => byte.toString(16).padStart(2, "0")).join(" ");
}
