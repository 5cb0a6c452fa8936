import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { startNodeDashboard, type RunningDashboard } from "../../console/dashboards.ts";
import type { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { TestStack } from "../e2e/stack.ts";
import { payReader } from "./fixtures.ts";

/** Debian's chromium package; `.ci/run` installs it. Missing, this test fails: it never skips. */
const chromiumPath = "/usr/bin/chromium";
const chromiumArgs = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const uiWaitMs = 15_000;

describe("the operator console in headless Chromium", () => {
  let stack: TestStack;
  let dashboard: RunningDashboard;
  let browser: Browser;
  let hub: EnrolmentBundle;
  let wallet: EnrolmentBundle;
  let link: HubLink;
  let loginToken: string;

  beforeAll(async () => {
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: install Debian's package (apt-get install -y chromium), as .ci/run does`);
    stack = await TestStack.start({ settlement: { review: { humanReviewAboveMinor: 1_000 } } });
    ({ hub, wallet } = await stack.enrolDefaults());
    link = await stack.connect(hub);
    ({ loginToken } = await stack.node.enrollOperator({ operatorId: "ops" }));
    dashboard = await startNodeDashboard(stack.node, { port: 0, operatorId: "ops" });
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await dashboard?.stop();
    await stack?.stop();
  });

  async function postFromPage(page: Page, path: string, body: unknown): Promise<number> {
    return page.evaluate(
      async ([target, payload]) => (await fetch(target as string, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) })).status,
      [path, body] as const,
    );
  }

  it("takes no action without a login: only the login page, and POST /actions answers 401", async () => {
    const page = await browser.newPage();
    const held = await payReader(link, hub, wallet, { requestId: "r-unseen", seq: 1, atc: 1, amountMinor: 1_200 });

    await page.goto(dashboard.url);

    await expect(page.locator("#login-button").isVisible()).resolves.toBe(true);
    expect(await page.locator("#activity").count()).toBe(0);
    expect(await postFromPage(page, "/actions", { action: "approve", caseId: held.decision.caseId })).toBe(401);
    expect(stack.node.service.findReview(held.decision.caseId!)?.status).toBe("pending");
    await page.close();
  }, 60_000);

  it("logs in as an operator, sees a live payment appear, approves a review case and sees it in the evidence chain", async () => {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(dashboard.url);
    await page.fill("#operator", "ops");
    await page.fill("#token", loginToken);
    await page.click("#login-button");
    await page.locator("#operator", { hasText: "operators/ops" }).waitFor({ timeout: uiWaitMs });

    await payReader(link, hub, wallet, { requestId: "r-live", seq: 2, atc: 2, amountMinor: 700 });
    await page.locator("#activity tr", { hasText: "r-live" }).waitFor({ timeout: uiWaitMs });
    const held = await payReader(link, hub, wallet, { requestId: "r-held", seq: 3, atc: 3, amountMinor: 1_500 });
    const caseId = held.decision.caseId!;
    const reviewRow = page.locator("#reviews tr", { hasText: caseId });
    await reviewRow.waitFor({ timeout: uiWaitMs });
    await reviewRow.getByRole("button", { name: "approve" }).click();

    await page.locator("#action-result", { hasText: `case ${caseId}: approved by operators/ops` }).waitFor({ timeout: uiWaitMs });
    const evidenceRow = page.locator("#operator-actions tr", { hasText: `approve case ${caseId}` });
    await evidenceRow.waitFor({ timeout: uiWaitMs });
    expect(await evidenceRow.textContent()).toContain("operators/ops");
    await page.locator("#activity tr", { hasText: "r-held" }).filter({ hasText: "approved" }).first().waitFor({ timeout: uiWaitMs });
    expect(stack.node.service.findReview(caseId)).toMatchObject({ status: "approved", decidedBy: "operators/ops" });
    expect(stack.node.service.verifyEvidence().ok).toBe(true);
    await page.locator("#legend-approvals", { hasText: "approved" }).waitFor({ timeout: uiWaitMs });
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);
});
