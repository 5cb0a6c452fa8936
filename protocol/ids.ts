import { z } from "zod";

/**
 * Identifiers end up inside MQTT topics and certificate names, so they may not hold `/`, `+`, `#` or spaces.
 */
export const idPattern = /^[A-Za-z0-9._:-]{1,64}$/;
export const idSchema = z.string().regex(idPattern, "must be 1-64 characters of A-Z a-z 0-9 . _ : -");

export function isId(value: string): boolean {
  return idPattern.test(value);
}
