import { ErrorCode, errorCodeName } from "../protocol/errors.ts";
import type { GeneratorReport } from "./generator-protocol.ts";
import { sample, samples, scrape } from "../console/prometheus-text.ts";

/**
 * The node's own `/metrics`, scraped over HTTP after the load, next to what the load generator counted. Overloaded
 * answers are left out of the comparison: the generator's client retries them with the same bytes and counts only
 * the final decision, while the node counts every signed Overloaded (they show as shed).
 */
export interface ScrapedCounts {
  approved: number;
  declinedByCode: Record<string, number>;
  /** Decisions the node timed (each answered request, Overloaded ones included). */
  latencyCount: number;
  equal: boolean;
}

export async function scrapedCounts(metricsUrl: string, generator: GeneratorReport): Promise<ScrapedCounts> {
  const text = await scrape(metricsUrl);
  const declinedByCode: Record<string, number> = {};
  for (const { labels, value } of samples(text, "tapwire_decisions_total")) {
    if (labels["status"] === "approved" || labels["code_name"] === errorCodeName(ErrorCode.Overloaded) || value === 0) continue;
    const key = `${labels["status"]}:${labels["code_name"]}`;
    declinedByCode[key] = (declinedByCode[key] ?? 0) + value;
  }
  const approved = sample(text, "tapwire_decisions_total", { status: "approved" });
  const benchDeclined = Object.fromEntries(Object.entries(generator.declinedByCode).filter(([key]) => !key.endsWith(`:${errorCodeName(ErrorCode.Overloaded)}`)));
  const equal = approved === generator.approved && sameCounts(declinedByCode, benchDeclined);
  return { approved, declinedByCode, latencyCount: sample(text, "tapwire_decision_latency_seconds_count"), equal };
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((key) => (a[key] ?? 0) === (b[key] ?? 0));
}
