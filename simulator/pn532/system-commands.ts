import { Status, type ChipState, type HostLink } from "./chip-state.ts";
import type { InitiatorRole } from "./initiator-commands.ts";
import { Register, txControlRfOnBits } from "./register-file.ts";
import type { TargetRole } from "./target-commands.ts";

/** Miscellaneous and RF commands, UM0701-02 §7.2 and §7.3.1–§7.3.2. */
const SystemCode = {
  diagnose: 0x00,
  getFirmwareVersion: 0x02,
  getGeneralStatus: 0x04,
  readRegister: 0x06,
  writeRegister: 0x08,
  readGpio: 0x0c,
  writeGpio: 0x0e,
  setSerialBaudRate: 0x10,
  setParameters: 0x12,
  samConfiguration: 0x14,
  powerDown: 0x16,
  rfConfiguration: 0x32,
  rfRegulationTest: 0x58,
} as const;

/** IC 0x32 (PN532), Ver 1, Rev 6, Support 7 = ISO/IEC 14443 A + B + ISO/IEC 18092 (§7.2.2, firmware V1.6). */
const firmwareVersion = [0x32, 0x01, 0x06, 0x07];
/** SetSerialBaudRate BR 0x00–0x08 (§7.2.8). */
const baudRatesBps = [9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600, 1_288_000];
/** ConfigurationData length of each RFConfiguration CfgItem (§7.3.1); the analog ones match what nfcpy sends. */
const rfConfigurationBytes: ReadonlyMap<number, number> = new Map([
  [0x01, 1],
  [0x02, 3],
  [0x04, 1],
  [0x05, 3],
  [0x0a, 11],
  [0x0b, 8],
  [0x0c, 3],
  [0x0d, 9],
]);
const CfgItem = { rfField: 0x01, maxRetries: 0x05 } as const;
/** RF field item, bit 0: switch the field on. */
const rfFieldOn = 0x01;
/** PowerDown WakeUpEnable bits (§7.2.11). */
const WakeUpEnable = { rfLevelDetector: 0x08, hsu: 0x10 } as const;
/** Diagnose NumTst (§7.2.1). */
const Test = { line: 0x00, rom: 0x01, ram: 0x02, polling: 0x04, echoBack: 0x05, attention: 0x06, antenna: 0x07 } as const;
/** The polling test sends 128 FeliCa polls; with no FeliCa target in this field every one fails. */
const pollingTestPolls = 128;
/** ReadGPIO (§7.2.6): P3 pins P30–P35, P7 pins P71–P72; IOI1 = 0x00 is I0 = I1 = 0, the HSU interface. */
const p3Pins = 0x3f;
const p7Pins = 0x06;
const interfaceHsu = 0x00;
/** WriteGPIO (§7.2.7): bit 7 of a port byte says the port is to be written. */
const gpioValidate = 0x80;
/** SAMConfiguration modes 1–4; mode 2 (virtual card) must carry its timeout (§7.2.10). */
const samModeVirtualCard = 0x02;
const samModeMax = 0x04;

export class SystemCommands {
  readonly handlers: ReadonlyMap<number, (params: Uint8Array) => void>;

  constructor(
    private readonly chip: ChipState,
    private readonly host: HostLink,
    private readonly initiator: InitiatorRole,
    private readonly target: TargetRole,
  ) {
    const C = SystemCode;
    this.handlers = new Map<number, (params: Uint8Array) => void>([
      [C.diagnose, (p) => this.diagnose(p)],
      [C.getFirmwareVersion, () => this.host.respond([0x03, ...firmwareVersion])],
      [C.getGeneralStatus, () => this.generalStatus()],
      [C.readRegister, (p) => this.readRegister(p)],
      [C.writeRegister, (p) => this.writeRegister(p)],
      [C.readGpio, () => this.readGpio()],
      [C.writeGpio, (p) => this.writeGpio(p)],
      [C.setSerialBaudRate, (p) => this.setSerialBaudRate(p)],
      [C.setParameters, (p) => this.setParameters(p)],
      [C.samConfiguration, (p) => this.samConfiguration(p)],
      [C.powerDown, (p) => this.powerDown(p)],
      [C.rfConfiguration, (p) => this.rfConfiguration(p)],
      [C.rfRegulationTest, (p) => this.rfRegulationTest(p)],
    ]);
  }

  private diagnose(params: Uint8Array): void {
    switch (params[0]) {
      case Test.line:
        return this.host.respond([0x01, ...params]);
      case Test.rom:
      case Test.ram:
        return this.host.respond([0x01, Status.ok]);
      case Test.polling:
        return params[1] === 0x01 || params[1] === 0x02 ? this.host.respond([0x01, pollingTestPolls]) : this.host.syntaxError();
      case Test.echoBack:
        // The chip turns into an echoing target until the next command arrives: no response frame.
        return params.length === 4 ? undefined : this.host.syntaxError();
      case Test.attention:
        return this.chip.reply(this.host, 0x01, this.initiator.presenceStatus());
      case Test.antenna:
        return params.length === 2 ? this.host.respond([0x01, Status.ok]) : this.host.syntaxError();
      default:
        return this.host.syntaxError();
    }
  }

