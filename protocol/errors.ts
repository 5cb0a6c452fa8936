/**
 * One error type for all of tapwire, with numbered codes in a range per layer (as zwave-js does).
 * Tests assert codes, never message text. Operating errors (bad input, faults) are TapwireErrors and always
 * handled; programmer errors are plain assertion failures (see assert.ts) and crash loudly.
 */
export const ErrorCode = {
  // 100–199 protocol: envelope, encoding, schema
  MalformedCbor: 100,
  MalformedCose: 101,
  UnsupportedAlgorithm: 102,
  BadSignature: 103,
  SchemaInvalid: 104,
  PayloadTooLarge: 105,
  MessageExpired: 106,
  MessageNotYetValid: 107,
  InvalidMoney: 108,
  UnknownCurrency: 109,
  InvalidKey: 110,
  HubMismatch: 111,

  // 200–299 broker: identity and authorization
  NoClientCertificate: 200,
  UnknownHub: 201,
  /** A hub, agent or wallet whose enrolment was revoked (or never active): at CONNECT and on every message. */
  Revoked: 202,
  PublishNotAllowed: 203,
  SubscribeNotAllowed: 204,
  CertificateInvalid: 205,
  HubAlreadyEnrolled: 206,
  ClientIdMismatch: 207,
  InflightFull: 208,
  ConnectRefused: 209,
  BrokerListenFailed: 210,

  // 300–399 settlement: replay, idempotency, authorization
  SeqReplayed: 300,
  RequestIdReused: 301,
  InsufficientFunds: 302,
  LimitExceeded: 303,
  UnknownWallet: 304,
  CurrencyMismatch: 305,
  RefundExceedsCaptured: 306,
  UnknownPayment: 307,
  AlreadyReversed: 308,
  NonceReplayed: 309,
  CounterReplayed: 310,
  PayerCredentialInvalid: 311,
  UnknownMerchant: 312,
  BatchMismatch: 313,
  Overloaded: 314,
  ServiceUnavailable: 315,
  AmountNotPositive: 316,
  MessageLifetimeTooLong: 317,
  MerchantMismatch: 318,
  WalletAlreadyEnrolled: 319,
  MerchantAlreadyEnrolled: 320,
  WalletMismatch: 321,
  UnsupportedRequest: 322,
  BatchAlreadyClosed: 323,
  /** A forwarded offline capture outside the merchant's floor limits, or older than the contract allows. */
  OfflineLimitExceeded: 324,
  /** The merchant accepts no offline sales (no floor limits on its record). */
  OfflineNotAllowed: 325,
  UnknownCampaign: 326,
  /** A campaign id is defined once; a changed promotion is a new campaign. */
  CampaignAlreadyDefined: 327,
  /** A hub seq so far below the highest seen that the anti-replay window (contract.seqWindow) no longer covers it. */
  SeqBelowWindow: 328,

  // 400–499 ledger
  LedgerUnbalanced: 400,
  LedgerAccountMissing: 401,
  LedgerStorage: 402,
  /** No transfer with that id (`tapwire ledger show`). */
  LedgerTransferMissing: 403,

  // 500–599 NFC (PN532)
  NfcTimeout: 500,
  NfcChecksum: 501,
  NfcNack: 502,
  NfcApplicationError: 503,
  NfcFrameTooLong: 504,
  NfcUnexpectedResponse: 505,
  NfcTargetLost: 506,
  NfcRetriesExhausted: 507,
  NfcApduError: 508,
  NfcPortClosed: 509,
  NfcQueueFull: 510,
  NfcStatus: 511,

  // 600–699 BLE (glasses link)
  BleNotFound: 600,
  BleServiceMissing: 601,
  BleFrameInvalid: 602,
  BleSequenceGap: 603,
  BleDuplicate: 604,
  BleDisconnected: 605,
  BleTimeout: 606,
  BlePairingRefused: 607,
  BleMessageTooLarge: 608,
  BleAssertionMismatch: 609,
  BleQueueFull: 610,
  BleNotReady: 611,
  BleAdapterUnavailable: 612,

  // 700–799 GPIO (Firmata board)
  GpioNotReady: 700,
  GpioTimeout: 701,

  // 800–899 device runtime and configuration
  ConfigInvalid: 800,
  Offline: 801,
  DecisionTimeout: 802,
  Cancelled: 803,
  OutboxFull: 804,
  BusyAlready: 805,
  SeqStoreInvalid: 806,
  ReversalFailed: 807,
  HubNotReady: 808,
  TapTimeout: 809,
  /** The hub's clock disagrees with the service's beyond the contract's skew (or a certificate is not yet valid). */
  ClockWrong: 810,
  /** The NFC reader stopped answering (unplugged, its served simulator restarted); the hub is reopening it. */
  ReaderGone: 811,
  /** The hub journal holds as many unresolved requests (or bytes) as it may; no new sale until some resolve. */
  JournalFull: 812,
  /** The hub journal cannot be written or read (disk full, read-only, corrupt): nothing may leave unjournaled. */
  JournalUnavailable: 813,
  /** An offline sale above one of the hub's floor limits (amount, total, count, age). */
  OfflineFloorExceeded: 814,
  /** Offline sales are off, or not possible in this mode (tag, glasses and agent payments are online only). */
  OfflineUnavailable: 815,
  /** A data directory (or a file a command reads) that is missing, not a directory, or not writable. */
  DataDirUnusable: 816,
  /** A port some other process already listens on (a served simulator, a console). */
  PortInUse: 817,

  // 900–999 agents, mandates and human review
  MandateInvalid: 900,
  MandateExpired: 901,
  MandateConstraintUnmet: 902,
  MandateReplayed: 903,
  BudgetExceeded: 904,
  AgentKeyMismatch: 905,
  ApprovalInvalid: 906,
  ReviewNotFound: 907,
  ReviewAlreadyDecided: 908,
  DisputeNotFound: 909,
  BiometricFailed: 910,
  IntentUnclear: 911,
  /** The biometric assertion names someone other than the paired owner. */
  OwnerMismatch: 912,
  /** The assertion came from glasses this hub is not paired with. */
  GlassesNotPaired: 913,
  BiometricTimeout: 914,
  /** The person said nothing within the intent window. */
  IntentTimeout: 915,
  /** Quantity outside 1..quantityMax, or the total overflows the amount limit. */
  QuantityRefused: 916,
  OfferExpired: 917,
  ReviewTimeout: 918,
  StepUpExhausted: 919,
  GlassesUnavailable: 920,
  /** A decision that answers another request or another hub. */
  DecisionMismatch: 921,
  /** A step-up or review case answered after it expired. */
  ReviewExpired: 922,
  MandateRevoked: 923,
  UnknownMandate: 924,
  UnknownAgent: 925,
  AgentAlreadyEnrolled: 926,
  GlassesAlreadyEnrolled: 927,
  /** Stored evidence fails an offline check: a broken chain, a bad signature, an unanswered decision. */
  EvidenceInvalid: 928,
  /** The person answered a step-up with "deny". */
  StepUpDenied: 929,
  /** An operator declined a case in the review queue. */
  ReviewDeclined: 930,
  /** A payment held until the person proves presence again (step_up_required): above a step-up threshold. */
  HeldForStepUp: 931,
  /** A payment held in the operator queue (human_review): a risk signal, an ambiguous order. */
  HeldForReview: 932,
  /** No enrolled, active operator by that name (console login, operator actions, broker identity). */
  UnknownOperator: 933,
  OperatorAlreadyEnrolled: 934,
  /** A console request without a valid session or CSRF token: log in first. */
  LoginRequired: 935,

  // 1000–1099 serial links (UART, USB serial, a served simulator over tcp://), whichever device is behind them
  SerialOpenFailed: 1000,
  SerialOpenTimeout: 1001,
  SerialLinkError: 1002,

  // 1100–1199 USB HID payment-code scanner
  HidOpenFailed: 1100,
  /** The scanner was unplugged or its link closed; the hub reopens it. */
  HidGone: 1101,
  /** What was scanned is not a tapwire payment code (another barcode, a damaged or partial read). */
  ScanInvalid: 1102,

  // 1200–1249 wallet providers and FX
  /** No rate for the currency pair is valid at that time (rate windows are [fromMs, toMs)). */
  FxRateMissing: 1200,
  /** A rate table entry that cannot be loaded: a malformed decimal, an empty window, an unknown currency. */
  FxRateInvalid: 1201,
  /** The converted amount rounds to nothing or beyond the largest amount a message may carry. */
  FxAmountOutOfRange: 1202,
  UnknownProvider: 1203,
  ProviderAlreadyEnrolled: 1204,
  /** The wallet's provider cannot be asked: not connected, revoked, or too many authorizations already waiting. */
  ProviderUnavailable: 1205,
  /** The wallet's provider did not answer within contract.providerAnswerMsMax. */
  ProviderTimeout: 1206,
  /** The wallet's provider declined the authorization (its own reason is in the message). */
  ProviderDeclined: 1207,
  /** A provider answer that is not what was asked for: a bad signature, a malformed body, other amounts. */
  ProviderAnswerInvalid: 1208,
  /** A provider answer to no authorization waiting for one: answered already, timed out, or never asked. */
  ProviderAnswerReplayed: 1209,
  // 1300–1349 clearing: fee schedules, payee accounts, payout runs
  /** An IBAN that is not 15-34 letters and digits of a known shape, or whose mod-97 check digits do not hold. */
  IbanInvalid: 1300,
  /** A BIC that is not 8 or 11 characters of ISO 9362's shape. */
  BicInvalid: 1301,
  /** A fee schedule outside 0..10000 basis points or with a negative or non-integer fixed part. */
  FeeScheduleInvalid: 1302,
  /** A merchant with something to clear has no fee schedule (`tapwire clearing fees`). */
  FeeScheduleMissing: 1303,
  /** A payout is due to a merchant with no payee account (`tapwire clearing payee`). */
  PayeeMissing: 1304,
  /** A payout is due and the operator's own paying account is not set (`tapwire clearing debtor`). */
  DebtorMissing: 1305,
  /** A clearing date that is not a whole UTC day in YYYY-MM-DD form. */
  ClearingDateInvalid: 1306,
  /** A clearing run for a UTC day that has not ended yet (payments could still be posted on it). */
  ClearingDayOpen: 1307,
  /** A payee or debtor name that is empty, too long for pain.001 (70) or holds control characters. */
  PayeeNameInvalid: 1308,
  /** More ledger transfers on one merchant's day than one clearing run takes (clearingTransfersMax). */
  ClearingDayTooLarge: 1309,
  // 1400–1449 privacy: consents, personal data keys, export and erase
  /** No wallet (person) by that id: nothing is held about them, so there is nothing to export or erase. */
  PersonUnknown: 1400,
  /** No consent record by that id. */
  ConsentUnknown: 1401,
  /** The consent was already withdrawn (or ended by an erase). */
  ConsentWithdrawn: 1402,
  /** Personal data sealed under a data key that was destroyed (erase, retention): it cannot be read again. */
  PersonalDataShredded: 1403,
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const codeNames = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

/** The name of a code (`1102` → `"ScanInvalid"`), or `"Unknown"`. */
export function errorCodeName(code: number): string {
  return codeNames.get(code) ?? `Unknown(${code})`;
}

/** An operating or business failure with a stable numeric code (see ErrorCode) and a readable message; anything else thrown is a bug. */
export class TapwireError extends Error {
  override readonly name = "TapwireError";
  constructor(
    message: string,
    readonly code: ErrorCode,
    readonly context?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** `E303 LimitExceeded: amount 5000 above per-payment limit 2000` */
  override toString(): string {
    return `E${this.code} ${errorCodeName(this.code)}: ${this.message}`;
  }
}

/** Whether `error` is a TapwireError (a typed failure, not a bug). */
export function isTapwireError(error: unknown, code?: ErrorCode): error is TapwireError {
  return error instanceof TapwireError && (code === undefined || error.code === code);
}

/** The layers, each with its own range of codes (the comments in ErrorCode above). */
export const errorLayers = {
  protocol: [100, 199],
  broker: [200, 299],
  settlement: [300, 399],
  ledger: [400, 499],
  nfc: [500, 599],
  ble: [600, 699],
  gpio: [700, 799],
  device: [800, 899],
  agents: [900, 999],
  serial: [1000, 1099],
  hid: [1100, 1199],
  providers: [1200, 1249],
  clearing: [1300, 1349],
  privacy: [1400, 1449],
} as const;
export type ErrorLayer = keyof typeof errorLayers;

export function errorLayerOf(code: number): ErrorLayer | undefined {
  for (const [layer, [min, max]] of Object.entries(errorLayers)) if (code >= min && code <= max) return layer as ErrorLayer;
  return undefined;
}

/** A TapwireError of that layer (`isLayerError(error, "nfc")`): what a caller handles one way for a whole layer. */
export function isLayerError(error: unknown, layer: ErrorLayer): error is TapwireError {
  return error instanceof TapwireError && errorLayerOf(error.code) === layer;
}

/**
 * Wraps an operating fault a library reported as a plain Error (a socket reset, a TLS alert) into a TapwireError
 * with `fallback`, keeping the original as its `cause` (stack and all); a TapwireError passes through unchanged.
 * Not for bugs: code that may meet a bug lets it crash instead (see core/crash.ts).
 */
export function asTapwireError(error: unknown, fallback: ErrorCode): TapwireError {
  if (error instanceof TapwireError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TapwireError(message, fallback, undefined, { cause: error });
}
