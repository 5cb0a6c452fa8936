import { timingSafeEqual } from "node:crypto";

/** Same length and same bytes; the comparison takes the same time wherever the first difference is. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
