import { sha256 } from "./bytes.ts";
import { z } from "zod";
import { contract } from "./contract.ts";
import { ErrorCode, TapwireError } from "./errors.ts";
import { fxQuoteSchema } from "./fx.ts";
import { idSchema } from "./ids.ts";
import { amountMinorMax, isCurrency } from "./money.ts";

/**
 * Message bodies: CBOR maps inside COSE_Sign1 envelopes. Every body has `type` and `v` (schema version);
 * times are milliseconds since the Unix epoch; money is integer minor units plus an ISO 4217 currency.
 */
export const protocolVersion = 1;

/*
 * Integer fields (times, money, counters) are numbers in the safe-integer range: zod 4's `.int()` refuses
 * anything beyond ±(2^53−1), and the decoder hands larger CBOR integers over as bigints, which `z.number()`
 * refuses, so an out-of-range value is SchemaInvalid and never rounded. CBOR keeps integers and floats apart;
 * taking an integral float (float16/32/64) where an integer is wanted is our choice as the application,
 * because some encoders write times as float64, as tapwire itself did before it wrote them as integers.
 */
const amountMinor = z.number().int().min(1).max(amountMinorMax);
const currency = z.string().refine(isCurrency, "unknown ISO 4217 currency");
const timestampMs = z.number().int().min(0);
const bytes = (lengthMax: number) =>
  z.instanceof(Uint8Array).refine((b) => b.length <= lengthMax, `at most ${lengthMax} bytes`);
const shortText = (lengthMax: number) => z.string().max(lengthMax);

/** Fields every hub-originated request carries for replay protection. */
const hubRequestBase = {
  v: z.literal(protocolVersion),
  hubId: idSchema,
  merchantId: idSchema,
  requestId: idSchema,
  seq: z.number().int().min(1),
  iat: timestampMs,
  exp: timestampMs,
};

/**
 * Payer credentials. `hce`: an EMV-style cryptogram from a phone or card in reader mode, signed by the
 * wallet's key over amount, currency, the hub's unpredictable number and the transaction counter (ATC).
 * `tag`: the wallet read the hub's tag and signed the offer (Alipay Tap! style). `glasses`: a biometric
 * assertion signed by paired glasses. `code`: the wallet's dynamic payment code, scanned by the hub. Each is checked
 * against the wallet's enrolled key.
 */
export const hceCredentialSchema = z.object({
  kind: z.literal("hce"),
  walletId: idSchema,
  atc: z.number().int().min(1).max(0xffff),
  unpredictableNumber: bytes(8),
  cryptogram: bytes(64),
  /** The wallet provider holding the wallet, when it is not an in-house wallet; must be the one it is enrolled with. */
  providerId: idSchema.optional(),
});

export const glassesCredentialSchema = z.object({
  kind: z.literal("glasses"),
  walletId: idSchema,
  glassesId: idSchema,
  /** COSE_Sign1 biometric assertion signed by the glasses' own key. */
  assertion: bytes(1024),
});

/** The wallet's dynamic payment code, scanned from the phone's screen (protocol/payment-code.ts). */
export const codeCredentialSchema = z.object({
  kind: z.literal("code"),
  /** The wallet the code names, as read by the hub; the service checks the signed claim says the same. */
  walletId: idSchema,
  /** The code's COSE_Sign1 bytes (its Base45 text decoded). */
  code: bytes(512),
});

export const payerCredentialSchema = z.discriminatedUnion("kind", [hceCredentialSchema, glassesCredentialSchema, codeCredentialSchema]);
export type PayerCredential = z.infer<typeof payerCredentialSchema>;
export type HceCredential = z.infer<typeof hceCredentialSchema>;
export type CodeCredential = z.infer<typeof codeCredentialSchema>;

export const paymentModes = ["reader", "tag", "glasses", "agent", "direct"] as const;

export const paymentRequestSchema = z.object({
  type: z.literal("payment_request"),
  ...hubRequestBase,
  amountMinor,
  currency,
  mode: z.enum(paymentModes),
  payer: payerCredentialSchema,
  /** Free context for review and disputes (product, utterance), never used to move money. */
  context: z.record(z.string(), shortText(256)).optional(),
});
export type PaymentRequest = z.infer<typeof paymentRequestSchema>;

export const refundRequestSchema = z.object({
  type: z.literal("refund"),
  ...hubRequestBase,
  /** requestId of the payment being refunded. */
  paymentRequestId: idSchema,
  amountMinor,
  currency,
  reason: shortText(200),
});
export type RefundRequest = z.infer<typeof refundRequestSchema>;

