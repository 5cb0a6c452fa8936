import { createPrivateKey, type KeyObject } from "node:crypto";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { DecisionReply, HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { HubRequestSigner } from "../../simulator/hub-client/request-signer.ts";
import { SimWallet } from "../../simulator/hub-client/sim-wallet.ts";
import type { TestStack } from "./stack.ts";

/**
 * The attacker's tools, and nothing a hub would run: a hub's stolen key with a bare signer that signs whatever
 * seq, request id and issue time it is told (forged, replayed, expired, mismatched requests), a wallet's key
 * that mints cryptograms, and the hub's MQTT connection to publish raw bytes on. Honest payments go through the
 * real hub runtime (PaymentWorld.tapPay), never through these.
 */
export interface RawHub {
  hubId: string;
  bundle: EnrolmentBundle;
  key: KeyObject;
  link: HubLink;
  signer: HubRequestSigner;
  /** Decisions that answered no request() of this link: replies to raw publishes, duplicates. */
  inbox: DecisionInbox;
}

/** Enrols the hub and connects its link as the attacker holding its key would. */
export async function connectRawHub(stack: TestStack, hubId: string, merchantId: string): Promise<RawHub> {
  const bundle = await stack.node.enrollHub({ hubId, merchantId });
  const inbox = new DecisionInbox();
  const link = await stack.connect(bundle, {
    onUnmatchedDecision: inbox.record,
    reconnectDelayMsMin: 20,
    reconnectDelayMsMax: 200,
    reconnectAttemptsMax: 50,
  });
  const key = createPrivateKey(bundle.keyPem!);
  return { hubId, bundle, key, link, signer: rawSigner(bundle, merchantId), inbox };
}

/** A hub's key in a bare signer: any seq, request id and issue time it is told. */
export function rawSigner(bundle: EnrolmentBundle, merchantId: string): HubRequestSigner {
  return new HubRequestSigner({ hubId: bundle.principal.id, merchantId, privateKey: createPrivateKey(bundle.keyPem!) });
}

/** A wallet's key in the attacker's hands: it signs a cryptogram for any amount and hub, with its own ATC count. */
export function rawWallet(bundle: EnrolmentBundle, currency: string): SimWallet {
  return new SimWallet({ walletId: bundle.principal.id, currency, privateKey: createPrivateKey(bundle.keyPem!) });
}

/** Decisions nobody's request() was waiting for, kept for a test to take. */
export class DecisionInbox {
  static readonly repliesMax = 1_000;
  private readonly replies: DecisionReply[] = [];
  private readonly waiters = new Set<() => void>();

  readonly record = (reply: DecisionReply): void => {
    if (this.replies.length >= DecisionInbox.repliesMax) this.replies.shift();
    this.replies.push(reply);
    for (const wake of [...this.waiters]) wake();
  };

  /** Takes `count` decisions matching the predicate, oldest first; rejects after timeoutMs. */
  take(predicate: (reply: DecisionReply) => boolean, count: number, timeoutMs = 5_000): Promise<DecisionReply[]> {
    const taken: DecisionReply[] = [];
    const collect = (): boolean => {
      for (let index = 0; index < this.replies.length && taken.length < count; ) {
        if (predicate(this.replies[index]!)) taken.push(...this.replies.splice(index, 1));
        else index += 1;
      }
      return taken.length === count;
    };
    if (collect()) return Promise.resolve(taken);
    return new Promise((resolve, reject) => {
      const wake = () => {
        if (!collect()) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(taken);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`${taken.length} of ${count} decisions within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(wake);
    });
  }

  async next(predicate: (reply: DecisionReply) => boolean, timeoutMs = 5_000): Promise<DecisionReply> {
    return (await this.take(predicate, 1, timeoutMs))[0]!;
  }
}
