import type { LinkPort, SettlementPort } from "../../device/ports.ts";
import { assert } from "../../protocol/assert.ts";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import { logger } from "../../protocol/log.ts";
import type { Decision } from "../../protocol/messages.ts";
import { HubLink, type DecisionReply, type HubLinkOptions } from "../mqtt/hub-link.ts";

const log = logger("tapwire:adapters:settlement");

/** HubLink options the adapter owns itself: reconnecting and the callbacks it listens on. */
type OwnedOptions = "reconnectAttemptsMax" | "onConnected" | "onOffline" | "onUnmatchedDecision";

export interface MqttSettlementLinkOptions {
  link: Omit<HubLinkOptions, OwnedOptions>;
  /** Upper bound on one connect attempt; the hub machine usually aborts sooner (its connectTimeoutMs). */
  connectTimeoutMs: number;
  /** awaitDecision calls waiting at once; one more fails with InflightFull. */
  decisionWaitersMax?: number;
  onRefused?: HubLinkOptions["onRefused"];
}

export const decisionWaitersMaxDefault = 16;

interface DecisionWaiter {
  requestId: string;
  resolve: (decision: Decision) => void;
  reject: (error: TapwireError) => void;
}

/**
 * The hub's MQTT link as device/'s SettlementPort and LinkPort.
 *
 * Reconnecting: the hub machine owns it (backoff, attempts, cooldown), so each connect() builds a fresh HubLink
 * with `reconnectAttemptsMax: 0`: MqttConnection then gives up at the first close instead of reconnecting
 * behind the machine's back, and the fresh link starts with no requests left over from the lost connection
 * (the outbox resends those with the same bytes once the status turns online).
 *
 * Tag mode: the wallet pays online and the service also answers the hub, on its `res` topic, for a request the
 * hub never sent; HubLink hands such decisions to onUnmatchedDecision, which awaitDecision listens to.
 */
export class MqttSettlementLink implements SettlementPort, LinkPort {
  private link: HubLink | undefined;
  private online = false;
  private readonly statusListeners = new Set<(online: boolean) => void>();
  private readonly waiters = new Set<DecisionWaiter>();
  /** Rejects every send still waiting when the connection drops. */
  private readonly dropListeners = new Set<() => void>();
  private readonly waitersMax: number;

  constructor(private readonly options: MqttSettlementLinkOptions) {
    this.waitersMax = options.decisionWaitersMax ?? decisionWaitersMaxDefault;
    assert(Number.isSafeInteger(this.waitersMax) && this.waitersMax > 0, "decisionWaitersMax must be a positive integer");
    assert(options.connectTimeoutMs > 0, "connectTimeoutMs must be positive");
  }

  get connected(): boolean {
    return this.online;
  }

  async connect(input: { signal: AbortSignal }): Promise<void> {
    if (this.link?.connected && this.online) return;
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

  /** Closes the connection (publishing the retained "offline" state) and fails every wait with Cancelled. */
  async stop(): Promise<void> {
    await this.closeLink();
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter.reject(new TapwireError("settlement link stopped", ErrorCode.Cancelled, { requestId: waiter.requestId }));
    }
  }

  send(payload: Buffer, requestId: string, timeoutMs: number): Promise<Decision> {
    const link = this.link;
    if (link === undefined || !this.online) return Promise.reject(new TapwireError("settlement link offline", ErrorCode.Offline, { requestId }));
    return new Promise<Decision>((resolve, reject) => {
      const onDrop = () => reject(new TapwireError("connection lost while waiting for the decision", ErrorCode.Offline, { requestId }));
      this.dropListeners.add(onDrop);
      link.request(payload, requestId, timeoutMs).then(
        (reply) => {
          this.dropListeners.delete(onDrop);
          resolve(reply.decision);
        },
        (error: unknown) => {
          this.dropListeners.delete(onDrop);
          reject(asTapwireError(error, ErrorCode.Offline));
        },
      );
    });
  }

  awaitDecision(requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<Decision> {
    if (signal?.aborted) return Promise.reject(new TapwireError("wait aborted", ErrorCode.Cancelled, { requestId }));
    if (!this.online) return Promise.reject(new TapwireError("settlement link offline", ErrorCode.Offline, { requestId }));
    if (this.waiters.size >= this.waitersMax) {
      return Promise.reject(new TapwireError("too many decision waits", ErrorCode.InflightFull, { decisionWaitersMax: this.waitersMax }));
    }
    return new Promise<Decision>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.dropListeners.delete(onDrop);
        this.waiters.delete(waiter);
      };
      const waiter: DecisionWaiter = {
        requestId,
        resolve: (decision) => {
          finish();
          resolve(decision);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      };
      const timer = setTimeout(
        () => waiter.reject(new TapwireError(`no decision within ${timeoutMs} ms`, ErrorCode.DecisionTimeout, { requestId })),
        timeoutMs,
      );
      const onAbort = () => waiter.reject(new TapwireError("wait aborted", ErrorCode.Cancelled, { requestId }));
      const onDrop = () => waiter.reject(new TapwireError("connection lost while waiting for the decision", ErrorCode.Offline, { requestId }));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.dropListeners.add(onDrop);
      this.waiters.add(waiter);
    });
  }

  onStatus(listener: (online: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private openLink(): HubLink {
    const link: HubLink = new HubLink({
      ...this.options.link,
      reconnectAttemptsMax: 0,
      onConnected: () => {
        if (this.link === link) this.setOnline(true);
      },
      onOffline: () => {
        if (this.link === link) this.setOnline(false);
      },
      onUnmatchedDecision: (reply) => {
        if (this.link === link) this.deliver(reply);
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
    this.setOnline(false);
    await link.stop();
  }

  private setOnline(online: boolean): void {
    if (this.online === online) return;
    this.online = online;
    log.info({ online }, online ? "settlement link up" : "settlement link down");
    if (!online) {
      const drops = [...this.dropListeners];
      this.dropListeners.clear();
      for (const onDrop of drops) onDrop();
    }
    for (const listener of [...this.statusListeners]) listener(online);
  }

  private deliver(reply: DecisionReply): void {
    const { decision } = reply;
    let matched = 0;
    for (const waiter of [...this.waiters]) {
      if (waiter.requestId !== decision.requestId) continue;
      waiter.resolve(decision);
      matched++;
    }
    if (matched === 0) log.debug({ requestId: decision.requestId, status: decision.status }, "decision nobody waits for; dropped");
  }
}
