import { logger } from "../../core/log.ts";
import { dataBytesMax, moreInformationBit, ParameterFlag, retriesEndless, Status, type ChipState, type HostLink } from "./chip-state.ts";
import type { VirtualCard } from "./field.ts";
import { DepCommands } from "./dep-commands.ts";
import { chainedApduBytesMax, IsoDepCard } from "./iso-dep-card.ts";
import { Register, txControlRfOnBits } from "./register-file.ts";

const log = logger("tapwire:sim:pn532");

/** Initiator (reader) commands for ISO/IEC 14443 targets, UM0701-02 §7.3.5–§7.3.13; the DEP ones are in dep-commands.ts. */
const InitiatorCode = {
  inDataExchange: 0x40,
  inCommunicateThru: 0x42,
  inDeselect: 0x44,
  inListPassiveTarget: 0x4a,
  inRelease: 0x52,
  inSelect: 0x54,
  inAutoPoll: 0x60,
} as const;

/** BrTy of InListPassiveTarget (§7.3.5): 0 = 106 kbps type A, 1/2 = FeliCa, 3 = type B, 4 = Jewel. */
const brTy106A = 0x00;
const brTyJewel = 0x04;
/** InAutoPoll Type values (§7.3.13) this field can answer, and all the ones the manual lists. */
const AutoPollType = { generic106: 0x00, mifare: 0x10, iso14443_4A: 0x20 } as const;
const autoPollTypes = new Set([0x00, 0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x12, 0x20, 0x23, 0x40, 0x41, 0x42, 0x80, 0x81, 0x82]);
const autoPollTypesMax = 15;
/** PollNr 0xFF: InAutoPoll polls until a target answers. */
const pollEndless = 0xff;
/** SEL_RES bit 5: the card speaks ISO/IEC 14443-4. */
const selResIso14443_4 = 0x20;
const cascadeTag = 0x88;
/** SENS_REQ (REQA), the first command of a type A poll. */
const sensReq = 0x26;

interface ListedTarget {
  readonly tg: number;
  readonly card: VirtualCard;
  /** Undefined for a card without ISO/IEC 14443-4: InDataExchange then carries its raw commands. */
  readonly isoDep: IsoDepCard | undefined;
  selected: boolean;
}

export interface InitiatorHooks {
  /** Leaves target mode: an initiator command turns the chip into an initiator. */
  stopTargetEmulation(): void;
  /** Runs as a data exchange goes out (the removeTargetAtApdu fault switch hooks in here). */
  beforeDataExchange(): void;
}

/** The chip as a reader: one logical target (Tg 1) at 106 kbps type A, which is all this virtual field can hold. */
export class InitiatorRole {
  readonly handlers: ReadonlyMap<number, (params: Uint8Array) => void>;
  private listed: ListedTarget | undefined;
  /** C-APDU parts the host sent with MI set, collected until the last part (no MI). */
  private outgoing: number[] | undefined;
  /** The rest of an R-APDU longer than one frame, returned on the host's next `InDataExchange Tg` with no data. */
  private incomingRest: Uint8Array | undefined;

  constructor(
    private readonly chip: ChipState,
    private readonly host: HostLink,
    private readonly hooks: InitiatorHooks,
  ) {
    const C = InitiatorCode;
    this.handlers = new Map<number, (params: Uint8Array) => void>([
      [C.inListPassiveTarget, (p) => this.listPassiveTarget(p)],
      [C.inAutoPoll, (p) => this.autoPoll(p)],
      [C.inDataExchange, (p) => this.dataExchange(p)],
      [C.inCommunicateThru, (p) => this.communicateThru(p)],
      [C.inDeselect, (p) => this.deselect(p)],
      [C.inRelease, (p) => this.release(p)],
      [C.inSelect, (p) => this.select(p)],
      ...new DepCommands(chip, host, {
        isListed: (tg) => tg !== 0 && this.named(tg) !== undefined,
        beginPolling: () => this.beginPolling(),
      }).handlers,
    ]);
  }

  releaseAll(): void {
    this.listed = undefined;
    this.outgoing = undefined;
    this.incomingRest = undefined;
  }

  /** Diagnose NumTst 0x06 (§7.2.1): is the selected target still answering? */
  presenceStatus(): number {
    const target = this.listed;
    if (!target?.selected) return Status.notInContext;
    return this.chip.field === target.card ? Status.ok : Status.timeout;
  }

  /** GetGeneralStatus target entries (§7.2.3): Tg, BrRx, BrTx (106 kbps), Type (type A). */
  statusEntries(): number[] {
    return this.listed ? [this.listed.tg, 0x00, 0x00, 0x00] : [];
  }

