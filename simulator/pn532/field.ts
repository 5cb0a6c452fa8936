/** What can be held to the virtual PN532's antenna: a card (or HCE phone) or a phone in reader mode. */

export interface CardIdentity {
  sensRes: Uint8Array;
  selRes: number;
  nfcId: Uint8Array;
  /** Answer to select, first byte = its own length. */
  ats: Uint8Array;
}

/** A card or an HCE phone: the hub is the reader and sends it APDUs. */
export interface VirtualCard {
  readonly role: "card";
  readonly identity: CardIdentity;
  transceive(apdu: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** The tag the hub emulates, as a phone in reader mode sees it. */
export interface TagLink {
  /** Sends a C-APDU to the tag; rejects with NfcTargetLost if the tag goes away, NfcTimeout if it is silent. */
  transceive(apdu: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** A phone in reader mode (Alipay Tap! style): it drives the exchange with the hub's tag. */
export interface VirtualReader {
  readonly role: "reader";
  /** Called once per placement, when the hub's emulated tag is activated. */
  read(tag: TagLink): Promise<void>;
}

export type FieldDevice = VirtualCard | VirtualReader;