/** Undoes a payment in full (cancel pressed, decision lost); also voids a payment that has not arrived yet. */
export const reversalRequestSchema = z.object({
  type: z.literal("reversal"),
  ...hubRequestBase,
  paymentRequestId: idSchema,
  reason: z.enum(["cancelled", "timeout", "operator"]),
});
export type ReversalRequest = z.infer<typeof reversalRequestSchema>;

/** Clearing: the hub's own totals for one merchant's batch, reconciled by the service. */
export const batchCloseSchema = z.object({
  type: z.literal("batch_close"),
  ...hubRequestBase,
  batchId: idSchema,
  currency,
  count: z.number().int().min(0),
  totalMinor: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});
export type BatchClose = z.infer<typeof batchCloseSchema>;

/**
 * The person's answer to `step_up_required` at a glasses hub: a fresh biometric assertion (payer), bound to
 * the held payment. `answer` defaults to approve (a hub that gives up sends a reversal instead).
 */
export const hubStepUpApprovalSchema = z.object({
  type: z.literal("step_up_approval"),
  ...hubRequestBase,
  paymentRequestId: idSchema,
  caseId: idSchema.optional(),
  answer: z.enum(["approve", "deny"]).optional(),
  payer: payerCredentialSchema,
});
export type HubStepUpApproval = z.infer<typeof hubStepUpApprovalSchema>;

/** The floor limits a hub applied to an offline sale (protocol/contract.ts OfflineLimits), as it signed them. */
export const offlineLimitsSchema = z.object({
  saleMaxMinor: amountMinor,
  totalMaxMinor: amountMinor,
  countMax: z.number().int().min(1).max(contract.offlineCountMax),
  ageMsMax: z.number().int().min(1).max(contract.offlineAgeMsMax),
});

/**
 * Store and forward: a reader-mode sale the hub approved while its link was down, forwarded once the link is
 * back. The wallet's cryptogram was taken at the sale (`capturedAt`, the hub's clock) and kept in the hub's
 * journal; the envelope (seq, iat, exp) is made at forwarding, so its lifetime follows the usual rules and
 * forwards stay in seq order. `requestId` is fixed at the sale: every forward of one sale carries the same one.
 * The service checks the capture against the merchant's own floor limits again and settles it under its own
 * decision; a capture it declines (funds, limits, age) is recorded as the merchant's offline loss.
 */
export const offlineCaptureSchema = z.object({
  type: z.literal("offline_capture"),
  ...hubRequestBase,
  amountMinor,
  currency,
  payer: hceCredentialSchema,
  capturedAt: timestampMs,
  /** Where the sale stood in the hub's backlog of unforwarded captures when it was approved (this one included). */
  backlog: z.object({
    position: z.number().int().min(1).max(contract.offlineCountMax),
    totalMinor: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    oldestCapturedAt: timestampMs,
  }),
  limits: offlineLimitsSchema,
});
export type OfflineCapture = z.infer<typeof offlineCaptureSchema>;

/**
 * What became of a payment the hub lost track of (it restarted mid-sale, e.g. a tag offer a phone may have paid).
 * Read-only: the decision is `approved` with the receipt when the payment is captured and not reversed,
 * `declined` AlreadyReversed when it was reversed or voided, `declined` UnknownPayment when the service has no
 * payment under that id (the hub then voids it with a reversal, which is final).
 */
export const paymentStatusSchema = z.object({
  type: z.literal("payment_status"),
  ...hubRequestBase,
  paymentRequestId: idSchema,
});
export type PaymentStatus = z.infer<typeof paymentStatusSchema>;

export const hubRequestSchema = z.discriminatedUnion("type", [
  paymentRequestSchema,
  refundRequestSchema,
  reversalRequestSchema,
  batchCloseSchema,
  hubStepUpApprovalSchema,
  offlineCaptureSchema,
  paymentStatusSchema,
]);
export type HubRequest = z.infer<typeof hubRequestSchema>;

/**
 * `amountMinor` is what the payment (or refund, reversal) is for. With a campaign (promotion), `campaignId`
 * and `discountMinor` come together: on a payment, the campaign paid discountMinor of the amount and the
 * customer the rest (0: the campaign qualified but its budget was exhausted, so full price); on a refund or
 * reversal, discountMinor of the amount went back to the campaign and the rest to the customer.
 */
