import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";
import type { Timers } from "../../core/sources.ts";
import { SystemdNotifier, systemdEnvironment, systemdNotifySend } from "./systemd-notify.ts";

const log = logger("tapwire:systemd:watchdog");

/** Undefined while healthy; what is wrong otherwise (one short sentence, shown in `systemctl status`). */
export type HealthCheck = () => string | undefined;

export interface ServiceWatchdogOptions {
  notifier: SystemdNotifier;
  /** How often to ping: half of the unit's WatchdogSec=. Undefined when the unit has none (READY and STATUS only). */
  intervalMs: number | undefined;
  /** By name; every one must pass for a ping. */
  checks: Record<string, HealthCheck>;
  timers: Timers;
}

/**
 * The hub's side of systemd's watchdog: READY=1 once the hub runs, then WATCHDOG=1 every interval, but only while
 * every check passes. The pings come from a timer on the event loop, so a blocked loop sends none either; a hung
 * reader or an unwritable journal stops them too, and systemd restarts the hub (the journal makes that safe).
 * STATUS= carries the hub's own status line while healthy and the failing checks while not.
 */
export class ServiceWatchdog {
  private timer: unknown;
  private running = false;
  private statusText = "";
  private statusSent: string | undefined;
  /** As of the last evaluation of the checks (at ready and at each tick). */
  private healthy = true;

  constructor(private readonly options: ServiceWatchdogOptions) {
    assert(options.intervalMs === undefined || (Number.isSafeInteger(options.intervalMs) && options.intervalMs > 0), "watchdog interval must be positive");
  }

  /** Tells the service manager that start-up is complete; pinging starts (when the unit asked for it). */
  ready(status: string): void {
    assert(!this.running, "ServiceWatchdog.ready() called twice");
    this.running = true;
    this.statusText = status;
    const problems = this.problems();
    this.healthy = problems === undefined;
    const text = problems ?? status;
    this.statusSent = text;
    this.options.notifier.notify({ READY: "1", STATUS: text, ...(problems === undefined && this.options.intervalMs ? { WATCHDOG: "1" } : {}) });
    this.schedule();
  }

  /** The hub's status line changed: shown while healthy (the checks run at each tick, not here). */
  status(text: string): void {
    this.statusText = text;
    if (this.running && this.healthy) this.sendStatus(text);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.options.notifier.notify({ STOPPING: "1", STATUS: "stopping" });
    await this.options.notifier.settled();
  }

  private schedule(): void {
    if (!this.running || this.options.intervalMs === undefined) return;
    this.timer = this.options.timers.setTimeout(() => this.tick(), this.options.intervalMs);
  }

  private tick(): void {
    this.timer = undefined;
    const problems = this.problems();
    this.healthy = problems === undefined;
    if (problems === undefined) {
      this.options.notifier.notify({ WATCHDOG: "1", ...(this.statusSent === this.statusText ? {} : { STATUS: this.statusText }) });
      this.statusSent = this.statusText;
    } else {
      if (this.statusSent !== problems) log.error({ problems }, "unhealthy: watchdog pings stop until it recovers");
      this.sendStatus(problems);
    }
    this.schedule();
  }

  private sendStatus(text: string): void {
    if (this.statusSent === text) return;
    this.statusSent = text;
    this.options.notifier.notify({ STATUS: text });
  }

  private problems(): string | undefined {
    const found = Object.entries(this.options.checks).flatMap(([name, check]) => {
      const problem = check();
      return problem === undefined ? [] : [`${name}: ${problem}`];
    });
    return found.length === 0 ? undefined : `unhealthy: ${found.join("; ")}`;
  }
}

/** The watchdog of a process systemd started as a Type=notify service; undefined for any other run (a console). */
export function serviceWatchdogFromEnv(env: NodeJS.ProcessEnv, checks: Record<string, HealthCheck>, timers: Timers): ServiceWatchdog | undefined {
  const systemd = systemdEnvironment(env, process.pid);
  if (systemd === undefined) return undefined;
  const notifier = new SystemdNotifier(systemdNotifySend(systemd.socketPath));
  return new ServiceWatchdog({ notifier, intervalMs: systemd.watchdogIntervalMs, checks, timers });
}
