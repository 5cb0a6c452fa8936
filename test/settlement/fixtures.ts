import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";
import { openSealed, sealMessage } from "../../protocol/envelope.ts";
import type { OfflineLimits } from "../../protocol/contract.ts";
import { generateP256, publicKeyPem, type KeyPair } from "../../protocol/keys.ts";
import {
  decisionSchema,
  protocolVersion,
  type BatchClose,
  type Decision,
  type HceCredential,
  type OfflineCapture,
  type PaymentRequest,
  type PaymentStatus,
  type RefundRequest,
  type ReversalRequest,
  type TagOffer,
  type WalletTagPayment,
} from "../../protocol/messages.ts";
import { signCryptogram } from "../../protocol/payer.ts";
import { ManualClock, SeededRandom, type Clock, type Random } from "../../core/sources.ts";
import type { ClientKind } from "../../protocol/topics.ts";
import { SettlementService, type Outbound } from "../../broker/settlement/settlement-service.ts";
import type { SettlementOptions } from "../../broker/settlement/options.ts";
import { createServiceDatabase, type TestDatabase } from "../support/postgres.ts";

/**
 * A settlement service on a temp-dir SQLite file with one merchant, one enrolled hub (with its key pair) and
 * one funded wallet (with its key), plus builders for correctly signed requests. Tests break one thing at a
 * time on top of it; MQTT tests reuse it to drive the same service through a broker.
 */
export interface SignedMessage<T> {
  body: T;
  bytes: Buffer;
}

export const requestLifetimeMsDefault = 60_000;

export class TestHub {
  private seq = 0;
  private requestCount = 0;

  constructor(
    readonly hubId: string,
    readonly merchantId: string,
    readonly keys: KeyPair,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  nextRequestId(): string {
    this.requestCount += 1;
    return `${this.hubId}-r${this.requestCount}`;
  }

  /** Signs any body with this hub's key, for tests that need a well-signed but otherwise wrong message. */
  seal(body: object): Buffer {
    return sealMessage(body, this.keys.privateKey);
  }

  paymentRequest(wallet: TestWallet, amountMinor: number, overrides: Partial<PaymentRequest> = {}): SignedMessage<PaymentRequest> {
    const base = { type: "payment_request" as const, ...this.requestBase(), amountMinor, currency: wallet.currency, mode: "reader" as const };
    const draft = { ...base, ...overrides } as PaymentRequest;
    const payer = overrides.payer ?? wallet.hceCredential(draft.hubId, draft.amountMinor, draft.currency);
    return this.signed({ ...draft, payer });
  }

  refund(paymentRequestId: string, amountMinor: number, currency: string, overrides: Partial<RefundRequest> = {}): SignedMessage<RefundRequest> {
    return this.signed({ type: "refund", ...this.requestBase(), paymentRequestId, amountMinor, currency, reason: "customer returned item", ...overrides });
  }

  reversal(paymentRequestId: string, overrides: Partial<ReversalRequest> = {}): SignedMessage<ReversalRequest> {
    return this.signed({ type: "reversal", ...this.requestBase(), paymentRequestId, reason: "timeout", ...overrides });
  }

  batchClose(totals: { batchId: string; currency: string; count: number; totalMinor: number }, overrides: Partial<BatchClose> = {}): SignedMessage<BatchClose> {
    return this.signed({ type: "batch_close", ...this.requestBase(), ...totals, ...overrides });
  }

  /**
   * A reader-mode sale approved offline, forwarded now: the envelope (seq, iat, exp) is made here, the sale's
   * fields default to a sale made now, alone in the hub's backlog. A sale made earlier passes its own
   * `capturedAt`, `backlog` and `payer` (the cryptogram taken at the sale).
   */
  offlineCapture(wallet: TestWallet, amountMinor: number, limits: OfflineLimits, overrides: Partial<OfflineCapture> = {}): SignedMessage<OfflineCapture> {
    const base = this.requestBase();
    const capturedAt = overrides.capturedAt ?? base.iat;
    const draft = {
      type: "offline_capture" as const,
      ...base,
      amountMinor,
      currency: wallet.currency,
      capturedAt,
      backlog: { position: 1, totalMinor: overrides.amountMinor ?? amountMinor, oldestCapturedAt: capturedAt },
      limits,
      ...overrides,
    } as OfflineCapture;
    const payer = overrides.payer ?? wallet.hceCredential(draft.hubId, draft.amountMinor, draft.currency);
    return this.signed({ ...draft, payer });
  }

  paymentStatus(paymentRequestId: string, overrides: Partial<PaymentStatus> = {}): SignedMessage<PaymentStatus> {
    return this.signed({ type: "payment_status", ...this.requestBase(), paymentRequestId, ...overrides });
  }

  /** The hub-signed TagOffer it would present on its NFC tag. */
  tagOffer(amountMinor: number, currency: string, overrides: Partial<TagOffer> = {}): SignedMessage<TagOffer> {
    const iat = this.clock.nowMs();
    return this.signed({
      type: "tag_offer",
      v: protocolVersion,
      hubId: this.hubId,
      merchantId: this.merchantId,
      offerId: this.nextRequestId(),
      amountMinor,
      currency,
      nonce: new Uint8Array(this.random.bytes(16)),
      iat,
      exp: iat + requestLifetimeMsDefault,
      ...overrides,
    });
  }

  private requestBase(): Pick<PaymentRequest, "v" | "hubId" | "merchantId" | "requestId" | "seq" | "iat" | "exp"> {
    this.seq += 1;
    const iat = this.clock.nowMs();
    return {
      v: protocolVersion,
      hubId: this.hubId,
      merchantId: this.merchantId,
      requestId: this.nextRequestId(),
      seq: this.seq,
      iat,
      exp: iat + requestLifetimeMsDefault,
    };
  }

  private signed<T extends object>(body: T): SignedMessage<T> {
    return { body, bytes: this.seal(body) };
  }
}

export class TestWallet {
  private atc = 0;