  private listPassiveTarget(params: Uint8Array): void {
    const maxTg = params[0];
    const brTy = params[1];
    if (maxTg === undefined || brTy === undefined || maxTg < 1 || maxTg > 2 || brTy > brTyJewel || (brTy === brTyJewel && maxTg !== 1)) {
      return this.host.syntaxError();
    }
    this.beginPolling();
    const initiatorData = params.slice(2);
    this.host.hold(() => {
      const card = brTy === brTy106A ? this.cardAnswering(initiatorData) : undefined;
      if (card) {
        this.host.respond([0x4b, 0x01, ...this.list(card, this.chip.has(ParameterFlag.automaticRats))]);
        return true;
      }
      if (this.chip.passiveActivationRetries === retriesEndless) return false;
      // Unanswered, the SENS_REQ stays in the CIU FIFO; nfcpy reads it back to tell "no tag" from "a Jewel".
      if (brTy === brTy106A) this.chip.registers.write(Register.ciuFifoData, sensReq);
      this.host.respond([0x4b, 0x00]);
      return true;
    });
  }

  /** PollNr 1–0xFE answers at once when nothing is in the field; Period is not modelled (no time passes here). */
  private autoPoll(params: Uint8Array): void {
    const pollNr = params[0];
    const types = params.subarray(2);
    if (!pollNr || types.length === 0 || types.length > autoPollTypesMax || types.some((type) => !autoPollTypes.has(type))) {
      return this.host.syntaxError();
    }
    this.beginPolling();
    this.host.hold(() => {
      const found = this.autoPollMatch(types);
      if (found) this.host.respond([0x61, 0x01, found.type, found.data.length, ...found.data]);
      else if (pollNr === pollEndless) return false;
      else this.host.respond([0x61, 0x00]);
      return true;
    });
  }

  private autoPollMatch(types: Uint8Array): { type: number; data: number[] } | undefined {
    const card = this.cardAnswering(new Uint8Array(0));
    if (!card) return undefined;
    const iso = (card.identity.selRes & selResIso14443_4) !== 0;
    for (const type of types) {
      if (iso && (type === AutoPollType.generic106 || type === AutoPollType.iso14443_4A)) {
        return { type: AutoPollType.iso14443_4A, data: this.list(card, true) };
      }
      if (type === AutoPollType.generic106 || type === AutoPollType.mifare) return { type: AutoPollType.mifare, data: this.list(card, false) };
    }
    return undefined;
  }

  private beginPolling(): void {
    this.hooks.stopTargetEmulation();
    this.releaseAll();
    this.chip.registers.update(Register.ciuTxControl, txControlRfOnBits, txControlRfOnBits);
  }

  private cardAnswering(uid: Uint8Array): VirtualCard | undefined {
    const field = this.chip.field;
    if (field?.role !== "card") return undefined;
    if (uid.length > 0 && !sameUid(uid, field.identity.nfcId)) return undefined;
    return field;
  }

  /** Lists the card as target 1; returns its TargetData: Tg, SENS_RES, SEL_RES, NFCIDLength, NFCID1, [ATS] (§7.3.5). */
  private list(card: VirtualCard, withRats: boolean): number[] {
    const { sensRes, selRes, nfcId, ats } = card.identity;
    const isoDep = (selRes & selResIso14443_4) !== 0 ? new IsoDepCard(ats) : undefined;
    if (withRats) isoDep?.activateByChip();
    this.listed = { tg: 1, card, isoDep, selected: true };
    return [1, ...sensRes, selRes, nfcId.length, ...nfcId, ...(isoDep?.active ? ats : [])];
  }

  private dataExchange(params: Uint8Array): void {
    const tgByte = params[0];
    if (tgByte === undefined) return this.host.syntaxError();
    const target = this.listed?.tg === (tgByte & 0x3f) && this.listed.selected ? this.listed : undefined;
    if (!target) return this.chip.reply(this.host, 0x41, Status.notInContext);
    const data = params.subarray(1);
    const more = (tgByte & moreInformationBit) !== 0;
    if (this.incomingRest && data.length === 0 && !more) return this.sendIncoming();
    this.incomingRest = undefined;
    this.hooks.beforeDataExchange();
    if (more) return this.collect(target, data);
    const apdu = Uint8Array.from([...(this.outgoing ?? []), ...data]);
    this.outgoing = undefined;
    void this.exchange(target, apdu);
  }

  /** A C-APDU part with MI set goes to the card as a chained block; the chip reports only its acknowledgement. */
  private collect(target: ListedTarget, part: Uint8Array): void {
    const outgoing = this.outgoing ?? [];
    this.outgoing = undefined;
    if (this.chip.field !== target.card) return this.chip.reply(this.host, 0x41, Status.timeout);
    if (outgoing.length + part.length > chainedApduBytesMax) return this.chip.reply(this.host, 0x41, Status.internalBufferOverflow);
    for (const byte of part) outgoing.push(byte);
    this.outgoing = outgoing;
    this.chip.reply(this.host, 0x41, Status.ok);
  }

