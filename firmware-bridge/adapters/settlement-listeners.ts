import { assert } from "../../core/assert.ts";
import type { Decision } from "../../protocol/messages.ts";

/** Decision listeners at once, at most: one outbox and a few observers. */
export const decisionListenersMax = 8;

/**
 * The listener half of device/'s SettlementPort, for every link that implements it (MQTT, the simulated network):
 * status changes told once each, verified decisions handed to every listener.
 */
export class SettlementListeners {
  private announced = false;
  private readonly statusListeners = new Set<(online: boolean) => void>();
  private readonly decisionListeners = new Set<(decision: Decision, bytes: Buffer) => void>();

  onDecision(listener: (decision: Decision, bytes: Buffer) => void): () => void {
    assert(this.decisionListeners.size < decisionListenersMax, `at most ${decisionListenersMax} decision listeners`);
    this.decisionListeners.add(listener);
    return () => this.decisionListeners.delete(listener);
  }

  onStatus(listener: (online: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Tells the listeners of a change of `online`; true when it was one. */
  announce(online: boolean): boolean {
    if (online === this.announced) return false;
    this.announced = online;
    for (const listener of [...this.statusListeners]) listener(online);
    return true;
  }

  decided(decision: Decision, bytes: Buffer): void {
    for (const listener of [...this.decisionListeners]) listener(decision, bytes);
  }
}