  constructor(
    readonly walletId: string,
    readonly currency: string,
    readonly keys: KeyPair,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  /** An HCE cryptogram with the next ATC (or the one given), as the phone would answer the hub's GPO. */
  hceCredential(hubId: string, amountMinor: number, currency: string, atc = this.atc + 1): HceCredential {
    this.atc = Math.max(this.atc, atc);
    const unpredictableNumber = new Uint8Array(this.random.bytes(4));
    const cryptogram = signCryptogram({ walletId: this.walletId, hubId, amountMinor, currency, unpredictableNumber, atc }, this.keys.privateKey);
    return { kind: "hce", walletId: this.walletId, atc, unpredictableNumber, cryptogram: new Uint8Array(cryptogram) };
  }

  tagPayment(offer: Uint8Array, overrides: Partial<WalletTagPayment> = {}): SignedMessage<WalletTagPayment> {
    const body: WalletTagPayment = {
      type: "wallet_tag_payment",
      v: protocolVersion,
      walletId: this.walletId,
      offer: new Uint8Array(offer),
      iat: this.clock.nowMs(),
      ...overrides,
    };
    return { body, bytes: sealMessage(body, this.keys.privateKey) };
  }
}

export interface FixtureOptions {
  currency?: string;
  fundMinor?: number;
  perPaymentMaxMinor?: number;
  service?: Partial<Omit<SettlementOptions, "databasePath" | "serviceKey" | "clock">>;
  seed?: number;
}

export class SettlementFixture {
  readonly clock = new ManualClock();
  readonly serviceKeys = generateP256();
  readonly dir = mkdtempSync(join(tmpdir(), "tapwire-settlement-"));
  readonly databasePath: string;
  readonly currency: string;
  readonly random: Random;
  service: SettlementService;
  hub!: TestHub;
  wallet!: TestWallet;

