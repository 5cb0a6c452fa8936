import { logger } from "../core/log.ts";
import { systemTimers, type Timers } from "../core/sources.ts";
import type { Principal } from "../protocol/topics.ts";
import type { Registry } from "./registry/registry.ts";

const log = logger("tapwire:revocation-watch");

export const revocationPollMsDefault = 1_000;

/**
 * Drops the connections of revoked hubs. A revocation made in this process arrives at once through the
 * registry's listener; one made by another process on the same database (`tapwire hub revoke` beside a running
 * `tapwire settle`) is found by polling, within revocationPollMs. Either way the hub's reconnect is then
 * refused by the broker's isActive check, and its messages by the service.
 */
export class RevocationWatch {
  /**
   * Revocations at this instant or later are still to be read; `handledAtMark` are the ones seen at it. A revocation
   * stamped earlier by a process with a slower clock is missed here, but still refused at reconnect and per message.
   */
  private markMs = 0;
  private handledAtMark = new Set<string>();
  private timer: unknown;
  private running = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly disconnect: (principal: Principal) => unknown,
    private readonly pollMs = revocationPollMsDefault,
    /** The poll waits on these (a simulation's virtual clock); real timers by default. */
    private readonly timers: Timers = systemTimers,
  ) {}

  start(): void {
    // Hubs revoked before we started are refused at connect already; only newer revocations need a drop.
    this.advance(this.registry.hubsRevokedSince(this.markMs));
    this.unsubscribe = this.registry.onRevoked((hub) => this.drop(hub.hubId));
    this.running = true;
    this.arm();
  }

  stop(): void {
    this.running = false;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** The next poll in pollMs: a one-shot re-armed after each poll, so injected timers need no interval. */
  private arm(): void {
    this.timer = this.timers.setTimeout(() => {
      if (!this.running) return;
      this.poll();
      this.arm();
    }, this.pollMs);
    // A real timer must not keep the process alive on its own.
    (this.timer as { unref?: () => void } | undefined)?.unref?.();
  }

  private poll(): void {
    try {
      const revoked = this.registry.hubsRevokedSince(this.markMs).filter((hub) => !this.handledAtMark.has(hub.hubId));
      for (const hub of revoked) this.drop(hub.hubId);
      this.advance(revoked);
    } catch (error) {
      log.warn({ err: error }, "revocation poll failed; retrying at the next interval");
    }
  }

  /** Moves the mark to the newest revocation read, remembering the hubs revoked at exactly that instant. */
  private advance(revoked: ReadonlyArray<{ hubId: string; revokedAtMs: number }>): void {
    for (const hub of revoked) {
      if (hub.revokedAtMs > this.markMs) {
        this.markMs = hub.revokedAtMs;
        this.handledAtMark = new Set();
      }
      if (hub.revokedAtMs === this.markMs) this.handledAtMark.add(hub.hubId);
    }
  }

  private drop(hubId: string): void {
    const closed = this.disconnect({ kind: "hub", id: hubId });
    log.info({ hubId, closed }, "revoked hub disconnected");
  }
}
