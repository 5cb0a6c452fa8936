import { z } from "zod";
import { actionNames, actionSchemas, stepHeadSchema, type Action, type Step } from "./step-schema.ts";
import { checkNames, checkSchemas, expectHeadSchema, type Check, type Expectation } from "./expect-schema.ts";
import { positiveDurationSchema } from "./units.ts";
import { worldSchema, type WorldSpec } from "./world-schema.ts";

/** Steps and expectations one file may hold. */
export const stepsMax = 1_000;
export const expectationsMax = 1_000;
/** Seeds are 32-bit, as the explorer's. */
export const seedMax = 2 ** 32 - 1;

const entry = z.record(z.string(), z.unknown());

const fileSchema = z.strictObject({
  name: z.string().min(1).max(120).optional(),
  description: z.string().max(2_000).optional(),
  /** Draws everything random in the world (latencies, ids, nonces); `--seed` replaces it. */
  seed: z.number().int().min(0).max(seedMax).default(1),
  /** Virtual time the whole scenario may take: steps run and every expectation decided. */
  timeoutMs: positiveDurationSchema,
  world: worldSchema,
  steps: z.array(entry).max(stepsMax).default([]),
  expect: z.array(entry).min(1).max(expectationsMax),
});

/** A scenario file, checked and with its units turned into integers. */
export interface Scenario {
  /** The path it was read from (as given), for messages and the replay command. */
  file: string;
  name: string;
  description: string | undefined;
  seed: number;
  timeoutMs: number;
  world: WorldSpec;
  steps: Step[];
  expectations: Expectation[];
}

/** `path: message` for every problem; nothing is thrown here. */
export type Problems = string[];

function pathOf(prefix: ReadonlyArray<string | number>, path: ReadonlyArray<PropertyKey>): string {
  return [...prefix, ...path].map(String).join(".") || "(file)";
}

export function issuesOf(error: z.ZodError, prefix: ReadonlyArray<string | number>): Problems {
  return error.issues.map((issue) => `${pathOf(prefix, issue.path)}: ${issue.message}`);
}

/** The one key of `value` that is not timing, which must name one of `names`. */
function pickKey<N extends string>(value: Record<string, unknown>, timing: readonly string[], names: readonly N[], what: string, path: string, problems: Problems): N | undefined {
  const keys = Object.keys(value).filter((key) => !timing.includes(key));
  if (keys.length !== 1 || !names.includes(keys[0] as N)) {
    problems.push(`${path}: must have exactly one ${what} (${names.join(", ")}) beside ${timing.join(", ")}, got ${keys.length === 0 ? "none" : keys.join(", ")}`);
    return undefined;
  }
  return keys[0] as N;
}

function parseStep(value: Record<string, unknown>, index: number, problems: Problems): Step | undefined {
  const name = pickKey(value, ["at", "id"], actionNames, "action", `steps.${index}`, problems);
  const head = stepHeadSchema.safeParse({ at: value["at"], id: value["id"] });
  if (!head.success) problems.push(...issuesOf(head.error, ["steps", index]));
  if (name === undefined || !head.success) return undefined;
  const spec = actionSchemas[name].safeParse(value[name]);
  if (!spec.success) return void problems.push(...issuesOf(spec.error, ["steps", index, name]));
  return { atMs: head.data.at, id: head.data.id, action: { name, spec: spec.data } as Action };
}

/**
 * A window opens at `after` when given, else at the last step due before it closes (or before the timeout):
 * "within 30s the balances are…" is about what the steps up to then did, not about the empty world at 0.
 */
function opensAtMs(after: number | undefined, closesAtMs: number | undefined, steps: ReadonlyArray<Step | undefined>): number {
  if (after !== undefined) return after;
  const due = steps.flatMap((step) => (step !== undefined && (closesAtMs === undefined || step.atMs < closesAtMs) ? [step.atMs] : []));
  return Math.max(0, ...due);
}

function parseExpectation(value: Record<string, unknown>, index: number, steps: ReadonlyArray<Step | undefined>, problems: Problems): Expectation | undefined {
  const name = pickKey(value, ["at", "within", "after"], checkNames, "check", `expect.${index}`, problems);
  const head = expectHeadSchema.safeParse({ at: value["at"], within: value["within"], after: value["after"] });
  if (!head.success) problems.push(...issuesOf(head.error, ["expect", index]));
  if (name === undefined || !head.success) return undefined;
  const spec = checkSchemas[name].safeParse(value[name]);
  if (!spec.success) return void problems.push(...issuesOf(spec.error, ["expect", index, name]));
  const { at, within, after } = head.data;
  return {
    index,
    fromMs: at ?? opensAtMs(after, within, steps),
    toMs: at ?? within,
    exact: at !== undefined,
    check: { name, spec: spec.data } as Check,
  };
}

/** Checks the shape and units of a parsed YAML document; the references between its parts are checked apart. */
export function parseScenarioDocument(document: unknown, file: string, problems: Problems): Scenario | undefined {
  const parsed = fileSchema.safeParse(document);
  if (!parsed.success) return void problems.push(...issuesOf(parsed.error, []));
  const { data } = parsed;
  const steps = data.steps.map((step, index) => parseStep(step, index, problems));
  const expectations = data.expect.map((expectation, index) => parseExpectation(expectation, index, steps, problems));
  if (problems.length > 0) return undefined;
  return {
    file,
    name: data.name ?? file,
    description: data.description,
    seed: data.seed,
    timeoutMs: data.timeoutMs,
    world: data.world,
    steps: steps as Step[],
    expectations: expectations as Expectation[],
  };
}
