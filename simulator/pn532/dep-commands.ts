import { Status, type ChipState, type HostLink } from "./chip-state.ts";

/** Initiator commands of ISO/IEC 18092 (NFCIP-1 DEP), UM0701-02 §7.3.3, §7.3.4, §7.3.6, §7.3.7. */
const DepCode = {
  inJumpForPsl: 0x46,
  inPsl: 0x4e,
  inAtr: 0x50,
  inJumpForDep: 0x56,
} as const;

const generalBytesMax = 48;
const nfcId3Bytes = 10;

export interface DepInitiator {
  isListed(tg: number): boolean;
  /** Leaves target mode, drops the listed targets and switches the field on, as every activation does. */
  beginPolling(): void;
}

/**
 * This field never holds an NFCIP-1 target (it holds a card or a phone in reader mode), so the DEP commands answer
 * what the chip reports when no DEP target is there: activation times out, and commands for a DEP target that was
 * never activated are not in context.
 */
export class DepCommands {
  readonly handlers: ReadonlyMap<number, (params: Uint8Array) => void>;

  constructor(
    private readonly chip: ChipState,
    private readonly host: HostLink,
    private readonly initiator: DepInitiator,
  ) {
    this.handlers = new Map<number, (params: Uint8Array) => void>([
      [DepCode.inJumpForDep, (p) => this.jump(DepCode.inJumpForDep, p)],
      [DepCode.inJumpForPsl, (p) => this.jump(DepCode.inJumpForPsl, p)],
      [DepCode.inAtr, (p) => this.atr(p)],
      [DepCode.inPsl, (p) => this.psl(p)],
    ]);
  }

  private jump(code: number, params: Uint8Array): void {
    if (!validJumpParams(params)) return this.host.syntaxError();
    this.initiator.beginPolling();
    this.chip.reply(this.host, code + 1, Status.timeout);
  }

  /** ATR_REQ to a listed target: the ISO/IEC 14443-4 cards of this field do not answer it. */
  private atr(params: Uint8Array): void {
    const [tg, next] = params;
    if (tg === undefined || next === undefined || next > 0x03 || ((next & 0x01) !== 0 && params.length < 2 + nfcId3Bytes)) {
      return this.host.syntaxError();
    }
    this.chip.reply(this.host, 0x51, this.initiator.isListed(tg) ? Status.timeout : Status.notInContext);
  }

  /** PSL needs a target activated with ATR, which no target here ever is. */
  private psl(params: Uint8Array): void {
    if (params.length !== 3 || params[1]! > 2 || params[2]! > 2) return this.host.syntaxError();
    this.chip.reply(this.host, 0x4f, Status.notInContext);
  }
}

/** ActPass, BR, Next, then what Next announces: passive initiator data (4 bytes at 106 kbps, 5 above), NFCID3i, Gi. */
function validJumpParams(params: Uint8Array): boolean {
  const [actPass, br, next] = params;
  if (actPass === undefined || br === undefined || next === undefined || actPass > 1 || br > 2 || next > 0x07) return false;
  const expectedBytes = 3 + ((next & 0x01) !== 0 ? (br === 0 ? 4 : 5) : 0) + ((next & 0x02) !== 0 ? nfcId3Bytes : 0);
  if ((next & 0x04) === 0) return params.length === expectedBytes;
  const generalBytes = params.length - expectedBytes;
  return generalBytes >= 1 && generalBytes <= generalBytesMax;
}
