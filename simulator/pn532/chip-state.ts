import type { FieldDevice } from "./field.ts";
import { RegisterFile } from "./register-file.ts";

/** Status byte values the chip reports (UM0701-02 §7.1, error code table). */
export const Status = {
  ok: 0x00,
  timeout: 0x01,
  internalBufferOverflow: 0x0e,
  invalidDepState: 0x25,
  notInContext: 0x27,
  released: 0x29,
} as const;

/** Status bit 6: more information follows (MI, chaining; UM0701-02 §7.3.8, §7.3.16). */
export const moreInformationBit = 0x40;

/** Packet data after TFI, command code and status: 265 − 3 (UM0701-02 §7.3.8 DataOut / DataIn arrays). */
export const dataBytesMax = 262;

/** SetParameters flags (UM0701-02 §7.2.9) of the default set and of the chip's behaviour; the others are kept, not used. */
export const ParameterFlag = {
  automaticAtrRes: 0x04,
  automaticRats: 0x10,
  iso14443_4Picc: 0x20,
  removePrePostAmble: 0x40,
} as const;

/**
 * Flags in force before any SetParameters: automatic ATR_RES, automatic RATS and ISO/IEC 14443-4 PICC emulation.
 * dotnet/iot Pn532.cs records these as the chip's defaults, and host stacks that never send SetParameters (Seeed
 * `emulatetag.cpp`, tapwire's driver) get an ATS from InListPassiveTarget and APDUs from TgGetData, which needs them.
 */
export const defaultParameters = ParameterFlag.automaticAtrRes | ParameterFlag.automaticRats | ParameterFlag.iso14443_4Picc;

/** MxRtyPassiveActivation 0xFF: InListPassiveTarget keeps polling until a target answers (UM0701-02 §7.3.1). */
export const retriesEndless = 0xff;

/** What a command handler may do on the host link while it runs. */
export interface HostLink {
  /** Sends a response frame (TFI D5, then `data` starting with the response code). */
  respond(data: ArrayLike<number>): void;
  /** Sends the syntax error frame (UM0701-02 §6.2.1.5). */
  syntaxError(): void;
  /**
   * Keeps the command open: `attempt` runs now and again whenever the field or the emulated tag's link changes,
   * until it returns true (it has answered). An ACK from the host or a newer command drops it.
   */
  hold(attempt: () => boolean): void;
  /** Tries the held command again (the emulated tag's link changed). */
  retryHeld(): void;
  /** Number of the command being executed; a handler that answers after an await checks it has not changed. */
  currentCommand(): number;
}

export interface PowerState {
  /** In LowVBat after reset or in PowerDown: the first byte on HSU wakes the chip and is lost (UM0701-02 §7.2.11). */
  asleep: boolean;
  /** PowerDown answered: the chip falls asleep once it has taken in the host's current write (postamble included). */
  sleepRequested: boolean;
  wakeOnHsu: boolean;
  wakeOnRfField: boolean;
}

/** State shared by the system, initiator and target command sets; each role keeps its own link state. */
export class ChipState {
  readonly registers = new RegisterFile();
  parameters: number = defaultParameters;
  passiveActivationRetries: number = retriesEndless;
  serialBaudRateBps = 115_200;
  /** SetSerialBaudRate takes effect when the host ACKs its response (UM0701-02 §7.2.8). */
  pendingBaudRateBps: number | undefined;
  /** Err of GetGeneralStatus: the status of the last command that reported one. */
  lastStatus: number = Status.ok;
  readonly power: PowerState = { asleep: true, sleepRequested: false, wakeOnHsu: true, wakeOnRfField: false };
  field: FieldDevice | undefined;
  /** The reader in the field has already activated the emulated tag once (one activation per placement). */
  readerActivated = false;

  has(flag: number): boolean {
    return (this.parameters & flag) !== 0;
  }

  /** Answers `[code, status, ...rest]` and remembers the status for GetGeneralStatus. */
  reply(host: HostLink, code: number, status: number, rest: ArrayLike<number> = []): void {
    this.lastStatus = status & 0x3f;
    const data = [code, status];
    for (let i = 0; i < rest.length; i++) data.push(rest[i]!);
    host.respond(data);
  }
}
