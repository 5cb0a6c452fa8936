import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { closeServer, listenOn } from "../core/http-listen.ts";
import { assert } from "../core/assert.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { logger } from "../core/log.ts";
import { dashboardPage } from "./page.ts";
import { loginPage } from "./login-page.ts";
import type { DashboardSource } from "./snapshot.ts";
import type { MetricsHistory } from "./metrics-history.ts";
import { parseConsoleAction, performConsoleAction, type OperatorDesk } from "./operator-actions.ts";
import { Sessions, type Session } from "./sessions.ts";
import { readJsonBody } from "./request-body.ts";

const log = logger("tapwire:dashboard");

/** The dashboard shows balances: it listens on loopback only, never on a configurable address. */
export const dashboardHost = "127.0.0.1";
export const sseClientsMaxDefault = 16;
/** At most one snapshot per interval is pushed, and only when the source's change marker moved. */
export const pushIntervalMsDefault = 500;
/** A client that lets this much pile up unread is dropped instead of buffered for. */
export const sseBufferedBytesMax = 1024 * 1024;
export const sseRetryMs = 2_000;

export interface DashboardServerOptions {
  source: DashboardSource;
  /** Who is logged in: nothing but the login page is served without a session. */
  sessions: Sessions;
  /** What a logged-in operator acts through; without it the console is read-only. */
  desk?: OperatorDesk;
  /** The charts' data; without it the charts say where to get it. */
  charts?: MetricsHistory;
  /** 0 picks a free port; read it back from `port` after start. */
  port: number;
  sseClientsMax?: number;
  pushIntervalMs?: number;
}

/**
 * The console over node:http. Without a session only the login page and `POST /login` answer. With one: `/` the
 * page (inline CSS and JS, nothing external), `/session.json` the operator and the CSRF token, `/snapshot.json` one
 * snapshot, `/charts.json` the charts, `/events` Server-Sent Events with a snapshot at once and then whenever
 * something changed (bounded rate, bounded clients), and `POST /actions` (CSRF token in `x-csrf-token`).
 * Requests naming another Host are refused (DNS rebinding), and a POST from another Origin too.
 */
export class DashboardServer {
  private server: Server | undefined;
  private boundPort = 0;
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private lastMarker: string | undefined;
  private readonly sseClientsMax: number;
  private readonly pushIntervalMs: number;

  constructor(private readonly options: DashboardServerOptions) {
    this.sseClientsMax = options.sseClientsMax ?? sseClientsMaxDefault;
    this.pushIntervalMs = options.pushIntervalMs ?? pushIntervalMsDefault;
    assert(Number.isSafeInteger(this.sseClientsMax) && this.sseClientsMax > 0, "sseClientsMax must be a positive integer");
    assert(Number.isSafeInteger(this.pushIntervalMs) && this.pushIntervalMs > 0, "pushIntervalMs must be a positive integer");
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://${dashboardHost}:${this.boundPort}/`;
  }

  get sseClients(): number {
    return this.clients.size;
  }

  async start(): Promise<void> {
    assert(this.server === undefined, "DashboardServer already started");
    const server = createServer((request, response) => this.route(request, response));
    this.boundPort = await listenOn(server, dashboardHost, this.options.port, "dashboard");
    this.server = server;
    log.info({ url: this.url }, "dashboard listening");
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.stopTicking();
    for (const client of this.clients) client.end();
    this.clients.clear();
    await closeServer(server);
    this.boundPort = 0;
  }

  private route(request: IncomingMessage, response: ServerResponse): void {
    if (!this.hostAllowed(request.headers.host)) return plain(response, 421, "wrong host\n");
    const path = new URL(request.url ?? "/", this.url).pathname;
    if (request.method === "POST") {
      this.post(path, request, response).catch((error: unknown) => {
        if (error instanceof TapwireError && error.code === ErrorCode.SchemaInvalid) jsonStatus(response, 400, { code: error.code, message: error.message });
        else this.failed(error, response);
      });
      return;
    }
    if (request.method !== "GET") {
      response.setHeader("allow", "GET, POST");
      return plain(response, 405, "GET or POST\n");
    }
    try {
      this.serve(path, request, response);
    } catch (error) {
      this.failed(error, response);
    }
  }

  /** The source's database may be gone (its node stopped first): this request fails, the server stays. */
  private failed(error: unknown, response: ServerResponse): void {
    log.warn({ err: (error as Error).message }, "console request failed");
    if (response.headersSent) response.destroy();
    else plain(response, 503, "settlement data unavailable\n");
  }

  private serve(path: string, request: IncomingMessage, response: ServerResponse): void {
    const session = this.options.sessions.fromCookie(request.headers.cookie);
    if (path === "/" || path === "/login") return this.page(response, session === undefined || path === "/login" ? loginPage : dashboardPage);
    if (session === undefined) return plain(response, 401, "log in first\n");
    switch (path) {
      case "/session.json":
        return this.json(response, { operatorId: session.operatorId, csrfToken: session.csrfToken, actions: this.options.desk !== undefined });
      case "/snapshot.json":
        return this.json(response, this.options.source.snapshot());
      case "/charts.json":
        return this.json(response, this.options.charts?.view() ?? { source: "no metrics: run settle with --metrics-port and the console with --metrics-url", intervalMs: 0, points: [] });
      case "/events":
        return this.subscribe(request, response);
      default:
        return plain(response, 404, "not found\n");
    }
  }