  /** Err, Field (an external RF field is present), NbTg, the targets, SAM status (§7.2.3). */
  private generalStatus(): void {
    const entries = this.initiator.statusEntries();
    const externalField = this.chip.field?.role === "reader" ? 0x01 : 0x00;
    this.host.respond([0x05, this.chip.lastStatus, externalField, entries.length / 4, ...entries, 0x00]);
  }

  private readRegister(params: Uint8Array): void {
    if (params.length === 0 || params.length % 2 !== 0) return this.host.syntaxError();
    const values: number[] = [];
    for (let i = 0; i < params.length; i += 2) values.push(this.chip.registers.read((params[i]! << 8) | params[i + 1]!));
    this.host.respond([0x07, ...values]);
  }

  private writeRegister(params: Uint8Array): void {
    if (params.length === 0 || params.length % 3 !== 0) return this.host.syntaxError();
    for (let i = 0; i < params.length; i += 3) this.chip.registers.write((params[i]! << 8) | params[i + 1]!, params[i + 2]!);
    this.host.respond([0x09]);
  }

  private readGpio(): void {
    const { registers } = this.chip;
    this.host.respond([0x0d, registers.read(Register.sfrP3) & p3Pins, registers.read(Register.sfrP7) & p7Pins, interfaceHsu]);
  }

  private writeGpio(params: Uint8Array): void {
    const [p3, p7] = params;
    if (p3 === undefined || p7 === undefined || params.length !== 2) return this.host.syntaxError();
    if ((p3 & gpioValidate) !== 0) this.chip.registers.update(Register.sfrP3, p3Pins, p3);
    if ((p7 & gpioValidate) !== 0) this.chip.registers.update(Register.sfrP7, p7Pins, p7);
    this.host.respond([0x0f]);
  }

  /** The new rate applies once the host has ACKed this response (§7.2.8). */
  private setSerialBaudRate(params: Uint8Array): void {
    const rateBps = baudRatesBps[params[0] ?? -1];
    if (rateBps === undefined || params.length !== 1) return this.host.syntaxError();
    this.host.respond([0x11]);
    this.chip.pendingBaudRateBps = rateBps;
  }

  /** The response still goes out with the framing in force when the command arrived. */
  private setParameters(params: Uint8Array): void {
    if (params.length !== 1) return this.host.syntaxError();
    this.host.respond([0x13]);
    this.chip.parameters = params[0]!;
  }

  /** No SAM is wired to this chip, so every valid mode behaves as normal mode. */
  private samConfiguration(params: Uint8Array): void {
    const mode = params[0];
    if (!mode || mode > samModeMax || params.length > 3 || (mode === samModeVirtualCard && params.length < 2)) {
      return this.host.syntaxError();
    }
    this.host.respond([0x15]);
  }

  /** Answers, then sleeps: the field goes off and the chip listens only for its wake-up sources. */
  private powerDown(params: Uint8Array): void {
    const wakeUpEnable = params[0];
    if (wakeUpEnable === undefined || params.length > 2) return this.host.syntaxError();
    this.chip.reply(this.host, 0x17, Status.ok);
    this.initiator.releaseAll();
    this.target.stop();
    this.chip.registers.update(Register.ciuTxControl, txControlRfOnBits, 0x00);
    this.chip.power.sleepRequested = true;
    this.chip.power.wakeOnHsu = (wakeUpEnable & WakeUpEnable.hsu) !== 0;
    this.chip.power.wakeOnRfField = (wakeUpEnable & WakeUpEnable.rfLevelDetector) !== 0;
  }

  /** Timings, MaxRtyCOM and the analog settings are accepted and have no effect here: no time passes, no RF is sent. */
  private rfConfiguration(params: Uint8Array): void {
    const item = params[0];
    const data = params.slice(1);
    if (item === undefined || rfConfigurationBytes.get(item) !== data.length) return this.host.syntaxError();
    if (item === CfgItem.rfField) {
      this.chip.registers.update(Register.ciuTxControl, txControlRfOnBits, (data[0]! & rfFieldOn) !== 0 ? txControlRfOnBits : 0x00);
    }
    if (item === CfgItem.maxRetries) this.chip.passiveActivationRetries = data[2]!;
    this.host.respond([0x33]);
  }

  /** The chip transmits the test signal until the next command arrives; it sends no response frame (§7.3.2). */
  private rfRegulationTest(params: Uint8Array): void {
    if (params.length !== 1) this.host.syntaxError();
  }
}
