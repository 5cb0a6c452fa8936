import { logger } from "../protocol/log.ts";
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
  private readonly handled = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly disconnect: (principal: Principal) => unknown,
    private readonly pollMs = revocationPollMsDefault,
  ) {}

  start(): void {
    for (const hub of this.registry.listHubs()) if (hub.status === "revoked") this.handled.add(hub.hubId);
    this.unsubscribe = this.registry.onRevoked((hub) => this.drop(hub.hubId));
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private poll(): void {
    try {
      for (const hub of this.registry.listHubs()) if (hub.status === "revoked" && !this.handled.has(hub.hubId)) this.drop(hub.hubId);
    } catch (error) {
      log.warn({ err: error }, "revocation poll failed; retrying at the next interval");
    }
  }

  private drop(hubId: string): void {
    this.handled.add(hubId);
    const closed = this.disconnect({ kind: "hub", id: hubId });
    log.info({ hubId, closed }, "revoked hub disconnected");
  }
}
