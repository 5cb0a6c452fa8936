import { ErrorCode, TapwireError } from "./errors.ts";

/**
 * Base45 (RFC 9285): binary as text in QR code alphanumeric mode, the encoding EU Digital COVID Certificates put
 * behind "HC1:". Two bytes become three characters (one byte, two), least significant first.
 */
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const valueOf = new Map([...alphabet].map((char, index) => [char, index]));

export function encodeBase45(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    let n = bytes[i]! * 256 + bytes[i + 1]!;
    for (let digit = 0; digit < 3; digit += 1) {
      text += alphabet[n % 45];
      n = Math.floor(n / 45);
    }
  }
  if (bytes.length % 2 === 1) {
    const n = bytes[bytes.length - 1]!;
    text += alphabet[n % 45]! + alphabet[Math.floor(n / 45)]!;
  }
  return text;
}

/** ScanInvalid for a character outside the alphabet, a length of 3k+1, or a group worth more than its bytes hold. */
export function decodeBase45(text: string): Uint8Array<ArrayBuffer> {
  if (text.length % 3 === 1) throw new TapwireError(`base45 text of length ${text.length} cannot be whole`, ErrorCode.ScanInvalid);
  const bytes = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 === 2 ? 1 : 0));
  let out = 0;
  for (let i = 0; i < text.length; i += 3) {
    const group = text.slice(i, i + 3);
    let n = 0;
    for (let digit = group.length - 1; digit >= 0; digit -= 1) {
      const value = valueOf.get(group[digit]!);
      if (value === undefined) throw new TapwireError(`${JSON.stringify(group[digit])} is not a base45 character`, ErrorCode.ScanInvalid);
      n = n * 45 + value;
    }
    if (group.length === 3) {
      if (n > 0xffff) throw new TapwireError(`base45 group ${group} is over 65535`, ErrorCode.ScanInvalid);
      bytes[out++] = n >> 8;
      bytes[out++] = n & 0xff;
    } else {
      if (n > 0xff) throw new TapwireError(`base45 group ${group} is over 255`, ErrorCode.ScanInvalid);
      bytes[out++] = n;
    }
  }
  return bytes;
}
