import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { HubSigner } from "../../device/ports.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { importPrivatePem } from "../../protocol/keys.ts";

/**
 * The hub's signing key held in a PEM file (development boards, simulators). A production hub signs in its
 * secure element instead and implements HubSigner over that.
 */
export class KeyFileHubSigner implements HubSigner {
  constructor(private readonly privateKey: KeyObject) {}

  /** InvalidKey when the PEM is not a P-256 private key; ConfigInvalid when the file cannot be read. */
  static fromPem(pem: string): KeyFileHubSigner {
    return new KeyFileHubSigner(importPrivatePem(pem));
  }

  /** A signer over the PEM key file at `path`. */
  static fromFile(path: string): KeyFileHubSigner {
    let pem: string;
    try {
      pem = readFileSync(path, "utf8");
    } catch (error) {
      throw new TapwireError(`cannot read hub key ${path}: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path });
    }
    return KeyFileHubSigner.fromPem(pem);
  }

  /** Signs `body` as a COSE_Sign1 (ES256) with the hub key. */
  seal(body: object): Buffer {
    return sealMessage(body, this.privateKey);
  }
}
