import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { closeServer, listenOn } from "../core/http-listen.ts";
import { assert } from "../core/assert.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { logger } from "../core/log.ts";
import { dashboardPage } from "./page.ts";
import type { DashboardSource } from "./snapshot.ts";

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
  /** 0 picks a free port; read it back from `port` after start. */
  port: number;
  sseClientsMax?: number;
  pushIntervalMs?: number;
}

/**
 * The dashboard over node:http: `/` the page (inline CSS and JS, nothing external), `/snapshot.json` one
 * snapshot, `/events` Server-Sent Events with a snapshot at once and then whenever something changed, at a
 * bounded rate and for a bounded number of clients. Requests naming another Host are refused, so a web page
 * elsewhere cannot read the dashboard through DNS rebinding.
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
    if (request.method !== "GET") {
      response.setHeader("allow", "GET");
      return plain(response, 405, "read-only\n");
    }
    try {
      this.serve(new URL(request.url ?? "/", this.url).pathname, request, response);
    } catch (error) {
      // The source's database may be gone (its node stopped first): this request fails, the server stays.
      log.warn({ err: (error as Error).message }, "dashboard request failed");
      if (response.headersSent) response.destroy();
      else plain(response, 503, "settlement data unavailable\n");
    }
  }

  private serve(path: string, request: IncomingMessage, response: ServerResponse): void {
    switch (path) {
      case "/":
        return this.page(response);
      case "/snapshot.json":
        return this.json(response);
      case "/events":
        return this.subscribe(request, response);
      default:
        return plain(response, 404, "not found\n");
    }
  }

  private hostAllowed(host: string | undefined): boolean {
    return host === `${dashboardHost}:${this.boundPort}` || host === `localhost:${this.boundPort}`;
  }

  private page(response: ServerResponse): void {
    response.writeHead(200, {
      ...commonHeaders,
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": dashboardPage.contentSecurityPolicy,
    });
    response.end(dashboardPage.html);
  }

  private json(response: ServerResponse): void {
    response.writeHead(200, { ...commonHeaders, "content-type": "application/json; charset=utf-8" });
    response.end(JSON.stringify(this.options.source.snapshot()));
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

function plain(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { ...commonHeaders, "content-type": "text/plain; charset=utf-8" });
  response.end(text);
}
