import { contract } from "../../protocol/contract.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import type { Decision } from "../../protocol/messages.ts";
import type { Clock } from "../../core/sources.ts";

const log = logger("tapwire:clock-watch");

export type ClockStatus = { state: "ok" } | { state: "wrong"; detail: string };

/**
 * Whether the hub's clock agrees with the service's. A wrong clock does not make every sale a decline of its own:
 * the hub says "clock wrong" once, in one place, and the panel and the log show it. Evidence comes from
 * decisions (every decision carries the service's `iat`, and a decision cannot be older than the request it
 * answers nor come from the future) and from TLS (the broker's certificate "not yet valid").
 */
export class ClockWatch {
  private current: ClockStatus = { state: "ok" };
  private readonly listeners = new Set<(status: ClockStatus) => void>();

  constructor(
    private readonly clock: Clock,
    private readonly skewMs: number = contract.clockSkewMs,
  ) {}

  get status(): ClockStatus {
    return this.current;
  }

  onChange(listener: (status: ClockStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A decision that answers a request this hub signed at `requestIatMs` (undefined for a tag offer's payment).
   * Only an answer to a request signed within the allowed skew can clear a wrong clock: a resend of old bytes
   * agrees with the service however far ahead the hub's clock has run since.
   */
  observe(decision: Decision, requestIatMs: number | undefined): void {
    const nowMs = this.clock.nowMs();
    if (decision.iat > nowMs + this.skewMs) {
      this.set({ state: "wrong", detail: `the service's clock is ${decision.iat - nowMs} ms ahead of the hub's` });
    } else if (requestIatMs !== undefined && decision.iat + this.skewMs < requestIatMs) {
      this.set({ state: "wrong", detail: `the hub's clock is ${requestIatMs - decision.iat} ms ahead of the service's` });
    } else if (decision.code === ErrorCode.MessageNotYetValid) {
      this.set({ state: "wrong", detail: "the service refused a request as not yet valid: the hub's clock runs ahead" });
    } else if (decision.code === ErrorCode.MessageExpired && requestIatMs !== undefined && nowMs - requestIatMs < this.skewMs) {
      this.set({ state: "wrong", detail: "the service refused a fresh request as expired: the hub's clock runs behind" });
    } else if (requestIatMs !== undefined && nowMs - requestIatMs <= this.skewMs) {
      this.set({ state: "ok" });
    }
  }

  /** The broker's certificate is not valid yet by the hub's clock: the clock is behind. */
  certificateNotYetValid(): void {
    this.set({ state: "wrong", detail: "the broker's certificate is not yet valid by the hub's clock" });
  }

  private set(status: ClockStatus): void {
    if (status.state === this.current.state && (status.state === "ok" || (this.current.state === "wrong" && status.detail === this.current.detail))) return;
    const was = this.current.state;
    this.current = status;
    if (status.state === "wrong") log.error({ code: ErrorCode.ClockWrong, detail: status.detail }, "hub clock wrong");
    else if (was === "wrong") log.info("hub clock agrees with the service again");
    for (const listener of [...this.listeners]) listener(status);
  }
}
