import { execFile } from "node:child_process";
import { assert } from "../../core/assert.ts";
import { logger } from "../../core/log.ts";

const log = logger("tapwire:systemd");

/** How long one `systemd-notify` may run: it waits up to 5 s for the manager to take the message (its barrier). */
export const notifyRunTimeoutMs = 10_000;
/** Fields of one message, at most, so a burst of status changes cannot grow it without bound. */
const fieldsMax = 16;

/** Sends one sd_notify message (`READY=1`, `WATCHDOG=1`, `STATUS=…`); rejects when it could not. */
export type NotifySend = (fields: ReadonlyMap<string, string>) => Promise<void>;

/**
 * Node cannot send an AF_UNIX datagram, so each message goes through Debian's `systemd-notify` (part of the
 * systemd package). Unprivileged, it sends from its own pid and then waits until the manager has taken the
 * message, so the unit needs `NotifyAccess=all` and attributes it by cgroup. The variables go as arguments
 * (`systemd-notify READY=1 STATUS=…`), never through a shell.
 */
export function systemdNotifySend(socketPath: string, command = "systemd-notify"): NotifySend {
  return (fields) =>
    new Promise((resolve, reject) => {
      const args = [...fields].map(([key, value]) => `${key}=${value}`);
      const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", NOTIFY_SOCKET: socketPath };
      execFile(command, args, { env, timeout: notifyRunTimeoutMs }, (error) => (error ? reject(error) : resolve()));
    });
}

/**
 * One message in flight at a time; what arrives meanwhile is merged into one pending message (a later value of a
 * field replaces an earlier one), so a slow manager delays notifications instead of piling up processes.
 */
export class SystemdNotifier {
  private inFlight = false;
  private pending = new Map<string, string>();
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly send: NotifySend) {}

  notify(fields: Record<string, string>): void {
    for (const [key, value] of Object.entries(fields)) {
      // A newline would start another variable inside the message.
      this.pending.set(key, value.replace(/\n/g, " "));
    }
    assert(this.pending.size <= fieldsMax, `sd_notify message with over ${fieldsMax} fields`);
    this.flush();
  }

  /** Resolves once nothing is pending or in flight (a clean stop sends STOPPING=1 before exiting). */
  settled(): Promise<void> {
    if (!this.inFlight && this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private flush(): void {
    if (this.inFlight) return;
    if (this.pending.size === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
      return;
    }
    const message = this.pending;
    this.pending = new Map();
    this.inFlight = true;
    this.send(message)
      .catch((error: unknown) => log.warn({ err: error, fields: [...message.keys()] }, "sd_notify message not sent"))
      .finally(() => {
        this.inFlight = false;
        this.flush();
      });
  }
}

export interface SystemdEnvironment {
  /** $NOTIFY_SOCKET: where the service manager listens; absent when not started by it as Type=notify. */
  socketPath: string;
  /** Half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; absent when the unit has no WatchdogSec=. */
  watchdogIntervalMs: number | undefined;
}

/** What the service manager told this process through its environment; undefined when it is not one of its services. */
export function systemdEnvironment(env: NodeJS.ProcessEnv, pid: number): SystemdEnvironment | undefined {
  const socketPath = env["NOTIFY_SOCKET"];
  if (socketPath === undefined || socketPath === "") return undefined;
  const usec = Number(env["WATCHDOG_USEC"]);
  // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the variables is not it.
  const forUs = env["WATCHDOG_PID"] === undefined || Number(env["WATCHDOG_PID"]) === pid;
  const watchdogIntervalMs = forUs && Number.isSafeInteger(usec) && usec > 0 ? Math.max(1, Math.floor(usec / 2_000)) : undefined;
  return { socketPath, watchdogIntervalMs };
}
