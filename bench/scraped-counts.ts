import { ErrorCode, errorCodeName } from "../protocol/errors.ts";
import type { GeneratorReport } from "./generator-protocol.ts";
import { sample, samples, scrape } from "../console/prometheus-text.ts";

/**
 * The settlement side's own `/metrics` (the node's, or every worker's added up), scraped over HTTP after the load,
 * next to what the load generator counted. Overloaded
 * answers are left out of the comparison: the generator's client retries them with the same bytes and counts only
 * the final decision, while the node counts every signed Overloaded (they show as shed).
 */
export interface ScrapedCounts {
  approved: number;
  declinedByCode: Record<string, number>;
  /** Decisions the node timed (each answered request, Overloaded ones included). */
  latencyCount: number;
  /** Approved decisions by each scraped endpoint, in the order given (several workers: each one's share). */
  approvedByEndpoint: number[];
  equal: boolean;
  /** Group-commit transactions and the messages in them, over every endpoint (warm-up included). */
  batches: number;
  batchedMessages: number;
}

/** `generator`: the whole run's counts, warm-up included (generator-protocol.ts wholeRunCounts), as the node counted them. */
export async function scrapedCounts(metricsUrls: readonly string[], generator: Pick<GeneratorReport, "approved" | "declinedByCode">): Promise<ScrapedCounts> {
  const texts = await Promise.all(metricsUrls.map(scrape));
  const declinedByCode: Record<string, number> = {};
  for (const text of texts) {
    for (const { labels, value } of samples(text, "tapwire_decisions_total")) {
      if (labels["status"] === "approved" || labels["code_name"] === errorCodeName(ErrorCode.Overloaded) || value === 0) continue;
      const key = `${labels["status"]}:${labels["code_name"]}`;
      declinedByCode[key] = (declinedByCode[key] ?? 0) + value;
    }
  }
  const approvedByEndpoint = texts.map((text) => sample(text, "tapwire_decisions_total", { status: "approved" }));
  const approved = approvedByEndpoint.reduce((sum, count) => sum + count, 0);
  const latencyCount = texts.reduce((sum, text) => sum + sample(text, "tapwire_decision_latency_seconds_count"), 0);
  const benchDeclined = Object.fromEntries(Object.entries(generator.declinedByCode).filter(([key]) => !key.endsWith(`:${errorCodeName(ErrorCode.Overloaded)}`)));
  const equal = approved === generator.approved && sameCounts(declinedByCode, benchDeclined);
  const batches = texts.reduce((sum, text) => sum + sample(text, "tapwire_settlement_batches_total"), 0);
  const batchedMessages = texts.reduce((sum, text) => sum + sample(text, "tapwire_settlement_batched_messages_total"), 0);
  return { approved, declinedByCode, latencyCount, approvedByEndpoint, equal, batches, batchedMessages };
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => (a[key] ?? 0) === (b[key] ?? 0));
}
