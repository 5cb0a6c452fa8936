import { performance } from "node:perf_hooks";
import { isTapwireError } from "../../protocol/errors.ts";
import type { SimWorld } from "../world/world.ts";
import { runStep, type StepContext } from "./actions.ts";
import { evaluate } from "./expectations.ts";
import { describeExpectation, describeStep } from "./describe.ts";
import type { Expectation } from "./expect-schema.ts";
import { ScenarioRecords } from "./scenario-records.ts";
import type { Scenario } from "./scenario-schema.ts";
import { createScenarioWorld } from "./scenario-world.ts";

/** Trace lines printed before a failure: what led up to it. */
export const traceLinesAroundFailure = 30;

/** passed: every expectation held; failed: one did not (or a step could not be done, or a hub crashed); timedOut: not all decided in time. */
export type ScenarioStatus = "passed" | "failed" | "timedOut";

export interface ScenarioResult {
  file: string;
  name: string;
  seed: number;
  status: ScenarioStatus;
  /** What failed or was left undecided, one line each (empty when passed). */
  problems: string[];
  /** Virtual ms of the failure or the timeout. */
  endMs: number;
  /** The trace lines up to the failure (or the timeout). */
  traceTail: string[];
  /** SHA-256 of the whole trace: the same file and seed give the same digest. */
  digest: string;
  /** Every trace line (kept for --trace). */
  trace: readonly string[];
  elapsedMs: number;
}

interface Progress {
  stepsRun: number;
  decided: Set<number>;
  problems: string[];
  endMs: number | undefined;
  traceTail: string[];
}

/**
 * Plays a scenario on a fresh world: steps at their virtual times, and after every timer (once the world is quiet)
 * each expectation whose window is open is checked. It stops at the first expectation that fails, when every
 * expectation is decided and every step done, or at the timeout (virtual time). The trace's digest is taken last.
 */
export async function runScenarioFile(scenario: Scenario, seed: number = scenario.seed): Promise<ScenarioResult> {
  const startedMs = performance.now();
  const scenarioWorld = await createScenarioWorld(scenario, seed);
  const { world } = scenarioWorld;
  const context: StepContext = { ...scenarioWorld, records: new ScenarioRecords(world) };
  const progress: Progress = { stepsRun: 0, decided: new Set(), problems: [], endMs: undefined, traceTail: [] };
  const startMs = world.nowMs;
  try {
    schedule(scenario, context, progress);
    const end = await world.run(startMs + scenario.timeoutMs, () => checkpoint(scenario, context, progress, startMs));
    const failed = progress.problems.length > 0;
    if (!failed && end !== "done") timedOut(scenario, context, progress, startMs);
    const status: ScenarioStatus = failed ? "failed" : end === "done" ? "passed" : "timedOut";
    world.trace.record("scenario", `${status} at ${progress.endMs ?? world.nowMs - startMs}ms`);
    traceOutcome(world);
    return {
      file: scenario.file,
      name: scenario.name,
      seed,
      status,
      problems: progress.problems,
      endMs: progress.endMs ?? world.nowMs - startMs,
      traceTail: status === "passed" ? [] : progress.traceTail,
      digest: world.trace.digest(),
      trace: [...world.trace.lines],
      elapsedMs: performance.now() - startedMs,
    };
  } finally {
    await world.close();
  }
}

/** Every step at its time, and a timer at every instant an expectation opens or closes, so the run stops there. */
function schedule(scenario: Scenario, context: StepContext, progress: Progress): void {
  const { world } = context;
  scenario.steps.forEach((step, index) => {
    world.clock.setTimeout(() => {
      progress.stepsRun += 1;
      world.trace.record("step", `${index} ${describeStep(step)}`);
      runStep(context, step).catch((error: unknown) => {
        const reason = isTapwireError(error) ? error.toString() : String(error);
        fail(context.world, progress, `step ${index} (${describeStep(step)}) could not be done: ${reason}`);
      });
    }, step.atMs);
  });
  const instants = new Set(scenario.expectations.flatMap((expectation) => [expectation.fromMs, expectation.toMs ?? expectation.fromMs]));
  for (const atMs of instants) world.clock.setTimeout(() => undefined, atMs);
}