  private async exchange(target: ListedTarget, apdu: Uint8Array): Promise<void> {
    const seq = this.host.currentCommand();
    const answer = await this.transmit(target, apdu);
    if (seq !== this.host.currentCommand()) return;
    if (!answer) return this.chip.reply(this.host, 0x41, Status.timeout);
    this.incomingRest = answer;
    this.sendIncoming();
  }

  private sendIncoming(): void {
    const rest = this.incomingRest ?? new Uint8Array(0);
    const more = rest.length > dataBytesMax;
    this.incomingRest = more ? rest.subarray(dataBytesMax) : undefined;
    this.chip.reply(this.host, 0x41, more ? moreInformationBit : Status.ok, rest.subarray(0, dataBytesMax));
  }

  /** The card's answer, or undefined when it stays silent (gone, outside ISO-DEP, or failing). */
  private async transmit(target: ListedTarget, apdu: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.chip.field !== target.card || (target.isoDep && !target.isoDep.active)) return undefined;
    let answer: Uint8Array;
    try {
      answer = await target.card.transceive(apdu);
    } catch (error) {
      log.debug({ err: error }, "virtual card failed");
      return undefined;
    }
    return answer.length > 0 && this.chip.field === target.card ? answer : undefined;
  }

  private communicateThru(params: Uint8Array): void {
    if (params.length === 0) return this.host.syntaxError();
    const target = this.listed;
    const isoDep = target?.isoDep;
    if (!target || !isoDep || this.chip.field !== target.card) return this.chip.reply(this.host, 0x43, Status.timeout);
    const answer = isoDep.receive(params);
    if (answer.kind === "silent") return this.chip.reply(this.host, 0x43, Status.timeout);
    if (answer.kind === "block") return this.chip.reply(this.host, 0x43, Status.ok, answer.bytes);
    void this.exchangeBlock(target, isoDep, answer.apdu, answer.blockNumber);
  }

  private async exchangeBlock(target: ListedTarget, isoDep: IsoDepCard, apdu: Uint8Array, blockNumber: number): Promise<void> {
    const seq = this.host.currentCommand();
    const answer = await this.transmit(target, apdu);
    if (seq !== this.host.currentCommand()) return;
    if (!answer) return this.chip.reply(this.host, 0x43, Status.timeout);
    this.chip.reply(this.host, 0x43, Status.ok, isoDep.answer(answer, blockNumber));
  }

  /** Tg 0 means every target (§7.3.10–§7.3.12); an unknown Tg is not in context. */
  private named(tg: number): ListedTarget[] | undefined {
    if (tg === 0) return this.listed ? [this.listed] : [];
    return this.listed?.tg === tg ? [this.listed] : undefined;
  }

  private deselect(params: Uint8Array): void {
    if (params.length !== 1) return this.host.syntaxError();
    const targets = this.named(params[0]!);
    if (!targets) return this.chip.reply(this.host, 0x45, Status.notInContext);
    for (const target of targets) {
      target.selected = false;
      target.isoDep?.deactivate();
    }
    this.chip.reply(this.host, 0x45, Status.ok);
  }

  /** InRelease 0 also ends target emulation (libnfc `pn53x_idle` relies on it). */
  private release(params: Uint8Array): void {
    if (params.length !== 1) return this.host.syntaxError();
    const targets = this.named(params[0]!);
    if (!targets) return this.chip.reply(this.host, 0x53, Status.notInContext);
    if (params[0] === 0) this.hooks.stopTargetEmulation();
    this.releaseAll();
    this.chip.reply(this.host, 0x53, Status.ok);
  }

  private select(params: Uint8Array): void {
    if (params.length !== 1) return this.host.syntaxError();
    const target = params[0] !== 0 ? this.named(params[0]!)?.[0] : undefined;
    if (!target) return this.chip.reply(this.host, 0x55, Status.notInContext);
    if (this.chip.field !== target.card) return this.chip.reply(this.host, 0x55, Status.timeout);
    target.selected = true;
    if (this.chip.has(ParameterFlag.automaticRats)) target.isoDep?.activateByChip();
    this.chip.reply(this.host, 0x55, Status.ok);
  }
}

/** InitiatorData of a 106 kbps type A poll is the UID with cascade tags where a longer UID has them (nfcpy `sense_tta`). */
function sameUid(initiatorData: Uint8Array, nfcId: Uint8Array): boolean {
  const wanted = withoutCascadeTags(initiatorData);
  const actual = withoutCascadeTags(nfcId);
  return wanted.length === actual.length && wanted.every((byte, index) => byte === actual[index]);
}

function withoutCascadeTags(uid: Uint8Array): number[] {
  const bytes = [...uid];
  if (bytes.length === 12 && bytes[4] === cascadeTag) bytes.splice(4, 1);
  if ((bytes.length === 8 || bytes.length === 11) && bytes[0] === cascadeTag) bytes.splice(0, 1);
  return bytes;
}
