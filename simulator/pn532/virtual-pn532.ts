import {
  ackBytes,
  encodeInformationFrame,
  errorFrameBytes,
  nackBytes,
  Pn532FrameParser,
  tfiHostToPn532,
  tfiPn532ToHost,
  type Pn532Frame,
} from "../../firmware-bridge/nfc/pn532-frame.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { logger } from "../../protocol/log.ts";
import type { SerialDevice } from "../serial/serial-device.ts";
import type { FieldDevice, TagLink } from "./field.ts";

const log = logger("tapwire:sim:pn532");

/** Fault switches, zwave-js style: counters apply to the next N occurrences, then switch themselves off. */
export interface Pn532Faults {
  /** Garbage bytes before each of the next N frames the chip sends (ACKs included). */
  garbageBeforeFrames: number;
  /** The next N commands are answered with a NACK instead of an ACK (and not executed). */
  nackCommands: number;
  /** The next N responses (retransmissions included) go out with a wrong DCS. */
  badChecksumResponses: number;
  /** Every frame goes out one byte per event-loop turn. */
  splitChunks: boolean;
  /** The next N commands get no answer at all. */
  silentCommands: number;
  /** The card leaves the field as the host sends the Nth InDataExchange from now (0 = off). */
  removeTargetAtApdu: number;
  /** The next N commands are ACKed, then answered with the application error frame. */
  applicationErrorCommands: number;
}

export interface WireRecord {
  direction: "host" | "device";
  bytes: Uint8Array;
}

/** Records kept of the bytes on the wire; older ones are dropped. */
export const wireRecordsMax = 512;
const garbage = Uint8Array.of(0x55, 0x13, 0x00, 0xff, 0x7e, 0x00);
/** TgInitAsTarget parameters: mode, MIFARE params (6), FeliCa params (18), NFCID3t (10), two lengths. */
const tgInitParamsBytesMin = 37;

const Status = { ok: 0x00, timeout: 0x01, invalidState: 0x25, notInContext: 0x27, released: 0x29 } as const;

/**
 * A PN532 on the device side of a serial link. It parses the host's real frames, ACKs them and answers
 * the commands tapwire uses, routing APDUs to whatever is placed in its field: a card or HCE phone in
 * reader mode, a phone in reader mode when the hub emulates a tag.
 */
export class VirtualPn532 implements SerialDevice {
  readonly faults: Pn532Faults = {
    garbageBeforeFrames: 0,
    nackCommands: 0,
    badChecksumResponses: 0,
    splitChunks: false,
    silentCommands: 0,
    removeTargetAtApdu: 0,
    applicationErrorCommands: 0,
  };
  readonly wire: WireRecord[] = [];
  /** Commands the chip executed, by code. */
  readonly commandsSeen: number[] = [];
  private toHost: ((bytes: Uint8Array) => void) | undefined;
  private readonly parser = new Pn532FrameParser();
  private awake = false;
  private field: FieldDevice | undefined;
  private readerActivated = false;
  private listedTg: number | undefined;
  private session: TargetSession | undefined;
  private pending: { code: number } | undefined;
  private lastResponse: Uint8Array | undefined;
  private outgoing: Promise<void> = Promise.resolve();
  /** Bumped by every command and abort, so a slow card's answer to an aborted command is dropped. */
  private commandSeq = 0;

  setFaults(faults: Partial<Pn532Faults>): void {
    Object.assign(this.faults, faults);
  }

  placeInField(device: FieldDevice): void {
    this.removeFromField();
    this.field = device;
    this.readerActivated = false;
    this.completePending();
  }

  removeFromField(): void {
    this.field = undefined;
    this.session?.end();
  }

  connect(toHost: (bytes: Uint8Array) => void): void {
    this.toHost = toHost;
  }

  disconnect(): void {
    this.toHost = undefined;
    this.pending = undefined;
    this.parser.reset();
  }

  receive(bytes: Uint8Array): void {
    this.record("host", bytes);
    // Asleep in LowVBat until the HSU wake-up (0x55) arrives; frames before it are lost.
    if (!this.awake && !bytes.includes(0x55)) return;
    this.awake = true;
    for (const event of this.parser.push(bytes)) {
      if (event.type === "frame") this.onHostFrame(event.frame);
      else log.debug({ event }, "host frame rejected");
    }
  }

