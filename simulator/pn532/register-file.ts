import { assert } from "../../core/assert.ts";

/**
 * Registers the chip logic itself reads or writes, among those host stacks use with ReadRegister / WriteRegister
 * (UM0701-02 §7.2.4, §7.2.5): the CIU block at 0x6301–0x633E, the 80C51 SFRs at 0xFFxx. Names as in libnfc
 * `pn53x-internal.h`.
 */
export const Register = {
  ciuTxControl: 0x6304,
  ciuFifoData: 0x6339,
  sfrP3: 0xffb0,
  sfrP7: 0xfff7,
} as const;

/** CIU_TxControl Tx1RFEn | Tx2RFEn: the antenna drivers, on while the chip's own RF field is on. */
export const txControlRfOnBits = 0x03;

/** Registers whose reset value is not 0x00: the 80C51 port latches reset to all ones. */
const resetValues: ReadonlyMap<number, number> = new Map([
  [Register.sfrP3, 0xff],
  [Register.sfrP7, 0xff],
]);

const addressMax = 0xffff;

/**
 * The chip's register space as the host sees it. Every 16-bit address is accepted; an address never written reads
 * as its reset value (0x00 unless listed above), and a written value is kept until the chip is recreated. The chip
 * logic reads its own state back from here where the manual ties a command to a register (RF field, GPIO ports),
 * so there is one owner of each such fact. At most 64 Ki entries, one per address.
 */
export class RegisterFile {
  private readonly written = new Map<number, number>();

  read(address: number): number {
    assert(Number.isInteger(address) && address >= 0 && address <= addressMax, `register address ${address} is not 16-bit`);
    return this.written.get(address) ?? resetValues.get(address) ?? 0x00;
  }

  write(address: number, value: number): void {
    assert(Number.isInteger(address) && address >= 0 && address <= addressMax, `register address ${address} is not 16-bit`);
    assert(Number.isInteger(value) && value >= 0 && value <= 0xff, `register value ${value} is not a byte`);
    this.written.set(address, value);
  }

  /** Changes only the bits in `mask`, as the firmware does for its own use of a shared register. */
  update(address: number, mask: number, value: number): void {
    this.write(address, (this.read(address) & ~mask & 0xff) | (value & mask));
  }
}
