import { logger } from "../../core/log.ts";
import { dataBytesMax, moreInformationBit, ParameterFlag, Status, type ChipState, type HostLink } from "./chip-state.ts";
import { chainedApduBytesMax } from "./iso-dep-card.ts";
import { TargetSession } from "./target-session.ts";

const log = logger("tapwire:sim:pn532");

/** Target (card emulation) commands, UM0701-02 §7.3.14–§7.3.21. */
const TargetCode = {
  tgGetData: 0x86,
  tgGetInitiatorCommand: 0x88,
  tgGetTargetStatus: 0x8a,
  tgInitAsTarget: 0x8c,
  tgSetData: 0x8e,
  tgResponseToInitiator: 0x90,
  tgSetGeneralBytes: 0x92,
  tgSetMetaData: 0x94,
} as const;

/** TgInitAsTarget: Mode, MifareParams (6), FeliCaParams (18), NFCID3t (10), then LEN Gt, Gt, LEN Tk, Tk (§7.3.14). */
const fixedParamsBytes = 35;
const selResOffset = 6;
const generalBytesMax = 47;
const historicalBytesMax = 48;
/** Mode bits: PassiveOnly, DEPOnly, PICCOnly; the others are RFU. */
const modeDepOnly = 0x02;
const modeRfuBits = 0xf8;
/** SEL_RES bit 5: the emulated tag offers ISO/IEC 14443-4, the only protocol the readers of this field use. */
const selResIso14443_4 = 0x20;
/** Activated mode byte (§7.3.14): 106 kbps, bit 3 = ISO/IEC 14443-4 PICC handled by the chip, type A framing. */
const activatedAsPicc = 0x08;
const activatedAsTypeA = 0x00;
/** The reader's first command after selecting the tag: RATS, FSDI 8, CID 0. */
const ratsCommand = [0xe0, 0x80];
/** TgGetTargetStatus states (§7.3.21). */
const TargetState = { released: 0x00, activated: 0x01, piccReleased: 0x80, piccActivated: 0x81 } as const;

interface Emulation {
  readonly mode: number;
  readonly selRes: number;
  /** fISO14443-4_PICC was set: the chip answers RATS and runs ISO-DEP, the host sees APDUs (TgGetData/TgSetData). */
  readonly picc: boolean;
  session: TargetSession | undefined;
  /** Without PICC emulation the host answers RATS itself with its first TgResponseToInitiator. */
  atsSent: boolean;
  /** Block number of the next I-block the host sees through TgGetInitiatorCommand (a PCD starts at 0). */
  blockNumber: number;
  /** The rest of an initiator command longer than one frame, for the next TgGetData. */
  incomingRest: Uint8Array | undefined;
  /** R-APDU parts sent with TgSetMetaData, completed by TgSetData. */
  outgoingParts: number[];
}

/** The chip as a target: an ISO/IEC 14443-4 type A tag that a phone in reader mode activates and reads. */
export class TargetRole {
  readonly handlers: ReadonlyMap<number, (params: Uint8Array) => void>;
  private emulation: Emulation | undefined;

  constructor(
    private readonly chip: ChipState,
    private readonly host: HostLink,
    private readonly releaseInitiatorTargets: () => void,
  ) {
    const C = TargetCode;
    this.handlers = new Map<number, (params: Uint8Array) => void>([
      [C.tgInitAsTarget, (p) => this.initAsTarget(p)],
      [C.tgGetData, () => this.getData()],
      [C.tgSetData, (p) => this.setData(p)],
      [C.tgSetMetaData, (p) => this.setMetaData(p)],
      [C.tgGetInitiatorCommand, () => this.getInitiatorCommand()],
      [C.tgResponseToInitiator, (p) => this.responseToInitiator(p)],
      [C.tgGetTargetStatus, () => this.host.respond([0x8b, this.state(), 0x00])],
      [C.tgSetGeneralBytes, (p) => (p.length > generalBytesMax ? this.host.syntaxError() : this.chip.reply(this.host, 0x93, Status.notInContext))],
    ]);
  }

  /** Leaves target mode; a reader still talking to the tag sees it leave. */
  stop(): void {
    const session = this.emulation?.session;
    this.emulation = undefined;
    session?.end();
  }

  /** The reader left the field: the activation is over. */
  readerLeft(): void {
    this.emulation?.session?.end();
  }

  private initAsTarget(params: Uint8Array): void {
    if (!validInitParams(params)) return this.host.syntaxError();
    this.releaseInitiatorTargets();
    this.stop();
    const emulation: Emulation = {
      mode: params[0]!,
      selRes: params[selResOffset]!,
      picc: this.chip.has(ParameterFlag.iso14443_4Picc),
      session: undefined,
      atsSent: false,
      blockNumber: 0,
      incomingRest: undefined,
      outgoingParts: [],
    };
    this.emulation = emulation;
    this.host.hold(() => this.activate(emulation));
  }

