import { createCipheriv, createDecipheriv } from "node:crypto";
import { assert } from "../../core/assert.ts";
import type { Random } from "../../core/sources.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { StatementCache } from "../ledger/sqlite-db.ts";
import { keyPeriodMs, keyPeriodStartMs, type RetentionKind } from "./retention.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** AES-256: every key here (the key-encryption key and each person's data keys) is 32 bytes. */
export const keyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;

/** A GCM box: 12-byte IV, ciphertext, 16-byte tag, in one byte string. */
export function sealBox(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, random: Random): Uint8Array {
  assert(key.length === keyBytes, `key of ${key.length} bytes`);
  const iv = random.bytes(ivBytes);
  const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()]));
}

/** Opens a box sealed by sealBox with the same key and AAD; a wrong key, AAD or a changed byte throws. */
export function openBox(key: Uint8Array, box: Uint8Array, aad: Uint8Array): Uint8Array {
  assert(key.length === keyBytes, `key of ${key.length} bytes`);
  assert(box.length >= ivBytes + tagBytes, `sealed box of ${box.length} bytes`);
  const decipher = createDecipheriv("aes-256-gcm", key, box.subarray(0, ivBytes)).setAAD(aad);
  decipher.setAuthTag(box.subarray(box.length - tagBytes));
  return new Uint8Array(Buffer.concat([decipher.update(box.subarray(ivBytes, box.length - tagBytes)), decipher.final()]));
}

const wrapAad = (person: string, kind: string, periodStartMs: number) => Buffer.from(`tapwire-data-key-v1\n${person}\n${kind}\n${periodStartMs}`);

/** Where a sealed field's key is: its owner, its retention kind and its period. */
export interface KeyRef {
  person: string;
  kind: RetentionKind;
  periodStartMs: number;
}

/**
 * Per-person data keys (AES-256-GCM), each wrapped under the service's key-encryption key (KEK, a secret kept in
 * the data dir: broker/operator-pki.ts) and bound by the wrap's AAD to its row, so a wrapped key moved to
 * another person's row does not open. Destroying a key (erase, retention) sets its wrapped form to NULL: every
 * field sealed under it is then unreadable, wherever its ciphertext is kept (the append-only evidence too).
 */
export class PersonalKeys {
  private readonly statements: StatementCache;

  constructor(db: SqlDb, private readonly kek: Uint8Array, private readonly random: Random) {
    assert(kek.length === keyBytes, `key-encryption key of ${kek.length} bytes`);
    this.statements = new StatementCache(db);
  }

  /** The live key of (person, kind) for the period `nowMs` is in, made on first use; inside the caller's transaction. */
  current(person: string, kind: RetentionKind, nowMs: number): { ref: KeyRef; key: Uint8Array } {
    const ref = { person, kind, periodStartMs: keyPeriodStartMs(nowMs) };
    const row = this.row(ref);
    if (row !== undefined) return { ref, key: this.unwrap(ref, row) };
    const key = this.random.bytes(keyBytes);
    this.statements
      .sql<[string, string, number, Uint8Array, number]>(
        "INSERT INTO privacy_data_keys (person, kind, period_start_ms, wrapped_key, created_at_ms) VALUES (?, ?, ?, ?, ?)",
      )
      .run(person, kind, ref.periodStartMs, sealBox(this.kek, key, wrapAad(person, kind, ref.periodStartMs), this.random), nowMs);
    return { ref, key };
  }

  /** The key a sealed field names; PersonalDataShredded once it was destroyed (or never existed here). */
  get(ref: KeyRef): Uint8Array {
    return this.unwrap(ref, this.row(ref));
  }

  /** Destroys every key of a person (erase); returns how many were live. */
  shredPerson(person: string, nowMs: number): number {
    return this.statements
      .sql<[number, string]>("UPDATE privacy_data_keys SET wrapped_key = NULL, shredded_at_ms = ?, shred_reason = 'erase' WHERE person = ? AND wrapped_key IS NOT NULL")
      .run(nowMs, person).changes;
  }

  /** Destroys the keys of `kind` whose whole period ended at or before `endedByMs`, at most rowsMax (retention). */
  shredPeriodsEndedBy(kind: RetentionKind, endedByMs: number, nowMs: number, rowsMax: number): number {
    return this.statements
      .sql<[number, string, number, number]>(
        `UPDATE privacy_data_keys SET wrapped_key = NULL, shredded_at_ms = ?, shred_reason = 'retention'
         WHERE (person, kind, period_start_ms) IN (
           SELECT person, kind, period_start_ms FROM privacy_data_keys
           WHERE kind = ? AND wrapped_key IS NOT NULL AND period_start_ms <= ? ORDER BY period_start_ms LIMIT ?)`,
      )
      .run(nowMs, kind, endedByMs - keyPeriodMs, rowsMax).changes;
  }

  private row(ref: KeyRef): { wrapped_key: Buffer | null } | undefined {
    return this.statements
      .sql<[string, string, number], { wrapped_key: Buffer | null }>(
        "SELECT wrapped_key FROM privacy_data_keys WHERE person = ? AND kind = ? AND period_start_ms = ?",
      )
      .get(ref.person, ref.kind, ref.periodStartMs);
  }

  private unwrap(ref: KeyRef, row: { wrapped_key: Buffer | null } | undefined): Uint8Array {
    if (row?.wrapped_key == null) {
      throw new TapwireError(`the data key of ${ref.person} (${ref.kind}, period from ${ref.periodStartMs}) is destroyed`, ErrorCode.PersonalDataShredded, { person: ref.person });
    }
    // A wrapped key that does not open under our KEK is a wrong KEK file or a tampered row: not a business case.
    return openBox(this.kek, row.wrapped_key, wrapAad(ref.person, ref.kind, ref.periodStartMs));
  }
}
