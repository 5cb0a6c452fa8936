import { afterEach, describe, expect, it } from "vitest";
import { startNodeDashboard, type RunningDashboard } from "../../console/dashboards.ts";
import { TestStack } from "../e2e/stack.ts";
import { payReader } from "./fixtures.ts";

describe("the dashboard's review queue", () => {
  let stack: TestStack | undefined;
  let dashboard: RunningDashboard | undefined;
  afterEach(async () => {
    await dashboard?.stop();
    await stack?.stop();
  });

  it("lists a payment held for an operator, then shows the operator's approval", async () => {
    stack = await TestStack.start({ settlement: { review: { humanReviewAboveMinor: 1_000 } } });
    const { hub, wallet } = await stack.enrolDefaults();
    const link = await stack.connect(hub);
    await stack.node.enrollOperator({ operatorId: "ops" });
    dashboard = await startNodeDashboard(stack.node, { port: 0, operatorId: "ops" });
    await dashboard.presence.waitConnected(5_000);

    const held = await payReader(link, hub, wallet, { requestId: "r-big", seq: 1, atc: 1, amountMinor: 1_500 });
    expect(held.decision.status).toBe("human_review");

    const queued = dashboard.source.snapshot();
    expect(queued.reviews?.pending).toEqual([
      expect.objectContaining({ caseId: held.decision.caseId, kind: "human_review", requester: "hubs/h1", requestId: "r-big", amount: "15.00 EUR" }),
    ]);
    expect(queued.reviews?.countsByStatus).toEqual({ pending: 1 });
    expect(queued.activity[0]).toMatchObject({ requestId: "r-big", status: "human_review", caseId: held.decision.caseId, amount: "15.00 EUR" });

    stack.node.service.decideReview(held.decision.caseId!, "approve", "ops");

    const decided = dashboard.source.snapshot();
    expect(decided.reviews).toEqual({ pending: [], countsByStatus: { approved: 1 } });
    expect(decided.activity.map((entry) => entry.status)).toEqual(["approved", "human_review"]);
    expect(decided.accounts.shown.find((account) => account.accountId === "merchant:m1")?.balance).toBe("15.00 EUR");
  });
});