  /** Answers TgInitAsTarget once a reader that has not yet activated the tag is in the field. */
  private activate(emulation: Emulation): boolean {
    const reader = this.chip.field;
    if (this.emulation !== emulation || reader?.role !== "reader" || this.chip.readerActivated) return false;
    if ((emulation.selRes & selResIso14443_4) === 0 || (emulation.mode & modeDepOnly) !== 0) return false;
    this.chip.readerActivated = true;
    const session = new TargetSession(() => this.host.retryHeld());
    emulation.session = session;
    this.host.respond([0x8d, emulation.picc ? activatedAsPicc : activatedAsTypeA, ...ratsCommand]);
    setImmediate(() => {
      reader
        .read(session)
        .catch((error: unknown) => log.debug({ err: error }, "virtual reader stopped with an error"))
        .finally(() => session.end());
    });
    return true;
  }

  /** The activated emulation in the wanted PICC mode, or undefined after answering "not in context". */
  private activated(code: number, picc: boolean): { emulation: Emulation; session: TargetSession } | undefined {
    const emulation = this.emulation;
    const session = emulation?.session;
    if (!emulation || !session || emulation.picc !== picc) {
      this.chip.reply(this.host, code, Status.notInContext);
      return undefined;
    }
    return { emulation, session };
  }

  private getData(): void {
    const active = this.activated(0x87, true);
    if (active) this.holdForCommand(0x87, active.emulation, active.session, (apdu) => apdu);
  }

  private getInitiatorCommand(): void {
    const active = this.activated(0x89, false);
    if (!active) return;
    const { emulation } = active;
    this.holdForCommand(0x89, emulation, active.session, (apdu) => {
      const pcb = 0x02 | emulation.blockNumber;
      emulation.blockNumber ^= 0x01;
      return Uint8Array.from([pcb, ...apdu]);
    });
  }

  /** Waits for the reader's next command; one longer than a frame goes out in parts with MI set (§7.3.16). */
  private holdForCommand(code: number, emulation: Emulation, session: TargetSession, frame: (apdu: Uint8Array) => Uint8Array): void {
    if (emulation.incomingRest) return this.sendIncoming(code, emulation);
    this.host.hold(() => {
      if (session.ended) {
        this.chip.reply(this.host, code, Status.released);
        return true;
      }
      const apdu = session.takeCommand();
      if (!apdu) return false;
      emulation.incomingRest = frame(apdu);
      this.sendIncoming(code, emulation);
      return true;
    });
  }

  private sendIncoming(code: number, emulation: Emulation): void {
    const rest = emulation.incomingRest ?? new Uint8Array(0);
    const more = rest.length > dataBytesMax;
    emulation.incomingRest = more ? rest.subarray(dataBytesMax) : undefined;
    this.chip.reply(this.host, code, more ? moreInformationBit : Status.ok, rest.subarray(0, dataBytesMax));
  }

  private setData(params: Uint8Array): void {
    const active = this.activated(0x8f, true);
    if (!active) return;
    const { emulation, session } = active;
    if (session.ended) return this.chip.reply(this.host, 0x8f, Status.released);
    const apdu = Uint8Array.from([...emulation.outgoingParts, ...params]);
    emulation.outgoingParts = [];
    this.chip.reply(this.host, 0x8f, session.deliverResponse(apdu) ? Status.ok : Status.invalidDepState);
  }

  /** Part of an R-APDU sent with MI (§7.3.18); TgSetData sends the last part. */
  private setMetaData(params: Uint8Array): void {
    const active = this.activated(0x95, true);
    if (!active) return;
    const { emulation, session } = active;
    if (session.ended) return this.chip.reply(this.host, 0x95, Status.released);
    if (emulation.outgoingParts.length + params.length > chainedApduBytesMax) {
      emulation.outgoingParts = [];
      return this.chip.reply(this.host, 0x95, Status.internalBufferOverflow);
    }
    for (const byte of params) emulation.outgoingParts.push(byte);
    this.chip.reply(this.host, 0x95, Status.ok);
  }

  /** Without PICC emulation the host frames ISO-DEP itself: first the ATS, then I-blocks answering the reader's. */
  private responseToInitiator(params: Uint8Array): void {
    const active = this.activated(0x91, false);
    if (!active) return;
    const { emulation, session } = active;
    if (session.ended) return this.chip.reply(this.host, 0x91, Status.released);
    if (!emulation.atsSent) {
      emulation.atsSent = true;
      return this.chip.reply(this.host, 0x91, Status.ok);
    }
    const pcb = params[0];
    const isIBlock = pcb !== undefined && (pcb & 0xe2) === 0x02;
    const delivered = !isIBlock || session.deliverResponse(params.slice(1));
    this.chip.reply(this.host, 0x91, delivered ? Status.ok : Status.invalidDepState);
  }

  private state(): number {
    const emulation = this.emulation;
    if (!emulation?.session) return TargetState.released;
    if (emulation.session.ended) return emulation.picc ? TargetState.piccReleased : TargetState.released;
    return emulation.picc ? TargetState.piccActivated : TargetState.activated;
  }
}

function validInitParams(params: Uint8Array): boolean {
  if (params.length < fixedParamsBytes + 2 || (params[0]! & modeRfuBits) !== 0) return false;
  const generalBytes = params[fixedParamsBytes]!;
  const historicalLengthOffset = fixedParamsBytes + 1 + generalBytes;
  const historicalBytes = params[historicalLengthOffset];
  if (generalBytes > generalBytesMax || historicalBytes === undefined || historicalBytes > historicalBytesMax) return false;
  return params.length >= historicalLengthOffset + 1 + historicalBytes;
}
