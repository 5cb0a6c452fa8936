import { ErrorCode, TapwireError } from "../../protocol/errors.ts";

/** The account a payout is credited to, or the operator's account it is paid from: an IBAN with its bank's BIC. */
export interface BankAccount {
  name: string;
  iban: string;
  bic: string;
}

/** pain.001.001.03 Max70Text: the longest account-holder name a credit transfer carries. */
export const accountNameLengthMax = 70;

const ibanShape = /^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/;
const bicShape = /^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$/;
const controlCharacters = /[\u0000-\u001f\u007f]/;

/**
 * ISO 13616: move the first four characters to the end, replace letters by 10..35, and the number mod 97 must be 1.
 * Computed digit by digit so the 30-plus-digit number never leaves the safe integer range.
 */
export function ibanChecksumHolds(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const character of rearranged) {
    const value = Number.parseInt(character, 36);
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

/** An IBAN as printed (spaces, lower case allowed) in its electronic form; IbanInvalid for a bad shape or check digits. */
export function parseIban(text: string): string {
  const iban = text.replace(/ /g, "").toUpperCase();
  if (!ibanShape.test(iban)) throw new TapwireError(`IBAN ${JSON.stringify(text)} is not 15-34 letters and digits starting with a country and check digits`, ErrorCode.IbanInvalid);
  if (!ibanChecksumHolds(iban)) throw new TapwireError(`IBAN ${JSON.stringify(text)} fails its mod-97 check digits`, ErrorCode.IbanInvalid);
  return iban;
}

export function parseBic(text: string): string {
  const bic = text.toUpperCase();
  if (!bicShape.test(bic)) throw new TapwireError(`BIC ${JSON.stringify(text)} is not 8 or 11 characters of ISO 9362's shape`, ErrorCode.BicInvalid);
  return bic;
}

export function parseAccountName(text: string): string {
  const name = text.trim();
  if (name.length === 0 || name.length > accountNameLengthMax || controlCharacters.test(name)) {
    throw new TapwireError(`account name must be 1-${accountNameLengthMax} printable characters`, ErrorCode.PayeeNameInvalid);
  }
  return name;
}

export function parseBankAccount(input: BankAccount): BankAccount {
  return { name: parseAccountName(input.name), iban: parseIban(input.iban), bic: parseBic(input.bic) };
}