  private async post(path: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!this.originAllowed(request.headers.origin)) return plain(response, 403, "cross-origin request refused\n");
    const sessions = this.options.sessions;
    if (path === "/login") return this.login(await readJsonBody(request), response);
    const session = sessions.fromCookie(request.headers.cookie);
    if (session === undefined) return jsonStatus(response, 401, { code: ErrorCode.LoginRequired, message: "log in first" });
    if (!Sessions.csrfMatches(session, headerOf(request, "x-csrf-token"))) return jsonStatus(response, 403, { code: ErrorCode.LoginRequired, message: "missing or wrong CSRF token" });
    if (path === "/logout") {
      sessions.end(session);
      response.setHeader("set-cookie", Sessions.clearCookie());
      return jsonStatus(response, 200, {});
    }
    if (path !== "/actions") return plain(response, 404, "not found\n");
    return this.act(session, await readJsonBody(request), response);
  }

  private login(body: unknown, response: ServerResponse): void {
    const { operator, token } = (body ?? {}) as { operator?: unknown; token?: unknown };
    const sessions = this.options.sessions;
    const session = typeof operator === "string" && typeof token === "string" ? sessions.login(operator, token) : undefined;
    if (session === undefined) return jsonStatus(response, 401, { code: ErrorCode.LoginRequired, message: "wrong operator name or login token" });
    response.setHeader("set-cookie", sessions.cookieFor(session));
    jsonStatus(response, 200, { operatorId: session.operatorId });
  }

  private act(session: Session, body: unknown, response: ServerResponse): void {
    const desk = this.options.desk;
    if (desk === undefined) return jsonStatus(response, 405, { code: ErrorCode.ConfigInvalid, message: "this console is read-only" });
    try {
      const message = performConsoleAction(desk, parseConsoleAction(body), session.operatorId);
      log.info({ operatorId: session.operatorId }, message);
      jsonStatus(response, 200, { message });
    } catch (error) {
      if (!(error instanceof TapwireError)) throw error;
      jsonStatus(response, error.code === ErrorCode.SchemaInvalid ? 400 : 409, { code: error.code, message: error.message });
    }
  }

  private originAllowed(origin: string | undefined): boolean {
    return origin === undefined || origin === `http://${dashboardHost}:${this.boundPort}` || origin === `http://localhost:${this.boundPort}`;
  }

  private hostAllowed(host: string | undefined): boolean {
    return host === `${dashboardHost}:${this.boundPort}` || host === `localhost:${this.boundPort}`;
  }

  private page(response: ServerResponse, page: { html: string; contentSecurityPolicy: string }): void {
    response.writeHead(200, {
      ...commonHeaders,
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": page.contentSecurityPolicy,
    });
    response.end(page.html);
  }

  private json(response: ServerResponse, body: unknown): void {
    jsonStatus(response, 200, body);
  }

  private subscribe(request: IncomingMessage, response: ServerResponse): void {
    if (this.clients.size >= this.sseClientsMax) {
      response.setHeader("retry-after", String(Math.ceil(sseRetryMs / 1000)));
      return plain(response, 503, `at most ${this.sseClientsMax} live dashboards\n`);
    }
    const first = JSON.stringify(this.options.source.snapshot());
    response.writeHead(200, { ...commonHeaders, "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
    response.write(`retry: ${sseRetryMs}\n\n`);
    send(response, first);
    this.clients.add(response);
    request.socket.setNoDelay(true);
    response.on("close", () => {
      this.clients.delete(response);
      if (this.clients.size === 0) this.stopTicking();
    });
    this.timer ??= setInterval(() => this.tick(), this.pushIntervalMs);
  }

  /** Serves changes only; a newcomer may get the snapshot it arrived with once more, which is harmless. */
  private tick(): void {
    let marker: string;
    let data: string;
    try {
      marker = this.options.source.changeMarker();
      if (marker === this.lastMarker) return;
      data = JSON.stringify(this.options.source.snapshot());
    } catch (error) {
      // The source's database may be gone (its node stopped first): say so once and stop pushing.
      log.warn({ err: (error as Error).message }, "dashboard snapshot failed");
      this.stopTicking();
      for (const client of this.clients) client.end();
      return;
    }
    this.lastMarker = marker;
    for (const client of this.clients) {
      if (client.writableLength > sseBufferedBytesMax) {
        log.warn({ bufferedBytes: client.writableLength }, "dropping a dashboard client that does not read");
        client.destroy();
        continue;
      }
      send(client, data);
    }
  }

  private stopTicking(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

const commonHeaders = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
} as const;

function send(client: ServerResponse, data: string): void {
  client.write(`event: snapshot\ndata: ${data}\n\n`);
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function jsonStatus(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { ...commonHeaders, "content-type": "application/json; charset=utf-8" });
  response.end(JSON.stringify(body));
}

function plain(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { ...commonHeaders, "content-type": "text/plain; charset=utf-8" });
  response.end(text);
}
