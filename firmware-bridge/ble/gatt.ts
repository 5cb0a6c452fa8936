import { createHash } from "node:crypto";

/**
 * tapwire's GATT service on the glasses. 128-bit UUIDs written the way noble reports them (lowercase, no
 * dashes); with dashes: f1a90001-7c2e-4b8d-9a61-5d3e0c7a2b40 and so on. The hub (central) writes frames to
 * the write characteristic and receives the glasses' frames as notifications on the notify characteristic.
 */
export const glassesServiceUuid = "f1a900017c2e4b8d9a615d3e0c7a2b40";
/** Hub → glasses: write / write without response. */
export const glassesWriteUuid = "f1a900027c2e4b8d9a615d3e0c7a2b40";
/** Glasses → hub: notify. */
export const glassesNotifyUuid = "f1a900037c2e4b8d9a615d3e0c7a2b40";

/**
 * Service data in the glasses' advertisement: one flags byte then an 8-byte tag of the glasses id. A tag,
 * not the id itself, because a legacy advertisement has 31 bytes and the 128-bit UUID already takes 18.
 */
export const advertFlagPairing = 0x01;
export const advertTagBytes = 8;

export interface GlassesAdvert {
  /** The glasses show a pairing code and accept pair_request. */
  pairing: boolean;
  idTag: Buffer;
}

export function glassesIdTag(glassesId: string): Buffer {
  return createHash("sha256").update(glassesId).digest().subarray(0, advertTagBytes);
}

export function encodeAdvertData(glassesId: string, pairing: boolean): Buffer {
  return Buffer.concat([Buffer.of(pairing ? advertFlagPairing : 0), glassesIdTag(glassesId)]);
}

export function decodeAdvertData(data: Uint8Array): GlassesAdvert | undefined {
  if (data.length !== 1 + advertTagBytes) return undefined;
  return { pairing: (data[0]! & advertFlagPairing) !== 0, idTag: Buffer.from(data.subarray(1)) };
}

/** Finds tapwire's service data in what noble reports for an advertisement. */
export function readAdvert(advertisement: { serviceData?: Array<{ uuid: string; data: Buffer }> } | undefined): GlassesAdvert | undefined {
  const entry = advertisement?.serviceData?.find((item) => item.uuid === glassesServiceUuid);
  return entry ? decodeAdvertData(entry.data) : undefined;
}
