import { timingSafeEqual } from "node:crypto";
import { assert } from "../core/assert.ts";
import { logger } from "../core/log.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../core/sources.ts";

const log = logger("tapwire:console");

export const sessionCookie = "tapwire_session";
export const sessionsMaxDefault = 64;
/** A console left open over a shift stays logged in; a forgotten one does not stay so for days. */
export const sessionTtlMsDefault = 12 * 3600 * 1000;
/** Failed logins the console takes per minute (scrypt makes each one cost ~50 ms besides). */
export const failedLoginsPerMinuteMax = 10;

/** Checks an operator's login token (OperatorStore.checkLogin over the settlement database). */
export type LoginCheck = (operatorId: string, loginToken: string) => boolean;

export interface Session {
  id: string;
  operatorId: string;
  /** Sent back by the page on every action (header x-csrf-token); a cross-site form cannot know it. */
  csrfToken: string;
  expiresAtMs: number;
}

export interface SessionsOptions {
  checkLogin: LoginCheck;
  /** Whether an operator may still act (not revoked since logging in): asked on every request of a session. */
  isActive: (operatorId: string) => boolean;
  clock?: Clock;
  random?: Random;
  sessionsMax?: number;
  ttlMs?: number;
}

/**
 * The console's logins: a session per successful login (an operator's name and token), kept in memory only (a
 * restart logs everyone out), at most sessionsMax (the oldest goes), each with its own CSRF token. The cookie
 * carries only the random session id, HttpOnly and SameSite=Strict.
 */
export class Sessions {
  private readonly sessions = new Map<string, Session>();
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly sessionsMax: number;
  private readonly ttlMs: number;
  private failures: { windowStartMs: number; count: number } = { windowStartMs: 0, count: 0 };

  constructor(private readonly options: SessionsOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.sessionsMax = options.sessionsMax ?? sessionsMaxDefault;
    this.ttlMs = options.ttlMs ?? sessionTtlMsDefault;
    assert(Number.isSafeInteger(this.sessionsMax) && this.sessionsMax > 0, "sessionsMax must be a positive integer");
  }

  /** A new session, or undefined for a wrong name or token (or too many failures this minute). */
  login(operatorId: string, loginToken: string): Session | undefined {
    const nowMs = this.clock.nowMs();
    if (nowMs - this.failures.windowStartMs >= 60_000) this.failures = { windowStartMs: nowMs, count: 0 };
    if (this.failures.count >= failedLoginsPerMinuteMax) return undefined;
    if (!this.options.checkLogin(operatorId, loginToken)) {
      this.failures.count += 1;
      log.warn({ operatorId, failures: this.failures.count }, "console login refused");
      return undefined;
    }
    if (this.sessions.size >= this.sessionsMax) this.sessions.delete(this.sessions.keys().next().value!);
    const session = { id: this.token(), operatorId, csrfToken: this.token(), expiresAtMs: nowMs + this.ttlMs };
    this.sessions.set(session.id, session);
    log.info({ operatorId }, "operator logged in to the console");
    return session;
  }

  /** The live session a request's Cookie header names, if any. */
  fromCookie(cookieHeader: string | undefined): Session | undefined {
    const id = cookieValue(cookieHeader, sessionCookie);
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAtMs <= this.clock.nowMs() || !this.options.isActive(session.operatorId)) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  end(session: Session): void {
    this.sessions.delete(session.id);
  }

  static csrfMatches(session: Session, given: string | undefined): boolean {
    if (given === undefined) return false;
    const a = Buffer.from(session.csrfToken);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  cookieFor(session: Session): string {
    return `${sessionCookie}=${session.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(this.ttlMs / 1000)}`;
  }

  static clearCookie(): string {
    return `${sessionCookie}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }

  private token(): string {
    return Buffer.from(this.random.bytes(32)).toString("base64url");
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}
