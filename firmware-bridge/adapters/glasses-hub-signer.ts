import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { HubSigner } from "../../device/glasses/ports.ts";
import { assert } from "../../protocol/assert.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { importPrivatePem, keyId } from "../../protocol/keys.ts";

/** A PEM private key is a few hundred bytes; anything far larger is not one. */
export const hubKeyFileBytesMax = 16 * 1024;

/** Seals hub requests with the hub's P-256 key (the one enrolled with settlement), kid = its key id. */
export class KeyHubSigner implements HubSigner {
  private readonly kid: Uint8Array;

  constructor(private readonly privateKey: KeyObject) {
    this.kid = keyId(createPublicKey(privateKey));
  }

  seal(body: object): Buffer {
    return sealMessage(body, this.privateKey, this.kid);
  }
}

/** The hub key read from a PEM file at start() (InvalidKey or ConfigInvalid there, never mid-purchase). */
export class FileKeyHubSigner implements HubSigner {
  private signer: KeyHubSigner | undefined;

  constructor(private readonly path: string) {}

  start(): void {
    let pem: string;
    try {
      pem = readFileSync(this.path, "utf8");
    } catch (error) {
      throw new TapwireError(`cannot read hub key ${this.path}: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path: this.path });
    }
    if (pem.length > hubKeyFileBytesMax) {
      throw new TapwireError(`hub key ${this.path} is over ${hubKeyFileBytesMax} bytes`, ErrorCode.InvalidKey, { path: this.path });
    }
    this.signer = new KeyHubSigner(importPrivatePem(pem));
  }

  stop(): void {
    this.signer = undefined;
  }

  seal(body: object): Buffer {
    assert(this.signer !== undefined, "FileKeyHubSigner.seal() before start()");
    return this.signer.seal(body);
  }
}