export const receiptSchema = z.object({
  paymentId: idSchema,
  merchantId: idSchema,
  amountMinor,
  currency,
  /** The wallet, masked for printing: `w…42`. */
  payerMasked: shortText(32),
  postedAtMs: timestampMs,
  discountMinor: z.number().int().min(0).max(amountMinorMax).optional(),
  campaignId: idSchema.optional(),
}).refine(
  (r) => (r.discountMinor === undefined) === (r.campaignId === undefined) && (r.discountMinor ?? 0) <= r.amountMinor,
  "discountMinor and campaignId come together, and discountMinor is at most amountMinor",
);
export type Receipt = z.infer<typeof receiptSchema>;

export const batchReportSchema = z.object({
  batchId: idSchema,
  currency,
  hubCount: z.number().int().min(0),
  hubTotalMinor: z.number().int().min(0),
  serviceCount: z.number().int().min(0),
  serviceTotalMinor: z.number().int().min(0),
  matched: z.boolean(),
});
export type BatchReport = z.infer<typeof batchReportSchema>;

export const decisionStatuses = ["approved", "declined", "step_up_required", "human_review"] as const;
/** approved, declined, or held: step_up_required (the person answers) or human_review (an operator does). */
export type DecisionStatus = (typeof decisionStatuses)[number];

/** The service's signed answer to any request. `code` is 0 when approved, else a TapwireError code. */
export const decisionSchema = z.object({
  type: z.literal("decision"),
  v: z.literal(protocolVersion),
  requestId: z.string().max(64),
  requestType: z.string().max(32),
  /** SHA-256 of the request body (COSE payload) this answers; all-zero when the body could not be read. */
  requestHash: bytes(32),
  /** Who sent the request this answers: a hub, a wallet (tag payment, mandate, step-up, dispute) or an agent. */
  principalKind: z.enum(["hub", "wallet", "agent"]),
  /**
   * The hub the request concerns (a hub's own request, or the hub whose tag offer a wallet paid); for a wallet's
   * or an agent's own request (mandate, agent payment), that principal's id — principalKind says which.
   */
  hubId: idSchema,
  status: z.enum(decisionStatuses),
  code: z.number().int().min(0),
  reason: shortText(200),
  iat: timestampMs,
  exp: timestampMs,
  receipt: receiptSchema.optional(),
  batch: batchReportSchema.optional(),
  /** For step_up_required / human_review: the id the person or operator answers. */
  caseId: idSchema.optional(),
  /** With a decline that asks for a later retry (Overloaded, LedgerStorage): wait at least this long before it. */
  retryAfterMs: z.number().int().min(0).max(600_000).optional(),
  /** Answering an approved cert_renewal: the hub's new certificate (PEM), valid once it connects with it. */
  certificate: z.string().max(4_096).optional(),
  /**
   * A payment, refund or reversal in another currency than the payer's: the locked quote (rate, rounding rule, both
   * amounts). A refund or reversal names the payment's own quote id and rate, with the amounts it gave back.
   */
  fx: fxQuoteSchema.optional(),
});
/** The service's signed answer to a request: its status and code (0 when approved), why, and what it answers. */
export type Decision = z.infer<typeof decisionSchema>;

/** Parses a decoded body against a schema; failures become SchemaInvalid with readable `path: message`s. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`);
  throw new TapwireError(`invalid message: ${details.join("; ")}`, ErrorCode.SchemaInvalid, { details });
}

export function bodyHash(payload: Uint8Array): Uint8Array {
  return sha256(payload);
}

export const zeroHash = new Uint8Array(32);

/**
 * Tag mode (Alipay Tap! style): the hub presents an NFC Forum Type 4 tag whose NDEF record is a hub-signed
 * TagOffer; the phone's wallet signs a WalletTagPayment carrying that offer unchanged and sends it online to
 * the service, which checks both signatures, consumes the nonce once and answers hub and wallet.
 */
export const tagOfferSchema = z.object({
  type: z.literal("tag_offer"),
  v: z.literal(protocolVersion),
  hubId: idSchema,
  merchantId: idSchema,
  /** Becomes the payment's requestId. */
  offerId: idSchema,
  amountMinor,
  currency,
  nonce: bytes(32).refine((b) => b.length >= 16, "nonce must be at least 16 bytes"),
  iat: timestampMs,
  exp: timestampMs,
});
export type TagOffer = z.infer<typeof tagOfferSchema>;

export const walletTagPaymentSchema = z.object({
  type: z.literal("wallet_tag_payment"),
  v: z.literal(protocolVersion),
  walletId: idSchema,
  /** The hub-signed TagOffer (COSE_Sign1 bytes) exactly as read from the tag. */
  offer: bytes(1024),
  iat: timestampMs,
});
export type WalletTagPayment = z.infer<typeof walletTagPaymentSchema>;
