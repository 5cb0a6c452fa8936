import { assert } from "../../core/assert.ts";
import type { Logger } from "../../core/log.ts";
import { assertInRanges } from "../../core/ranges.ts";
import type { Random, Timers } from "../../core/sources.ts";
import { isTapwireError, type TapwireError } from "../../protocol/errors.ts";

/** A device opened over its link (serial port, USB HID, tcp://): how to hear it go, how to let it go. */
export interface OpenedDevice {
  /** Calls `listener` once the link to the device is gone (unplugged, socket closed). */
  onGone(listener: () => void): void;
  close(): Promise<void>;
}

export interface DeviceSupervisorOptions<T extends OpenedDevice> {
  /** What the logs call it: "NFC reader", "code scanner". */
  what: string;
  /** The error code logged when it goes (ReaderGone, HidGone). */
  goneCode: number;
  log: Logger;
  /** Opens the device from scratch. Rejects (a TapwireError) when it cannot; anything else is a bug and crashes. */
  open: () => Promise<T>;
  timers: Timers;
  random: Random;
  /** First wait before reopening a device that went away; doubles up to reopenDelayMsMax, with jitter. */
  reopenDelayMsMin: number;
  reopenDelayMsMax: number;
}

export const reopenDelaysDefault = { reopenDelayMsMin: 500, reopenDelayMsMax: 30_000 };

/**
 * A field device's plug as the hub needs it: opened at start (the hub still starts when it is not there yet),
 * watched, and reopened with jittered backoff whenever its link goes, telling listeners at once each time it comes
 * or goes so the panel can say so instead of failing sale after sale.
 */
export class DeviceSupervisor<T extends OpenedDevice> {
  private opened: T | undefined;
  private readonly listeners = new Set<(present: boolean) => void>();
  private reopenTimer: unknown;
  private reopenAttempts = 0;
  private running = false;

  constructor(private readonly options: DeviceSupervisorOptions<T>) {
    assertInRanges(options, { reopenDelayMsMin: [10, 600_000, "milliseconds"], reopenDelayMsMax: [10, 3_600_000, "milliseconds"] }, `${options.what} supervision`);
  }

  /** The device while it is open; undefined while it is gone. */
  get current(): T | undefined {
    return this.opened;
  }

  async start(): Promise<void> {
    assert(!this.running, `${this.options.what} supervisor started twice`);
    this.running = true;
    await this.attempt();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.options.timers.clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const opened = this.opened;
    this.opened = undefined;
    await opened?.close();
  }

  onPresence(listener: (present: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** `which` stopped answering: forget it, tell the listeners, close it and start reopening. */
  lost(which: T): void {
    if (this.opened !== which) return;
    this.opened = undefined;
    this.options.log.error({ code: this.options.goneCode }, `${this.options.what} gone; reopening it`);
    this.tell(false);
    void which.close().catch((error: unknown) => this.options.log.warn({ err: error }, `closing the lost ${this.options.what} failed`));
    this.scheduleReopen(undefined);
  }

  private async attempt(): Promise<void> {
    this.reopenTimer = undefined;
    let opened: T;
    try {
      opened = await this.options.open();
    } catch (error) {
      if (!isTapwireError(error)) throw error;
      this.scheduleReopen(error);
      return;
    }
    if (!this.running) {
      await opened.close();
      return;
    }
    this.opened = opened;
    this.reopenAttempts = 0;
    opened.onGone(() => this.lost(opened));
    this.options.log.info(`${this.options.what} present`);
    this.tell(true);
  }

  private scheduleReopen(error: TapwireError | undefined): void {
    if (!this.running || this.reopenTimer !== undefined) return;
    this.reopenAttempts += 1;
    const { reopenDelayMsMin, reopenDelayMsMax } = this.options;
    const baseMs = Math.min(reopenDelayMsMax, reopenDelayMsMin * 2 ** Math.min(this.reopenAttempts - 1, 20));
    const delayMs = Math.max(reopenDelayMsMin, Math.round(baseMs * (0.8 + (this.options.random.bytes(1)[0]! / 255) * 0.4)));
    this.options.log.warn({ code: error?.code, attempt: this.reopenAttempts, delayMs }, `${this.options.what} not available; trying again`);
    this.reopenTimer = this.options.timers.setTimeout(() => void this.attempt(), delayMs);
  }

  private tell(present: boolean): void {
    for (const listener of [...this.listeners]) listener(present);
  }
}

/**
 * What a supervised device shows the hub, whatever it is (reader, scanner): whether it is there now, and start,
 * stop and presence changes, all answered by its DeviceSupervisor.
 */
export abstract class SupervisedDevice<T extends OpenedDevice> {
  protected abstract readonly supervisor: DeviceSupervisor<T>;

  get present(): boolean {
    return this.supervisor.current !== undefined;
  }

  /** Opens the device; if it is not there yet the hub still starts and it is tried again with backoff. */
  start(): Promise<void> {
    return this.supervisor.start();
  }

  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  onPresence(listener: (present: boolean) => void): () => void {
    return this.supervisor.onPresence(listener);
  }
}
