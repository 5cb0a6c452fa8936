import type { LinkPort, SettlementPort } from "../../device/ports.ts";
import { assert } from "../../core/assert.ts";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import { logger } from "../../core/log.ts";
import type { Decision } from "../../protocol/messages.ts";
import { HubLink, type HubLinkOptions } from "../mqtt/hub-link.ts";
import { SettlementListeners } from "./settlement-listeners.ts";

const log = logger("tapwire:adapters:settlement");

/** HubLink options the adapter owns itself: reconnecting and the callbacks it listens on. */
type OwnedOptions = "reconnectAttemptsMax" | "onConnected" | "onOffline" | "onUnmatchedDecision";

export interface MqttSettlementLinkOptions {
  link: Omit<HubLinkOptions, OwnedOptions>;
  /** Upper bound on one connect attempt; the hub machine usually aborts sooner (its connectTimeoutMs). */
  connectTimeoutMs: number;
  onRefused?: HubLinkOptions["onRefused"];
}

/**
 * The hub's MQTT link as device/'s SettlementPort and LinkPort: it publishes what the outbox hands it and passes
 * on every verified decision; matching decisions to requests, resending and timeouts are the outbox's.
 *
 * Reconnecting: the hub machine owns it (backoff, attempts, cooldown), so each connect() builds a fresh HubLink
 * with `reconnectAttemptsMax: 0`: MqttConnection then stops at the first close instead of reconnecting behind
 * the machine's back. Link status has one owner: the current HubLink's connection; `online` reads it.
 */
export class MqttSettlementLink implements SettlementPort, LinkPort {
  private link: HubLink | undefined;
  private readonly listeners = new SettlementListeners();

  constructor(private readonly options: MqttSettlementLinkOptions) {
    assert(options.connectTimeoutMs > 0, "connectTimeoutMs must be positive");
  }

  get online(): boolean {
    return this.link?.connected ?? false;
  }

  async connect(input: { signal: AbortSignal }): Promise<void> {
    if (this.online) return;
    await this.closeLink();
    if (input.signal.aborted) throw new TapwireError("connect aborted", ErrorCode.Cancelled);
    const link = this.openLink();
    const onAbort = () => void this.closeLink(link);
    input.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await link.waitConnected(this.options.connectTimeoutMs);
    } catch (error) {
      await this.closeLink(link);
      throw asTapwireError(error, ErrorCode.Offline);
    } finally {
      input.signal.removeEventListener("abort", onAbort);
    }
  }

  /** Closes the connection (publishing the retained "offline" state). */
  async stop(): Promise<void> {
    await this.closeLink();
  }

  publish(payload: Buffer): Promise<void> {
    const link = this.link;
    if (link === undefined) return Promise.reject(new TapwireError("settlement link offline", ErrorCode.Offline));
    return link.publishRequest(payload).catch((error: unknown) => {
      throw asTapwireError(error, ErrorCode.Offline);
    });
  }

  onDecision(listener: (decision: Decision, bytes: Buffer) => void): () => void {
    return this.listeners.onDecision(listener);
  }

  onStatus(listener: (online: boolean) => void): () => void {
    return this.listeners.onStatus(listener);
  }

  private openLink(): HubLink {
    const link: HubLink = new HubLink({
      ...this.options.link,
      reconnectAttemptsMax: 0,
      onConnected: () => {
        if (this.link === link) this.announce();
      },
      onOffline: () => {
        if (this.link === link) this.announce();
      },
      onUnmatchedDecision: (reply) => {
        if (this.link !== link) return;
        this.listeners.decided(reply.decision, reply.bytes);
      },
      ...(this.options.onRefused ? { onRefused: this.options.onRefused } : {}),
    });
    this.link = link;
    link.start();
    return link;
  }

  private async closeLink(which?: HubLink): Promise<void> {
    const link = this.link;
    if (link === undefined || (which !== undefined && which !== link)) return;
    this.link = undefined;
    this.announce();
    await link.stop();
  }

  private announce(): void {
    const online = this.online;
    if (this.listeners.announce(online)) log.info({ online }, online ? "settlement link up" : "settlement link down");
  }
}
