/**
 * What hubs and the settlement service must agree on, defined once. Hubs are installed and updated apart from
 * the service, so these are protocol constants rather than options: a hub validates its own lifetimes against
 * them at start-up, and the service may be more lenient than they say but never stricter (its options are
 * range-checked against them). A hub or service configured outside them does not start (ConfigInvalid).
 */
export const contract = {
  /** Largest `exp − iat` of any online request: payment, reversal, refund, step-up, status query, capture forward. */
  requestLifetimeMsMax: 300_000,
  /**
   * How far a sender's clock may run ahead of the service's (`iat` in the future), and how far a hub lets the
   * service's clock differ from its own (a decision's `iat`) before it says "clock wrong".
   */
  clockSkewMs: 30_000,
  /** Oldest offline capture (forward time − capture time) the service still settles; older ones are refused. */
  offlineCaptureAgeMsMax: 72 * 3_600_000,
  /** Ceilings on any merchant's offline floor limits (hub config and merchant record alike). */
  offlineCountMax: 1_000,
  offlineAgeMsMax: 72 * 3_600_000,
  /**
   * Longest `exp − iat` of a wallet's payment code (the dynamic code a phone shows for the merchant to scan): the
   * phone shows a fresh one every minute, and the service refuses one that lives longer.
   */
  paymentCodeLifetimeMsMax: 60_000,
  /**
   * Longest `exp − iat` of an agent's mandate signing request (shown to the person, who reads it and decides): long
   * enough to read terms on a phone, short enough that an old request found later cannot be signed by mistake.
   */
  mandateRequestLifetimeMsMax: 15 * 60_000,
  /**
   * The service's anti-replay window over a hub's seqs, as IPsec and DTLS keep one: every seq is accepted once,
   * in any order, as long as it is within seqWindow of the highest seen. Several settlement workers may take a
   * hub's requests out of order (a shared subscription hands them to whichever is free), so the window must
   * exceed what one hub can have in flight: a hub keeps fewer than seqWindow requests unanswered.
   */
  seqWindow: 1_024,
  /**
   * How long the service waits for a wallet provider's answer to an authorization (protocol/provider.ts) before it
   * declines the payment ProviderTimeout: well inside any request's lifetime, so the hub hears a decline, never
   * silence. A provider must answer within it.
   */
  providerAnswerMsMax: 5_000,
} as const;

/**
 * The floor limits under which a tap hub may approve a reader-mode sale while its link is down (store and
 * forward). Set by the merchant on the hub and on the merchant's record; the service checks every forwarded
 * capture against the record again, so a hub set above it loses those sales to the merchant.
 */
export interface OfflineLimits {
  /** Largest single offline sale, in minor units of the hub's currency. */
  saleMaxMinor: number;
  /** Largest sum of the captures not yet forwarded. */
  totalMaxMinor: number;
  /** Most captures not yet forwarded. */
  countMax: number;
  /** Oldest capture not yet forwarded: past it the hub accepts no more offline sales. */
  ageMsMax: number;
}
