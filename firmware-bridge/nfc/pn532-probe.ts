import { logger } from "../../core/log.ts";
import { assertInRanges } from "../../core/ranges.ts";
import type { Clock, Timers } from "../../core/sources.ts";
import { errorCodeName, isTapwireError } from "../../protocol/errors.ts";
import type { CommandOptions, FirmwareVersion } from "./pn532.ts";

const log = logger("tapwire:nfc:probe");

/** What the probe needs of the driver (the real Pn532). */
export interface ProbedPn532 {
  readonly idle: boolean;
  getFirmwareVersion(options?: CommandOptions): Promise<FirmwareVersion>;
}

export interface Pn532ProbeOptions {
  /** How often an idle reader is asked for its firmware version. */
  intervalMs: number;
  /** How long its answer may take. */
  timeoutMs: number;
  /**
   * Longest time without an answer before the reader counts as hung even though no probe failed: a sale keeps the
   * chip busy (waiting for a card) and probes wait for it, so this must exceed the longest such wait.
   */
  silenceMsMax: number;
  clock: Clock;
  timers: Timers;
}

export const pn532ProbeDefaults = { intervalMs: 5_000, timeoutMs: 1_000 };

export const pn532ProbeRanges = {
  intervalMs: [100, 600_000, "milliseconds"],
  timeoutMs: [10, 10_000, "milliseconds"],
  silenceMsMax: [100, 3_600_000, "milliseconds"],
} as const;

/**
 * Whether a PN532 still answers, for a watchdog: a reader whose link is up can still hang (a wedged chip, a brown
 * out), and the first to notice would otherwise be a customer. When the driver is idle the probe asks for the
 * firmware version (a command with no effect on the field); a failure, or too long without any answer, is a problem.
 */
export class Pn532Probe {
  private timer: unknown;
  private running = false;
  private answeredAtMs: number;
  private failure: string | undefined;

  constructor(
    private readonly pn532: ProbedPn532,
    private readonly options: Pn532ProbeOptions,
  ) {
    assertInRanges(options, pn532ProbeRanges, "reader probe", "nfc.probe.");
    // Built right after the driver's start() was answered: that counts as the first answer.
    this.answeredAtMs = options.clock.nowMs();
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Undefined while the reader answers; what is wrong with it otherwise. */
  problem(): string | undefined {
    if (this.failure !== undefined) return this.failure;
    const silentMs = this.options.clock.nowMs() - this.answeredAtMs;
    if (silentMs > this.options.silenceMsMax) return `the NFC reader has not answered for ${silentMs} ms`;
    return undefined;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.options.timers.setTimeout(() => void this.probe(), this.options.intervalMs);
  }

  private async probe(): Promise<void> {
    this.timer = undefined;
    if (this.pn532.idle) {
      try {
        await this.pn532.getFirmwareVersion({ timeoutMs: this.options.timeoutMs });
        this.answeredAtMs = this.options.clock.nowMs();
        if (this.failure !== undefined) log.info("NFC reader answers again");
        this.failure = undefined;
      } catch (error) {
        if (!isTapwireError(error)) throw error;
        if (this.failure === undefined) log.error({ code: error.code }, "NFC reader did not answer its health probe");
        this.failure = `the NFC reader did not answer GetFirmwareVersion: E${error.code} ${errorCodeName(error.code)}`;
      }
    }
    this.schedule();
  }
}
