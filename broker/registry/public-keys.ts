import type { KeyObject } from "node:crypto";
import { importPublicPem } from "../../protocol/keys.ts";

/**
 * Imported public keys by PEM. Keys are few (one per device), so dropping the whole cache when it is full keeps
 * it bounded without bookkeeping.
 */
export class PublicKeyCache {
  private readonly keys = new Map<string, KeyObject>();

  constructor(private readonly keysMax: number) {}

  /** Throws InvalidKey (importPublicPem) for a PEM that does not hold a P-256 public key. */
  get(pem: string): KeyObject {
    let key = this.keys.get(pem);
    if (key === undefined) {
      key = importPublicPem(pem);
      if (this.keys.size >= this.keysMax) this.keys.clear();
      this.keys.set(pem, key);
    }
    return key;
  }
}