  private onHostFrame(frame: Pn532Frame): void {
    if (frame.kind === "ack") {
      this.commandSeq++;
      this.pending = undefined;
      return;
    }
    if (frame.kind === "nack") {
      if (this.lastResponse) this.send(this.lastResponse, this.lastResponse !== errorFrameBytes);
      return;
    }
    if (frame.kind === "information" && frame.tfi === tfiHostToPn532 && frame.data.length >= 1) {
      this.command(frame.data[0]!, frame.data.subarray(1));
    }
  }

  private command(code: number, params: Uint8Array): void {
    this.commandSeq++;
    this.pending = undefined;
    if (this.faults.silentCommands > 0) {
      this.faults.silentCommands--;
      return;
    }
    if (this.faults.nackCommands > 0) {
      this.faults.nackCommands--;
      this.send(nackBytes, false);
      return;
    }
    this.send(ackBytes, false);
    this.commandsSeen.push(code);
    if (this.faults.applicationErrorCommands > 0) {
      this.faults.applicationErrorCommands--;
      return this.sendApplicationError();
    }
    switch (code) {
      case 0x02:
        return this.respond([0x03, 0x32, 0x01, 0x06, 0x07]);
      case 0x14:
        return params.length >= 1 && params[0]! >= 1 && params[0]! <= 4 ? this.respond([0x15]) : this.sendApplicationError();
      case 0x4a:
        if (params.length < 2 || params[0]! < 1 || params[0]! > 2 || params[1] !== 0x00) return this.sendApplicationError();
        return this.wait(code);
      case 0x40:
        return void this.dataExchange(params);
      case 0x52:
        this.listedTg = undefined;
        return this.respond([0x53, Status.ok]);
      case 0x8c:
        if (params.length < tgInitParamsBytesMin) return this.sendApplicationError();
        this.session?.end();
        this.session = undefined;
        return this.wait(code);
      case 0x86:
        return this.wait(code);
      case 0x8e:
        return this.setData(params);
      default:
        return this.sendApplicationError();
    }
  }

  private wait(code: number): void {
    this.pending = { code };
    this.completePending();
  }

  /** Answers the waiting command if what it waits for is there now. */
  private completePending(): void {
    const code = this.pending?.code;
    if (code === 0x4a && this.field?.role === "card") {
      const { sensRes, selRes, nfcId, ats } = this.field.identity;
      this.listedTg = 1;
      this.pending = undefined;
      this.respond([0x4b, 0x01, this.listedTg, ...sensRes, selRes, nfcId.length, ...nfcId, ...ats]);
    } else if (code === 0x8c && this.field?.role === "reader" && !this.readerActivated) {
      this.readerActivated = true;
      this.pending = undefined;
      this.activateReader(this.field.read.bind(this.field));
    } else if (code === 0x86) {
      this.completeGetData();
    }
  }

  private activateReader(read: (tag: TagLink) => Promise<void>): void {
    const session = new TargetSession(() => this.completePending());
    this.session = session;
    // Mode 0x08: 106 kbps, ISO/IEC 14443-4 PICC; the reader's first command was RATS (E0 80).
    this.respond([0x8d, 0x08, 0xe0, 0x80]);
    setImmediate(() => {
      read(session)
        .catch((error: unknown) => log.debug({ err: error }, "virtual reader stopped with an error"))
        .finally(() => session.end());
    });
  }

  private completeGetData(): void {
    const session = this.session;
    if (!session) {
      this.pending = undefined;
      this.respond([0x87, Status.invalidState]);
      return;
    }
    if (session.ended) {
      this.pending = undefined;
      this.respond([0x87, Status.released]);
      return;
    }
    const apdu = session.takeCommand();
    if (!apdu) return;
    this.pending = undefined;
    this.respond([0x87, Status.ok, ...apdu]);
  }

