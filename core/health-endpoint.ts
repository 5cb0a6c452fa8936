import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { assert } from "./assert.ts";
import { closeServer, listenOn } from "./http-listen.ts";
import { logger } from "./log.ts";

const log = logger("tapwire:metrics");

/** Loopback unless the operator names another address: metrics tell an onlooker how busy the node is. */
export const metricsHostDefault = "127.0.0.1";

/** What is wrong, by check name; an empty record is ready. */
export type ReadinessProblems = () => Record<string, string>;

export interface HealthEndpointOptions {
  /** One registry per node (never prom-client's global one), so several nodes in one process do not collide. */
  registry: Registry;
  readiness: ReadinessProblems;
  /** 0 picks a free port; read it back from `port` after start. */
  port: number;
  host?: string;
}

/**
 * `/metrics` (Prometheus text), `/healthz` (the process answers: 200) and `/readyz` (200 when every readiness check
 * passes, else 503 with one `name: problem` line each) over node:http, GET only. A load balancer or systemd sends
 * work only to a ready node; Prometheus scrapes the rest.
 */
export class HealthEndpoint {
  private server: Server | undefined;
  private boundPort = 0;

  constructor(private readonly options: HealthEndpointOptions) {}

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://${this.options.host ?? metricsHostDefault}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    assert(this.server === undefined, "HealthEndpoint already started");
    const host = this.options.host ?? metricsHostDefault;
    const server = createServer((request, response) => void this.route(request, response));
    this.boundPort = await listenOn(server, host, this.options.port, "metrics");
    this.server = server;
    log.info({ url: this.url }, "metrics and health listening");
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await closeServer(server);
    this.boundPort = 0;
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== "GET") return text(response, 405, "GET only\n");
    const path = new URL(request.url ?? "/", "http://metrics.invalid").pathname;
    if (path === "/healthz") return text(response, 200, "ok\n");
    if (path === "/readyz") return this.ready(response);
    if (path !== "/metrics") return text(response, 404, "not found: /metrics, /healthz, /readyz\n");
    try {
      const body = await this.options.registry.metrics();
      response.writeHead(200, { "content-type": this.options.registry.contentType });
      response.end(body);
    } catch (error) {
      // A collector read a store that is gone (its node stopping): this scrape fails, the endpoint stays.
      log.warn({ err: (error as Error).message }, "metrics collection failed");
      text(response, 503, "metrics unavailable\n");
    }
  }

  private ready(response: ServerResponse): void {
    let problems: Record<string, string>;
    try {
      problems = this.options.readiness();
    } catch (error) {
      problems = { readiness: (error as Error).message };
    }
    const lines = Object.entries(problems).map(([name, problem]) => `${name}: ${problem}`);
    if (lines.length === 0) return text(response, 200, "ready\n");
    text(response, 503, `${lines.join("\n")}\n`);
  }
}

function text(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
  response.end(body);
}
