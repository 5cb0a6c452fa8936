import { createHash, type Hash } from "node:crypto";
import type { Clock } from "../../core/sources.ts";

/** Lines a trace keeps for reading (the digest covers every line); the oldest go first. */
export const traceLinesMax = 20_000;

/**
 * What happened in a world, in order, as plain text: hub views and LEDs, network events, decisions, faults,
 * ledger postings. Every line is stamped with the virtual time since the world started and hashed as it is
 * written, so two runs of one seed compare by digest. Nothing random or real-time goes in (no signatures,
 * no keys, no wall clock): the same seed writes the same bytes.
 */
export class Trace {
  private readonly hash: Hash = createHash("sha256");
  private readonly startMs: number;
  private readonly kept: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  private count = 0;

  constructor(
    private readonly clock: Clock,
    private readonly keepLines: boolean,
  ) {
    this.startMs = clock.nowMs();
  }

  record(source: string, text: string): void {
    const line = `${this.clock.nowMs() - this.startMs} ${source} ${text}`;
    this.hash.update(line);
    this.hash.update("\n");
    this.count += 1;
    for (const listener of this.listeners) listener(line);
    if (!this.keepLines) return;
    this.kept.push(line);
    if (this.kept.length > traceLinesMax) this.kept.shift();
  }

  /** Hears every line as it is written (a test acting at an exact moment); returns the unsubscribe. */
  onLine(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get lineCount(): number {
    return this.count;
  }

  /** The lines kept so far (empty unless the world was asked to keep them). */
  get lines(): readonly string[] {
    return this.kept;
  }

  /** SHA-256 over every line so far, hex. */
  digest(): string {
    return this.hash.copy().digest("hex");
  }
}