function fail(world: SimWorld, progress: Progress, problem: string): void {
  if (progress.problems.length > 0) return;
  world.trace.record("scenario", `FAILED ${problem}`);
  progress.problems.push(problem);
  progress.traceTail = world.trace.lines.slice(-traceLinesAroundFailure);
}

/**
 * Run whenever the world is quiet. An `at` expectation is checked once at its instant, after everything due then
 * has run; a window's expectation holds the first time it is seen to, and fails once its window has closed.
 * A hub machine that stopped on a bug, or scheduled work that threw, fails the scenario too.
 */
function checkpoint(scenario: Scenario, context: StepContext, progress: Progress, startMs: number): boolean {
  const { world } = context;
  const nowMs = world.nowMs - startMs;
  const nextDueMs = world.clock.nextDueMs;
  const lastAtThisInstant = nextDueMs === undefined || nextDueMs > world.nowMs;
  const broken = [...world.crashes, ...world.errors];
  if (broken.length > 0) fail(world, progress, `the world broke: ${broken[0]}`);
  for (const expectation of scenario.expectations) {
    if (progress.problems.length > 0) break;
    if (progress.decided.has(expectation.index) || nowMs < expectation.fromMs) continue;
    const closing = expectation.toMs !== undefined && nowMs >= expectation.toMs && lastAtThisInstant;
    if (expectation.exact && !closing) continue;
    const finding = evaluate(expectation.check, context);
    if (finding.holds) decide(world, progress, expectation, nowMs);
    else if (closing) fail(world, progress, `expectation ${expectation.index} (${describeExpectation(expectation)}) failed at ${nowMs}ms: found ${finding.found}`);
  }
  if (progress.problems.length > 0) {
    progress.endMs = nowMs;
    return true;
  }
  return progress.stepsRun === scenario.steps.length && progress.decided.size === scenario.expectations.length;
}

function decide(world: SimWorld, progress: Progress, expectation: Expectation, nowMs: number): void {
  progress.decided.add(expectation.index);
  world.trace.record("scenario", `expectation ${expectation.index} held at ${nowMs}ms`);
}

/** The timeout came first: what was still undecided, with what each check found at the end. */
function timedOut(scenario: Scenario, context: StepContext, progress: Progress, startMs: number): void {
  const { world } = context;
  const nowMs = world.nowMs - startMs;
  const unrun = scenario.steps.length - progress.stepsRun;
  if (unrun > 0) progress.problems.push(`${unrun} step(s) had not run by the timeout of ${scenario.timeoutMs}ms`);
  for (const expectation of scenario.expectations) {
    if (progress.decided.has(expectation.index)) continue;
    const { found } = evaluate(expectation.check, context);
    progress.problems.push(`expectation ${expectation.index} (${describeExpectation(expectation)}) undecided at the timeout of ${scenario.timeoutMs}ms: found ${found}`);
  }
  progress.endMs = nowMs;
  progress.traceTail = world.trace.lines.slice(-traceLinesAroundFailure);
  world.trace.record("scenario", `timed out at ${nowMs}ms`);
}

/** The service's books go into the trace last, so the digest covers what the run did to money. */
function traceOutcome(world: SimWorld): void {
  if (!world.settlement.running) return;
  const service = world.settlement.service;
  const transfers = service.ledger.transfers({ limit: 10_000 }).reverse();
  for (const t of transfers) world.trace.record("ledger", `${t.kind} ${t.amountMinor} ${t.currency} ${t.debitAccountId}>${t.creditAccountId}`);
  for (const merchant of world.plan.merchants) {
    for (const p of service.paymentsOf(merchant.merchantId)) world.trace.record("payment", `${p.hubId} ${p.mode} ${p.amountMinor} ${p.status} ${p.walletId}`);
  }
}
