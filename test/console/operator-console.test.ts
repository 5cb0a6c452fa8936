import { afterEach, describe, expect, it } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { startNodeDashboard, type RunningDashboard } from "../../console/dashboards.ts";
import type { DashboardSnapshot } from "../../console/snapshot.ts";
import type { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { eventually } from "../broker/fixtures.ts";
import { TestStack } from "../e2e/stack.ts";
import { get, login, payReader, post } from "./fixtures.ts";

describe("the operator console: login, CSRF, actions recorded under the operator's name", () => {
  let stack: TestStack | undefined;
  let dashboard: RunningDashboard | undefined;
  afterEach(async () => {
    await dashboard?.stop();
    await stack?.stop();
    dashboard = undefined;
    stack = undefined;
  });

  async function start(): Promise<{ hub: EnrolmentBundle; wallet: EnrolmentBundle; link: HubLink; token: string; port: number }> {
    stack = await TestStack.start({ settlement: { review: { humanReviewAboveMinor: 1_000 } } });
    const { hub, wallet } = await stack.enrolDefaults();
    const link = await stack.connect(hub);
    const { loginToken } = await stack.node.enrollOperator({ operatorId: "ops" });
    dashboard = await startNodeDashboard(stack.node, { port: 0, operatorId: "ops" });
    return { hub, wallet, link, token: loginToken, port: dashboard.server.port };
  }

  async function heldCase(link: HubLink, hub: EnrolmentBundle, wallet: EnrolmentBundle): Promise<string> {
    const held = await payReader(link, hub, wallet, { requestId: "r-big", seq: 1, atc: 1, amountMinor: 1_500 });
    expect(held.decision.status).toBe("human_review");
    return held.decision.caseId!;
  }

  it("serves nothing but the login page without a session, and no action goes through", async () => {
    const { hub, wallet, link, port } = await start();
    const caseId = await heldCase(link, hub, wallet);

    const page = await get(port, "/");
    const answers = await Promise.all([
      get(port, "/snapshot.json"),
      get(port, "/events"),
      get(port, "/charts.json"),
      post(port, "/actions", { action: "approve", caseId }),
      post(port, "/actions", { action: "revoke-hub", hubId: "h1" }, { cookie: "tapwire_session=forged" }),
    ]);

    expect(page.body).toContain("log in");
    expect(page.body).not.toContain("Recent decisions");
    expect(answers.map((answer) => answer.status)).toEqual([401, 401, 401, 401, 401]);
    expect(JSON.parse(answers[3]!.body)).toMatchObject({ code: ErrorCode.LoginRequired });
    expect(stack!.node.service.findReview(caseId)?.status).toBe("pending");
    expect(stack!.node.registry.findHub("h1")?.status).toBe("active");
  });

  it("refuses a wrong token, an action without the CSRF token, and one from another origin", async () => {
    const { hub, wallet, link, token, port } = await start();
    const caseId = await heldCase(link, hub, wallet);
    const session = await login(port, "ops", token);

    const wrong = await post(port, "/login", { operator: "ops", token: `${token}x` });
    const noCsrf = await post(port, "/actions", { action: "approve", caseId }, { cookie: session.cookie });
    const badCsrf = await post(port, "/actions", { action: "approve", caseId }, { cookie: session.cookie, csrfToken: "guess" });
    const crossSite = await post(port, "/actions", { action: "approve", caseId }, session, { origin: "http://evil.example" });

    expect([wrong.status, noCsrf.status, badCsrf.status, crossSite.status]).toEqual([401, 403, 403, 403]);
    expect(wrong.headers["set-cookie"]).toBeUndefined();
    expect(stack!.node.service.findReview(caseId)?.status).toBe("pending");
  });

  it("an operator revoked while logged in can do nothing more: the session ends at its next request", async () => {
    const { hub, wallet, link, token, port } = await start();
    const caseId = await heldCase(link, hub, wallet);
    const session = await login(port, "ops", token);

    stack!.node.service.operators.revoke("ops", Date.now());
    const action = await post(port, "/actions", { action: "approve", caseId }, session);
    const again = await post(port, "/login", { operator: "ops", token });

    expect(action.status).toBe(401);
    expect(again.status).toBe(401);
    expect(stack!.node.service.findReview(caseId)?.status).toBe("pending");
  });

  it("sets the session cookie HttpOnly and SameSite=Strict, and logging out ends the session", async () => {
    const { token, port } = await start();
    const answer = await post(port, "/login", { operator: "ops", token });
    const session = await login(port, "ops", token);

    const loggedOut = await post(port, "/logout", {}, session);
    const after = await get(port, "/snapshot.json", { cookie: session.cookie });

    expect(answer.headers["set-cookie"]?.[0]).toMatch(/^tapwire_session=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(loggedOut.status).toBe(200);
    expect(after.status).toBe(401);
  });

  it("approves a held payment as operators/ops: posted once, and the evidence chain says who", async () => {
    const { hub, wallet, link, token, port } = await start();
    const caseId = await heldCase(link, hub, wallet);
    const session = await login(port, "ops", token);

    const approved = await post(port, "/actions", { action: "approve", caseId }, session);
    const again = await post(port, "/actions", { action: "decline", caseId }, session);
    const snapshot = JSON.parse((await get(port, "/snapshot.json", { cookie: session.cookie })).body) as DashboardSnapshot;

    expect(approved.status).toBe(200);
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body)).toMatchObject({ code: ErrorCode.ReviewAlreadyDecided });
    expect(stack!.node.service.findReview(caseId)).toMatchObject({ status: "approved", decidedBy: "operators/ops" });
    expect(stack!.node.service.ledger.balanceOf("merchant:m1")).toBe(1_500);
    expect(snapshot.operatorActions).toEqual([expect.objectContaining({ operator: "operators/ops", what: `approve case ${caseId}` })]);
    expect(stack!.node.service.verifyEvidence().ok).toBe(true);
  });

  it("revokes a hub: the broker drops it and the evidence chain records the operator", async () => {
    const { link, token, port } = await start();
    const session = await login(port, "ops", token);

    const revoked = await post(port, "/actions", { action: "revoke-hub", hubId: "h1" }, session);
    const unknown = await post(port, "/actions", { action: "revoke-hub", hubId: "h9" }, session);
    const malformed = await post(port, "/actions", { action: "refund-everyone" }, session);

    expect(revoked.status).toBe(200);
    expect(unknown.status).toBe(409);
    expect(malformed.status).toBe(400);
    expect(stack!.node.registry.findHub("h1")?.status).toBe("revoked");
    await eventually(() => !link.connected);
    expect(dashboard!.source.snapshot().operatorActions).toEqual([expect.objectContaining({ operator: "operators/ops", what: "revoke hubs/h1" })]);
  });
});