  private setData(params: Uint8Array): void {
    const session = this.session;
    if (!session || session.ended) return this.respond([0x8f, Status.released]);
    this.respond([0x8f, session.deliverResponse(params.slice()) ? Status.ok : Status.notInContext]);
  }

  private async dataExchange(params: Uint8Array): Promise<void> {
    const seq = this.commandSeq;
    if (params.length < 1 || this.listedTg === undefined || params[0] !== this.listedTg) {
      return this.respond([0x41, Status.notInContext]);
    }
    if (this.faults.removeTargetAtApdu > 0 && --this.faults.removeTargetAtApdu === 0) this.removeFromField();
    const card = this.field;
    if (card?.role !== "card") return this.respond([0x41, Status.timeout]);
    let answer: Uint8Array;
    try {
      answer = await card.transceive(params.slice(1));
    } catch (error) {
      log.debug({ err: error }, "virtual card failed");
      answer = new Uint8Array(0);
    }
    if (seq !== this.commandSeq) return;
    if (answer.length === 0 || this.field !== card) return this.respond([0x41, Status.timeout]);
    this.respond([0x41, Status.ok, ...answer]);
  }

  private respond(data: number[]): void {
    const frame = encodeInformationFrame(tfiPn532ToHost, Uint8Array.from(data));
    this.lastResponse = frame;
    this.send(frame, true);
  }

  private sendApplicationError(): void {
    this.lastResponse = errorFrameBytes;
    this.send(errorFrameBytes, false);
  }

  private send(frame: Uint8Array, corruptible: boolean): void {
    let bytes = frame;
    if (corruptible && this.faults.badChecksumResponses > 0) {
      this.faults.badChecksumResponses--;
      bytes = frame.slice();
      bytes[bytes.length - 2] = (bytes[bytes.length - 2]! + 1) & 0xff;
    }
    if (this.faults.garbageBeforeFrames > 0) {
      this.faults.garbageBeforeFrames--;
      bytes = Uint8Array.from([...garbage, ...bytes]);
    }
    const split = this.faults.splitChunks;
    this.outgoing = this.outgoing.then(async () => {
      const chunks = split ? [...bytes].map((byte) => Uint8Array.of(byte)) : [bytes];
      for (const chunk of chunks) {
        if (split) await new Promise((resolve) => setImmediate(resolve));
        this.record("device", chunk);
        this.toHost?.(chunk);
      }
    });
  }

  private record(direction: WireRecord["direction"], bytes: Uint8Array): void {
    this.wire.push({ direction, bytes: bytes.slice() });
    if (this.wire.length > wireRecordsMax) this.wire.shift();
  }
}

/** The hub-as-tag link for one activation: the phone's C-APDU waits for TgGetData, TgSetData answers it. */
class TargetSession implements TagLink {
  ended = false;
  private command: Uint8Array | undefined;
  private awaiting: { resolve: (apdu: Uint8Array) => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly onChange: () => void) {}

  transceive(apdu: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.ended) return Promise.reject(new TapwireError("the tag left the field", ErrorCode.NfcTargetLost));
    if (this.awaiting) return Promise.reject(new TapwireError("one APDU at a time", ErrorCode.NfcUnexpectedResponse));
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.awaiting = undefined;
        this.command = undefined;
        reject(new TapwireError(`the tag did not answer within ${timeoutMs} ms`, ErrorCode.NfcTimeout));
      }, timeoutMs);
      this.awaiting = { resolve, reject, timer };
    });
    this.command = apdu.slice();
    this.onChange();
    return answer;
  }

  takeCommand(): Uint8Array | undefined {
    const command = this.command;
    this.command = undefined;
    return command;
  }

  deliverResponse(apdu: Uint8Array): boolean {
    const awaiting = this.awaiting;
    if (!awaiting || this.command) return false;
    this.awaiting = undefined;
    clearTimeout(awaiting.timer);
    awaiting.resolve(apdu);
    return true;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const awaiting = this.awaiting;
    this.awaiting = undefined;
    if (awaiting) {
      clearTimeout(awaiting.timer);
      awaiting.reject(new TapwireError("the tag left the field", ErrorCode.NfcTargetLost));
    }
    this.onChange();
  }
}