  private constructor(
    private readonly options: FixtureOptions,
    private readonly postgres: TestDatabase | undefined,
  ) {
    this.databasePath = postgres?.url ?? join(this.dir, "settlement.sqlite");
    this.currency = options.currency ?? "EUR";
    this.random = new SeededRandom(options.seed ?? 1);
    this.service = this.newService();
  }

  /** Service started, merchant `m1`, hub `h1` enrolled, wallet `w1` funded (default 10 000 minor units). */
  static async create(options: FixtureOptions = {}): Promise<SettlementFixture> {
    // TAPWIRE_TEST_STORE=postgres runs the same tests on a PostgreSQL database of their own (the postgres project).
    const fixture = new SettlementFixture(options, process.env["TAPWIRE_TEST_STORE"] === "postgres" ? await createServiceDatabase() : undefined);
    await fixture.service.start();
    fixture.service.registry.enrollMerchant({ merchantId: "m1", currency: fixture.currency, displayName: "Corner Café" });
    fixture.hub = fixture.enrollHub("h1", "m1");
    fixture.wallet = fixture.enrollWallet("w1", options.fundMinor ?? 10_000);
    return fixture;
  }

  /** Pass `keys`/`certificateSerial` to match a client certificate issued elsewhere (MQTT tests). */
  enrollHub(hubId: string, merchantId: string, identity: { keys?: KeyPair; certificateSerial?: string } = {}): TestHub {
    const keys = identity.keys ?? generateP256();
    const certificateSerial = identity.certificateSerial ?? `serial-${hubId}`;
    this.service.registry.enrollHub({ hubId, merchantId, publicKeyPem: publicKeyPem(keys.publicKey), certificateSerial });
    return new TestHub(hubId, merchantId, keys, this.clock, this.random);
  }

  enrollWallet(walletId: string, fundMinor: number, currency = this.currency, keys: KeyPair = generateP256()): TestWallet {
    this.service.registry.enrollWallet({
      walletId,
      publicKeyPem: publicKeyPem(keys.publicKey),
      currency,
      perPaymentMaxMinor: this.options.perPaymentMaxMinor ?? 5_000,
    });
    if (fundMinor > 0) this.service.registry.fundWallet(walletId, fundMinor);
    return new TestWallet(walletId, currency, keys, this.clock, this.random);
  }

  /** What the broker does for a message on `tapwire/v1/<kind>s/<id>/req`. */
  send(kind: ClientKind, id: string, payload: Uint8Array): Promise<Outbound[]> {
    return this.service.handle({ kind, id, payload });
  }

  fromHub(hub: TestHub, payload: Uint8Array): Promise<Outbound[]> {
    return this.send("hub", hub.hubId, payload);
  }

  /** Sends and returns the single decision the sender gets back, decoded after checking the service signature. */
  async decisionFor(hub: TestHub, payload: Uint8Array): Promise<Decision> {
    const outbound = await this.fromHub(hub, payload);
    const mine = outbound.filter((o) => o.kind === "hub" && o.id === hub.hubId);
    if (mine.length !== 1) throw new Error(`expected one decision for ${hub.hubId}, got ${outbound.length}`);
    return this.open(mine[0]!.payload);
  }

  open(payload: Uint8Array): Decision {
    return openDecision(payload, this.serviceKeys.publicKey);
  }

  /** Stops the service and starts a new one on the same database file, as a process restart would. */
  async restart(): Promise<void> {
    await this.service.stop();
    this.service = this.newService();
    await this.service.start();
  }

  async close(): Promise<void> {
    await this.service.stop();
    await this.postgres?.drop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private newService(): SettlementService {
    return new SettlementService({
      databasePath: this.databasePath,
      serviceKey: this.serviceKeys.privateKey,
      clock: this.clock,
      ...this.options.service,
    });
  }
}

export function openDecision(payload: Uint8Array, servicePublicKey: KeyObject): Decision {
  return openSealed(payload, servicePublicKey, decisionSchema).body;
}
