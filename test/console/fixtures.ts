import { createPrivateKey } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { DecisionReply, HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { sealMessage } from "../../protocol/envelope.ts";
import type { PaymentRequest } from "../../protocol/messages.ts";
import { signCryptogram } from "../../protocol/payer.ts";
import type { DashboardSnapshot } from "../../console/snapshot.ts";

/** A reader-mode payment from hub h1 of merchant m1 by wallet w1, as a hub and an HCE phone make it. */
export async function payReader(
  link: HubLink,
  hub: EnrolmentBundle,
  wallet: EnrolmentBundle,
  sale: { requestId: string; seq: number; atc: number; amountMinor: number },
): Promise<DecisionReply> {
  const now = Date.now();
  const un = Buffer.from([1, 2, 3, sale.seq & 0xff]);
  const cryptogram = signCryptogram(
    { walletId: "w1", hubId: "h1", amountMinor: sale.amountMinor, currency: "EUR", unpredictableNumber: un, atc: sale.atc },
    createPrivateKey(wallet.keyPem!),
  );
  const body: PaymentRequest = {
    type: "payment_request", v: 1, hubId: "h1", merchantId: "m1", requestId: sale.requestId, seq: sale.seq, iat: now, exp: now + 60_000,
    amountMinor: sale.amountMinor, currency: "EUR", mode: "reader",
    payer: { kind: "hce", walletId: "w1", atc: sale.atc, unpredictableNumber: un, cryptogram: Buffer.from(cryptogram) },
  };
  return link.request(sealMessage(body, createPrivateKey(hub.keyPem!)), sale.requestId, 5_000);
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  host?: string;
  method?: string;
  address?: string;
  /** The session cookie (`tapwire_session=…`) from login(). */
  cookie?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request on loopback (GET unless told); `host` overrides the Host header. */
export function get(port: number, path: string, options: RequestOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.host) headers["host"] = options.host;
  if (options.cookie) headers["cookie"] = options.cookie;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: options.address ?? "127.0.0.1", port, path, method: options.method ?? "GET", headers, timeout: 5_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("GET timed out")));
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A JSON POST, with the session's cookie and CSRF token when given. */
export function post(port: number, path: string, body: unknown, session?: { cookie: string; csrfToken?: string }, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return get(port, path, {
    method: "POST",
    body: JSON.stringify(body),
    ...(session ? { cookie: session.cookie } : {}),
    headers: { "content-type": "application/json", ...(session?.csrfToken ? { "x-csrf-token": session.csrfToken } : {}), ...headers },
  });
}

export interface ConsoleLogin {
  cookie: string;
  csrfToken: string;
}

/** Logs in as an operator and reads the session's CSRF token, as the page does. */
export async function login(port: number, operator: string, token: string): Promise<ConsoleLogin> {
  const answer = await post(port, "/login", { operator, token });
  if (answer.status !== 200) throw new Error(`login answered ${answer.status}: ${answer.body}`);
  const cookie = String(answer.headers["set-cookie"]?.[0] ?? "").split(";")[0]!;
  const session = JSON.parse((await get(port, "/session.json", { cookie })).body) as { csrfToken: string };
  return { cookie, csrfToken: session.csrfToken };
}

/** Reads Server-Sent Events from `/events`, each `snapshot` event parsed; close() ends the stream. */
export class SseReader {
  readonly snapshots: DashboardSnapshot[] = [];
  status = 0;
  private buffered = "";
  private closeRequest: (() => void) | undefined;

  static open(port: number, cookie: string): Promise<SseReader> {
    const reader = new SseReader();
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/events", headers: { cookie }, timeout: 5_000 }, (res) => {
        reader.status = res.statusCode ?? 0;
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => reader.receive(chunk));
        resolve(reader);
      });
      reader.closeRequest = () => req.destroy();
      req.on("error", reject);
      req.end();
    });
  }

  /** Resolves with the first snapshot (from index `from` on) that satisfies `predicate`. */
  async next(predicate: (snapshot: DashboardSnapshot) => boolean, from = 0, timeoutMs = 5_000): Promise<DashboardSnapshot> {
    const stepMs = 5;
    for (let waitedMs = 0; waitedMs <= timeoutMs; waitedMs += stepMs) {
      const found = this.snapshots.slice(from).find(predicate);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, stepMs));
    }
    throw new Error(`no matching snapshot within ${timeoutMs} ms (${this.snapshots.length} received)`);
  }

  close(): void {
    this.closeRequest?.();
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let end = this.buffered.indexOf("\n\n");
    while (end >= 0) {
      const event = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 2);
      const lines = event.split("\n");
      const data = lines.filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n");
      if (lines.includes("event: snapshot")) this.snapshots.push(JSON.parse(data) as DashboardSnapshot);
      end = this.buffered.indexOf("\n\n");
    }
  }
}
