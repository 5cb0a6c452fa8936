import type { KeyObject } from "node:crypto";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import type { Clock } from "../../core/sources.ts";
import { StatementCache, type SqliteDb } from "../ledger/sqlite-db.ts";

export type AgentStatus = "active" | "revoked";

export interface Agent {
  agentId: string;
  /** The key of the agent's client certificate (its MQTT identity); mandates name their own closing key. */
  publicKeyPem: string;
  status: AgentStatus;
  certificateSerial: string;
  enrolledAtMs: number;
  revokedAtMs: number | undefined;
}

export const agentListMax = 10_000;

interface AgentRow {
  agent_id: string;
  public_key_pem: string;
  status: AgentStatus;
  certificate_serial: string;
  enrolled_at_ms: number;
  revoked_at_ms: number | null;
}

const columns = "agent_id, public_key_pem, status, certificate_serial, enrolled_at_ms, revoked_at_ms";

const toAgent = (r: AgentRow): Agent => ({
  agentId: r.agent_id,
  publicKeyPem: r.public_key_pem,
  status: r.status,
  certificateSerial: r.certificate_serial,
  enrolledAtMs: r.enrolled_at_ms,
  revokedAtMs: r.revoked_at_ms ?? undefined,
});

/** Which agents may connect and publish on `tapwire/v1/agents/<id>/req`. */
export class AgentRegistry {
  private readonly statements: StatementCache;

  constructor(
    private readonly db: SqliteDb,
    private readonly clock: Clock,
  ) {
    this.statements = new StatementCache(db);
  }

  enrollAgent(enrollment: { agentId: string; publicKeyPem: string; certificateSerial: string }): Agent {
    if (!isId(enrollment.agentId)) throw new TapwireError(`agentId ${JSON.stringify(enrollment.agentId)} is not a valid id`, ErrorCode.SchemaInvalid);
    importPublicPem(enrollment.publicKeyPem);
    return this.db.transaction(() => {
      if (this.findAgent(enrollment.agentId)) {
        throw new TapwireError(`agent ${enrollment.agentId} is already enrolled`, ErrorCode.AgentAlreadyEnrolled, { agentId: enrollment.agentId });
      }
      this.statements
        .sql<[string, string, string, number]>(
          `INSERT INTO agents (agent_id, public_key_pem, status, certificate_serial, enrolled_at_ms) VALUES (?, ?, 'active', ?, ?)`,
        )
        .run(enrollment.agentId, enrollment.publicKeyPem, enrollment.certificateSerial, this.clock.nowMs());
      return this.getAgent(enrollment.agentId);
    })();
  }

  findAgent(agentId: string): Agent | undefined {
    const row = this.statements.sql<[string], AgentRow>(`SELECT ${columns} FROM agents WHERE agent_id = ?`).get(agentId);
    return row ? toAgent(row) : undefined;
  }

  getAgent(agentId: string): Agent {
    const agent = this.findAgent(agentId);
    if (!agent) throw new TapwireError(`unknown agent ${agentId}`, ErrorCode.UnknownAgent, { agentId });
    return agent;
  }

  getActiveAgent(agentId: string): Agent {
    const agent = this.getAgent(agentId);
    if (agent.status !== "active") throw new TapwireError(`agent ${agentId} is revoked`, ErrorCode.Revoked, { agentId });
    return agent;
  }

  revokeAgent(agentId: string): Agent {
    this.getAgent(agentId);
    this.statements
      .sql<[number, string]>("UPDATE agents SET status = 'revoked', revoked_at_ms = ? WHERE agent_id = ? AND status = 'active'")
      .run(this.clock.nowMs(), agentId);
    return this.getAgent(agentId);
  }

  listAgents(): Agent[] {
    return this.statements.sql<[number], AgentRow>(`SELECT ${columns} FROM agents ORDER BY agent_id LIMIT ?`).all(agentListMax).map(toAgent);
  }

  publicKey(agent: Agent): KeyObject {
    return importPublicPem(agent.publicKeyPem);
  }
}
