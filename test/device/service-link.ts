import type { KeyObject } from "node:crypto";
import { openSealed, sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { decisionSchema, protocolVersion, type Decision, type HceCredential } from "../../protocol/messages.ts";
import { signCryptogram } from "../../protocol/payer.ts";
import type { SeededRandom, VirtualClock } from "../../core/sources.ts";
import { SettlementService, type Outbound } from "../../broker/settlement/settlement-service.ts";
import type { SettlementPort } from "../../device/ports.ts";
import { hubId, hubKeys, merchantId } from "./fakes.ts";

/**
 * The real settlement service in-process, and the hub's link to it as a SettlementPort with seeded faults: a
 * request may be lost, held back for a while or delivered twice; a decision may be lost; the link goes down and up.
 * Everything runs on one VirtualClock, the service's included.
 */

export const walletId = "w-1";
export const walletFundMinor = 1_000_000;

/** Chances in percent, drawn per message from the run's seed. */
export interface LinkFaults {
  dropRequestPct: number;
  stallRequestPct: number;
  duplicateRequestPct: number;
  dropDecisionPct: number;
  duplicateDecisionPct: number;
  /** Longest a stalled request is held back. */
  stallMsMax: number;
}

export const noFaults: LinkFaults = { dropRequestPct: 0, stallRequestPct: 0, duplicateRequestPct: 0, dropDecisionPct: 0, duplicateDecisionPct: 0, stallMsMax: 0 };

export async function startService(clock: VirtualClock): Promise<SettlementService> {
  const service = new SettlementService({
    databasePath: ":memory:",
    serviceKey: generateP256().privateKey,
    clock,
    // Signatures checked on the main thread: worker threads would make a run depend on real thread timing (the
    // checks are the same ones); every other option keeps its production default.
    verifyWorkers: 0,
  });
  await service.start();
  service.registry.enrollMerchant({ merchantId, currency: "EUR", displayName: "Corner Café" });
  service.registry.enrollHub({ hubId, merchantId, publicKeyPem: publicKeyPem(hubKeys.publicKey), certificateSerial: "serial-hub-1" });
  return service;
}

/** A customer's phone: an enrolled, funded wallet that answers a reader with cryptograms and pays tag offers. */
export class Phone {
  private readonly keys = generateP256();
  private atc = 0;

  constructor(
    private readonly service: SettlementService,
    private readonly clock: VirtualClock,
  ) {
    service.registry.enrollWallet({ walletId, publicKeyPem: publicKeyPem(this.keys.publicKey), currency: "EUR", perPaymentMaxMinor: 5_000 });
    service.registry.fundWallet(walletId, walletFundMinor);
  }

  /** The answer to the reader's GPO: a cryptogram over the sale, the reader's unpredictable number and the next ATC. */
  credential(input: { hubId: string; amountMinor: number; currency: string }): HceCredential {
    this.atc += 1;
    const unpredictableNumber = Uint8Array.of(0x5a, 0xa5, this.atc >> 8, this.atc & 0xff);
    const cryptogram = signCryptogram({ walletId, ...input, unpredictableNumber, atc: this.atc }, this.keys.privateKey);
    return { kind: "hce", walletId, atc: this.atc, unpredictableNumber, cryptogram: new Uint8Array(cryptogram) };
  }

  /** The wallet's online payment of an offer read from the hub's tag. */
  tagPayment(offer: Buffer): Buffer {
    return sealMessage({ type: "wallet_tag_payment", v: protocolVersion, walletId, offer: new Uint8Array(offer), iat: this.clock.nowMs() }, this.keys.privateKey);
  }
}

export class ServiceLink implements SettlementPort {
  faults: LinkFaults;
  /** Requests held back or in the service, not yet answered. */
  inFlight = 0;
  private isOnline = true;
  private readonly servicePublicKey: KeyObject;
  private readonly decisionListeners = new Set<(decision: Decision, bytes: Buffer) => void>();
  private readonly statusListeners = new Set<(online: boolean) => void>();

  constructor(
    private readonly service: SettlementService,
    private readonly clock: VirtualClock,
    private readonly random: SeededRandom,
    faults: LinkFaults,
  ) {
    this.faults = faults;
    this.servicePublicKey = service.publicKey;
  }

  get online(): boolean {
    return this.isOnline;
  }

  publish(payload: Buffer): Promise<void> {
    if (!this.isOnline) return Promise.reject(new TapwireError("link down", ErrorCode.Offline));
    if (this.chance(this.faults.dropRequestPct)) return Promise.resolve();
    const copies = this.chance(this.faults.duplicateRequestPct) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      if (this.chance(this.faults.stallRequestPct)) {
        this.inFlight += 1;
        this.clock.setTimeout(() => {
          this.inFlight -= 1;
          this.toService("hub", hubId, payload);
        }, 1 + this.pick(this.faults.stallMsMax));
      } else {
        this.toService("hub", hubId, payload);
      }
    }
    return Promise.resolve();
  }

  /** What a wallet sends the service directly; the hub hears the decision addressed to it over this link. */
  fromWallet(payload: Buffer): void {
    this.toService("wallet", walletId, payload);
  }

  onDecision(listener: (decision: Decision, bytes: Buffer) => void): () => void {
    this.decisionListeners.add(listener);
    return () => this.decisionListeners.delete(listener);
  }

  onStatus(listener: (online: boolean) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  setOnline(online: boolean): void {
    if (online === this.isOnline) return;
    this.isOnline = online;
    for (const listener of [...this.statusListeners]) listener(online);
  }

  /** 0 … max − 1, from the run's seed. */
  pick(max: number): number {
    if (max <= 1) return 0;
    const [a, b, c] = this.random.bytes(3);
    return ((a! << 16) | (b! << 8) | c!) % max;
  }

  chance(percent: number): boolean {
    return this.pick(100) < percent;
  }

  private toService(kind: "hub" | "wallet", id: string, payload: Buffer): void {
    this.inFlight += 1;
    void this.service.handle({ kind, id, payload }).then(
      (outbound) => {
        this.inFlight -= 1;
        for (const message of outbound) this.toHub(message);
      },
      () => {
        // Refused before any decision (the service stopping at the end of a run): as a lost message.
        this.inFlight -= 1;
      },
    );
  }

  private toHub(message: Outbound): void {
    if (message.kind !== "hub" || message.id !== hubId || !this.isOnline || this.chance(this.faults.dropDecisionPct)) return;
    const bytes = Buffer.from(message.payload);
    const decision = openSealed(bytes, this.servicePublicKey, decisionSchema).body;
    const copies = this.chance(this.faults.duplicateDecisionPct) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) for (const listener of [...this.decisionListeners]) listener(decision, bytes);
  }
}
