import { scryptSync, timingSafeEqual } from "node:crypto";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import type { SqlDb } from "../../core/sql-db.ts";

/** scrypt's defaults (N=16384, r=8): ~50 ms per login check, so a guessed token costs as much. */
const hashBytes = 32;
export const loginTokenBytes = 32;
export const operatorsListMax = 1_000;

export interface Operator {
  operatorId: string;
  certificateSerial: string;
  status: "active" | "revoked";
  enrolledAtMs: number;
  revokedAtMs: number | undefined;
}

interface OperatorRow {
  operator_id: string;
  certificate_serial: string;
  status: "active" | "revoked";
  enrolled_at_ms: number;
  revoked_at_ms: number | null;
  login_salt: Buffer;
  login_hash: Buffer;
}

/** The operators table: enrol once, check a login token, revoke. */
export class OperatorStore {
  constructor(private readonly db: SqlDb) {}

  enroll(input: { operatorId: string; certificateSerial: string; loginToken: string; salt: Uint8Array; nowMs: number }): Operator {
    if (!isId(input.operatorId)) throw new TapwireError(`operator name ${JSON.stringify(input.operatorId)} is not a valid id`, ErrorCode.SchemaInvalid);
    if (this.find(input.operatorId)) throw new TapwireError(`operator ${input.operatorId} is already enrolled`, ErrorCode.OperatorAlreadyEnrolled, { operatorId: input.operatorId });
    this.db
      .prepare("INSERT INTO operators (operator_id, certificate_serial, login_salt, login_hash, status, enrolled_at_ms) VALUES (?, ?, ?, ?, 'active', ?)")
      .run(input.operatorId, input.certificateSerial, Buffer.from(input.salt), hashOf(input.loginToken, input.salt), input.nowMs);
    return this.find(input.operatorId)!;
  }

  find(operatorId: string): Operator | undefined {
    const row = this.db.prepare("SELECT * FROM operators WHERE operator_id = ?").get(operatorId) as OperatorRow | undefined;
    return row && toOperator(row);
  }

  list(): Operator[] {
    return (this.db.prepare("SELECT * FROM operators ORDER BY operator_id LIMIT ?").all(operatorsListMax) as OperatorRow[]).map(toOperator);
  }

  /** Whether `loginToken` is this active operator's; constant-time in the token. */
  checkLogin(operatorId: string, loginToken: string): boolean {
    const row = this.db.prepare("SELECT * FROM operators WHERE operator_id = ?").get(operatorId) as OperatorRow | undefined;
    if (!row || row.status !== "active") return false;
    return timingSafeEqual(hashOf(loginToken, row.login_salt), row.login_hash);
  }

  revoke(operatorId: string, nowMs: number): Operator {
    const found = this.find(operatorId);
    if (!found) throw new TapwireError(`no operator ${operatorId}`, ErrorCode.UnknownOperator, { operatorId });
    this.db.prepare("UPDATE operators SET status = 'revoked', revoked_at_ms = ? WHERE operator_id = ? AND status = 'active'").run(nowMs, operatorId);
    return this.find(operatorId)!;
  }
}

function hashOf(token: string, salt: Uint8Array): Buffer {
  return scryptSync(token, salt, hashBytes);
}

function toOperator(row: OperatorRow): Operator {
  return {
    operatorId: row.operator_id,
    certificateSerial: row.certificate_serial,
    status: row.status,
    enrolledAtMs: row.enrolled_at_ms,
    revokedAtMs: row.revoked_at_ms ?? undefined,
  };
}
