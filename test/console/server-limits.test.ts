import { afterEach, describe, expect, it } from "vitest";
import { DashboardServer } from "../../console/dashboard-server.ts";
import type { DashboardSnapshot, DashboardSource } from "../../console/snapshot.ts";
import { eventually } from "../broker/fixtures.ts";
import { Sessions } from "../../console/sessions.ts";
import { SseReader, get, login, type ConsoleLogin } from "./fixtures.ts";

/** A source whose changes the test makes by hand, counting how often it is asked. */
class CountingSource implements DashboardSource {
  marker = 0;
  markerCalls = 0;
  snapshotCalls = 0;

  changeMarker(): string {
    this.markerCalls++;
    return String(this.marker);
  }

  snapshot(): DashboardSnapshot {
    this.snapshotCalls++;
    return {
      generatedAtMs: this.snapshotCalls,
      source: "test",
      presenceConnected: false,
      hubs: { shown: [], total: 0 },
      accounts: { shown: [], total: 0 },
      ledger: { transfers: this.marker, sums: [], balanced: true },
      activity: [],
      operatorActions: [],
      reviews: undefined,
    };
  }
}

describe("dashboard server limits", () => {
  const servers: DashboardServer[] = [];
  const readers: SseReader[] = [];
  const logins = new Map<DashboardServer, ConsoleLogin>();
  afterEach(async () => {
    readers.splice(0).forEach((reader) => reader.close());
    for (const server of servers.splice(0)) await server.stop();
  });

  async function serve(source: DashboardSource, options: { sseClientsMax?: number; pushIntervalMs?: number } = {}): Promise<DashboardServer> {
    const sessions = new Sessions({ checkLogin: (operator, token) => operator === "ops" && token === "ops-token", isActive: (operator) => operator === "ops" });
    const server = new DashboardServer({ source, sessions, port: 0, ...options });
    servers.push(server);
    await server.start();
    logins.set(server, await login(server.port, "ops", "ops-token"));
    return server;
  }

  async function open(server: DashboardServer): Promise<SseReader> {
    const reader = await SseReader.open(server.port, logins.get(server)!.cookie);
    readers.push(reader);
    return reader;
  }

  it("builds no snapshot while nothing changed, and pushes one per change", async () => {
    const source = new CountingSource();
    const server = await serve(source, { pushIntervalMs: 10 });
    const events = await open(server);
    await events.next(() => true);
    const snapshotsAfterFirst = source.snapshotCalls;

    await eventually(() => source.markerCalls >= 5);
    expect(source.snapshotCalls).toBeLessThanOrEqual(snapshotsAfterFirst + 1);

    source.marker = 1;
    const pushed = await events.next((snapshot) => snapshot.ledger.transfers === 1);
    expect(pushed.ledger.transfers).toBe(1);
    const callsAfterPush = source.snapshotCalls;
    const markerCallsAfterPush = source.markerCalls;
    await eventually(() => source.markerCalls >= markerCallsAfterPush + 5);
    expect(source.snapshotCalls).toBe(callsAfterPush);
  });

  it("refuses live clients beyond the maximum with 503 and takes one again once a slot frees", async () => {
    const server = await serve(new CountingSource(), { sseClientsMax: 1 });
    const first = await open(server);
    await first.next(() => true);

    expect((await get(server.port, "/events", { cookie: logins.get(server)!.cookie })).status).toBe(503);

    first.close();
    await eventually(() => server.sseClients === 0);
    const again = await open(server);
    expect(again.status).toBe(200);
  });

  it("stops its timer and closes live clients on stop", async () => {
    const server = await serve(new CountingSource());
    const events = await open(server);
    await events.next(() => true);

    await server.stop();

    expect(server.sseClients).toBe(0);
    expect(server.port).toBe(0);
  });
});
