import { connect } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { startDataDirDashboard, startNodeDashboard, type RunningDashboard } from "../../console/dashboards.ts";
import type { DashboardSnapshot } from "../../console/snapshot.ts";
import { eventually } from "../broker/fixtures.ts";
import { TestStack } from "../e2e/stack.ts";
import { SseReader, get, login, payReader, type ConsoleLogin } from "./fixtures.ts";

describe("the live dashboard over a real settlement stack", () => {
  let stack: TestStack;
  let hub: EnrolmentBundle;
  let wallet: EnrolmentBundle;
  let link: HubLink;
  let loginToken: string;
  const running: RunningDashboard[] = [];
  const readers: SseReader[] = [];

  beforeEach(async () => {
    stack = await TestStack.start();
    ({ hub, wallet } = await stack.enrolDefaults(2_000));
    link = await stack.connect(hub);
    ({ loginToken } = await stack.node.enrollOperator({ operatorId: "ops" }));
  });

  afterEach(async () => {
    readers.splice(0).forEach((reader) => reader.close());
    for (const dashboard of running.splice(0)) await dashboard.stop();
    await stack.stop();
  });

  async function dashboardOnNode(): Promise<RunningDashboard> {
    const dashboard = await startNodeDashboard(stack.node, { port: 0, operatorId: "ops" });
    running.push(dashboard);
    return dashboard;
  }

  function loggedIn(dashboard: RunningDashboard): Promise<ConsoleLogin> {
    return login(dashboard.server.port, "ops", loginToken);
  }

  it("shows the hub online, an approved and a declined payment with its code, balances and the zero-sum check", async () => {
    const dashboard = await dashboardOnNode();
    expect((await payReader(link, hub, wallet, { requestId: "r-1", seq: 1, atc: 1, amountMinor: 1_250 })).decision.status).toBe("approved");
    expect((await payReader(link, hub, wallet, { requestId: "r-2", seq: 2, atc: 2, amountMinor: 1_500 })).decision.code).toBe(ErrorCode.InsufficientFunds);
    await eventually(() => dashboard.source.snapshot().hubs.shown[0]?.presence === "online");

    const snapshot = dashboard.source.snapshot();

    expect(snapshot.presenceConnected).toBe(true);
    expect(snapshot.hubs).toMatchObject({ total: 1, shown: [{ hubId: "h1", merchantId: "m1", status: "active", presence: "online" }] });
    expect(snapshot.activity).toEqual([
      expect.objectContaining({ requestId: "r-2", mode: "reader", amountMinor: 1_500, amount: "15.00 EUR", status: "declined", code: ErrorCode.InsufficientFunds, codeName: "InsufficientFunds" }),
      expect.objectContaining({ requestId: "r-1", mode: "reader", amountMinor: 1_250, amount: "12.50 EUR", status: "approved", code: 0, principal: "hubs/h1" }),
    ]);
    expect(balances(snapshot)).toEqual({ "merchant:m1": "12.50 EUR", "wallet:w1": "7.50 EUR", "funding:EUR": "-20.00 EUR" });
    expect(snapshot.ledger).toEqual({ transfers: 2, balanced: true, sums: [{ currency: "EUR", accounts: 3, sumMinor: 0, sum: "0.00 EUR" }] });
    expect(snapshot.reviews).toEqual({ pending: [], countsByStatus: {} });
  });

  it("marks the hub offline when it goes away", async () => {
    const dashboard = await dashboardOnNode();
    await eventually(() => dashboard.source.snapshot().hubs.shown[0]?.presence === "online");

    await link.stop();

    await eventually(() => dashboard.source.snapshot().hubs.shown[0]?.presence === "offline");
  });

  it("serves the page with nothing external, the JSON snapshot, and pushes a new snapshot when a payment lands", async () => {
    const dashboard = await dashboardOnNode();
    const port = dashboard.server.port;
    const { cookie } = await loggedIn(dashboard);

    const page = await get(port, "/", { cookie });
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.body).toContain("<title>tapwire console</title>");
    expect(page.body).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(page.headers["content-security-policy"]).not.toContain("unsafe-inline");

    const json = await get(port, "/snapshot.json", { cookie });
    expect(json.status).toBe(200);
    expect((JSON.parse(json.body) as DashboardSnapshot).hubs.total).toBe(1);

    const events = await SseReader.open(port, cookie);
    readers.push(events);
    expect(events.status).toBe(200);
    const first = await events.next(() => true);
    expect(first.activity).toEqual([]);

    await payReader(link, hub, wallet, { requestId: "r-1", seq: 1, atc: 1, amountMinor: 700 });

    const pushed = await events.next((snapshot) => snapshot.activity.length === 1, 1);
    expect(pushed.activity[0]).toMatchObject({ requestId: "r-1", amount: "7.00 EUR", status: "approved" });
    expect(balances(pushed)["merchant:m1"]).toBe("7.00 EUR");
  });

  it("listens on 127.0.0.1 only and answers only requests addressed to it", async () => {
    const dashboard = await dashboardOnNode();
    const port = dashboard.server.port;
    const { cookie } = await loggedIn(dashboard);

    expect(dashboard.url).toBe(`http://127.0.0.1:${port}/`);
    await expect(reachable("::1", port)).resolves.toBe(false);
    expect((await get(port, "/snapshot.json", { host: "evil.example:80", cookie })).status).toBe(421);
    expect((await get(port, "/snapshot.json", { host: `localhost:${port}`, cookie })).status).toBe(200);
    expect((await get(port, "/snapshot.json", { method: "PUT", cookie })).status).toBe(405);
    expect((await get(port, "/ledger.sqlite", { cookie })).status).toBe(404);
  });

  it("reads the data dir of a running settlement through its own connection, as the operator", async () => {
    await payReader(link, hub, wallet, { requestId: "r-1", seq: 1, atc: 1, amountMinor: 300 });
    const dashboard = await startDataDirDashboard({ dataDir: stack.dataDir, port: 0, brokerUrl: stack.node.url, protocolVersion: 4, operatorId: "ops" });
    running.push(dashboard);
    await eventually(() => dashboard.source.snapshot().hubs.shown[0]?.presence === "online");
    const before = dashboard.source.changeMarker();

    await payReader(link, hub, wallet, { requestId: "r-2", seq: 2, atc: 2, amountMinor: 200 });

    expect(dashboard.source.changeMarker()).not.toBe(before);
    const snapshot = dashboard.source.snapshot();
    expect(snapshot.source).toBe(`data dir ${stack.dataDir}`);
    expect(snapshot.activity.map((entry) => [entry.requestId, entry.amount, entry.status])).toEqual([
      ["r-2", "2.00 EUR", "approved"],
      ["r-1", "3.00 EUR", "approved"],
    ]);
    expect(balances(snapshot)["merchant:m1"]).toBe("5.00 EUR");
    expect(snapshot.ledger.balanced).toBe(true);
  });

  it("refuses a data dir without a settlement database", async () => {
    await expect(
      startDataDirDashboard({ dataDir: `${stack.dataDir}/nothing-here`, port: 0, brokerUrl: stack.node.url, protocolVersion: 4, operatorId: "ops" }),
    ).rejects.toMatchObject({ code: ErrorCode.ConfigInvalid });
  });

  it("refuses an operator that was never enrolled, rather than borrowing another identity", async () => {
    await expect(
      startDataDirDashboard({ dataDir: stack.dataDir, port: 0, brokerUrl: stack.node.url, protocolVersion: 4, operatorId: "nobody" }),
    ).rejects.toMatchObject({ code: ErrorCode.UnknownOperator });
  });
});

function balances(snapshot: DashboardSnapshot): Record<string, string> {
  return Object.fromEntries(snapshot.accounts.shown.map((account) => [account.accountId, account.balance]));
}

/** Whether a TCP connection to address:port is accepted. */
function reachable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
