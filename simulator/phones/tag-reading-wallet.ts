import { logger } from "../../core/log.ts";
import {
  capabilityContainerBytes,
  capabilityContainerFileId,
  decodeCapabilityContainer,
  extractOfferFromNdef,
  ndefApplicationAid,
} from "../../protocol/ndef.ts";
import { apduError, expectOk, readBinaryApdu, selectByNameApdu, selectFileApdu } from "../../protocol/nfc-apdu.ts";
import type { TagLink, VirtualReader } from "../pn532/field.ts";

const log = logger("tapwire:sim:phone");

export interface TagReadingWalletOptions {
  /** Receives the TagOffer bytes (COSE_Sign1) exactly as read; the lead wires this to a wallet that pays online. */
  onOffer: (offerBytes: Uint8Array) => void | Promise<void>;
  apduTimeoutMs: number;
}

/** READ BINARY calls per tap: enough for a full 32 KB file at MLe 15, so a lying CC cannot loop forever. */
const readsMax = 0x8000 / 15 + 1;

/**
 * A phone in reader mode (Alipay Tap! style): when it meets the hub's Type 4 Tag it selects the NDEF
 * application, reads the capability container, reads the NDEF file in MLe-sized pieces and hands the offer
 * record's bytes to onOffer. What it read, or why it failed, stays on the object for tests.
 */
export class TagReadingWallet implements VirtualReader {
  readonly role = "reader";
  offersRead = 0;
  lastError: unknown;

  constructor(private readonly options: TagReadingWalletOptions) {}

  async read(tag: TagLink): Promise<void> {
    try {
      const offer = await this.readOffer(tag);
      this.offersRead++;
      await this.options.onOffer(offer);
    } catch (error) {
      this.lastError = error;
      log.debug({ err: error }, "tag read failed");
      throw error;
    }
  }

  private async readOffer(tag: TagLink): Promise<Uint8Array> {
    const send = async (apdu: Uint8Array, what: string): Promise<Uint8Array> =>
      expectOk(await tag.transceive(apdu, this.options.apduTimeoutMs), what);

    await send(selectByNameApdu(ndefApplicationAid), "SELECT NDEF application");
    await send(selectFileApdu(capabilityContainerFileId), "SELECT CC");
    const cc = decodeCapabilityContainer(await send(readBinaryApdu(0, capabilityContainerBytes), "READ CC"));
    await send(selectFileApdu(cc.ndefFileId), "SELECT NDEF file");
    const nlenBytes = await send(readBinaryApdu(0, 2), "READ NLEN");
    if (nlenBytes.length !== 2) throw apduError("NLEN read returned the wrong length");
    const nlen = (nlenBytes[0]! << 8) | nlenBytes[1]!;
    if (nlen === 0 || nlen + 2 > cc.ndefFileBytesMax) throw apduError(`NLEN ${nlen} does not fit the NDEF file`);
    const message = new Uint8Array(nlen);
    let read = 0;
    for (let reads = 0; read < nlen; reads++) {
      if (reads >= readsMax) throw apduError("NDEF file read did not progress");
      const chunk = await send(readBinaryApdu(2 + read, Math.min(cc.mleBytes, nlen - read)), "READ NDEF");
      if (chunk.length === 0 || read + chunk.length > nlen) throw apduError("READ BINARY returned a wrong length");
      message.set(chunk, read);
      read += chunk.length;
    }
    return extractOfferFromNdef(message);
  }
}
