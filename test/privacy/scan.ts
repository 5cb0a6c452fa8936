import type Database from "better-sqlite3";

/**
 * Finds card numbers (PANs) and payer account numbers (IBANs) in every text and blob column of every table.
 * A PAN here: a run of 13–19 digits (not part of a longer run) that starts with a payment-card industry digit
 * (2–6: Mastercard, Amex/JCB, Visa, Discover/UnionPay; 1 is airlines, and is what millisecond timestamps
 * start with) and passes the Luhn check. An IBAN: two letters, two check digits and 11–30 alphanumerics whose
 * ISO 13616 mod-97 is 1. Blobs are read as Latin-1, so ASCII digits inside CBOR or JSON are found too.
 */
export interface Finding {
  table: string;
  column: string;
  kind: "pan" | "iban";
  value: string;
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

export function ibanValid(iban: string): boolean {
  const moved = (iban.slice(4) + iban.slice(0, 4)).replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let remainder = 0;
  for (const ch of moved) remainder = (remainder * 10 + Number(ch)) % 97;
  return remainder === 1;
}

export function findNumbers(text: string): Array<{ kind: "pan" | "iban"; value: string }> {
  const found: Array<{ kind: "pan" | "iban"; value: string }> = [];
  for (const match of text.matchAll(/(?<!\d)[2-6]\d{12,18}(?!\d)/g)) if (luhnValid(match[0])) found.push({ kind: "pan", value: match[0] });
  for (const match of text.matchAll(/(?<![A-Z0-9])[A-Z]{2}\d{2}[A-Z0-9]{11,30}(?![A-Z0-9])/g)) if (ibanValid(match[0])) found.push({ kind: "iban", value: match[0] });
  return found;
}

export function scanDatabase(db: Database.Database): { findings: Finding[]; cellsScanned: number } {
  const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
  const findings: Finding[] = [];
  let cellsScanned = 0;
  for (const table of tables) {
    for (const row of db.prepare<[], Record<string, unknown>>(`SELECT * FROM "${table}"`).iterate()) {
      for (const [column, value] of Object.entries(row)) {
        const text = typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString("latin1") : undefined;
        if (text === undefined) continue;
        cellsScanned += 1;
        for (const hit of findNumbers(text)) findings.push({ table, column, ...hit });
      }
    }
  }
  return { findings, cellsScanned };
}
