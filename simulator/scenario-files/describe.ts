import { errorCodeName } from "../../protocol/errors.ts";
import { formatMoney, type Money } from "../../protocol/money.ts";
import type { Expectation } from "./expect-schema.ts";
import type { Step } from "./step-schema.ts";

const isMoney = (value: unknown): value is Money =>
  typeof value === "object" && value !== null && typeof (value as Money).amountMinor === "number" && typeof (value as Money).currency === "string";

/** Fields that hold an error code: shown with its name. */
const codeKeys = new Set(["code", "refusal"]);
const codeText = (code: number) => (code === 0 ? "0" : `${code} ${errorCodeName(code)}`);

/** `hub=h1 amount=4.50 EUR mode=reader`: a step's or a check's fields as a person reads them (money as money). */
function fields(value: unknown): string {
  if (isMoney(value)) return formatMoney(value);
  if (Array.isArray(value)) return `[${value.map(fields).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    return Object.entries(value)
      .filter(([, field]) => field !== undefined)
      .map(([key, field]) => `${key}=${fieldText(key, field)}`)
      .join(" ");
  }
  return String(value);
}

function fieldText(key: string, field: unknown): string {
  if (codeKeys.has(key) && typeof field === "number") return codeText(field);
  const nested = typeof field === "object" && field !== null && !isMoney(field) && !Array.isArray(field);
  return nested ? `{${fields(field)}}` : fields(field);
}

/** `at 1500ms sale hub=h1 amount=4.50 EUR mode=reader` */
export function describeStep(step: Step): string {
  return `at ${step.atMs}ms ${step.action.name} ${fields(step.action.spec)}`.trimEnd();
}

/** `within 0..10000ms: sale ref=s1 status=approved code=0` */
export function describeExpectation(expectation: Expectation): string {
  const { fromMs, toMs, exact, check } = expectation;
  const when = exact ? `at ${fromMs}ms` : toMs === undefined ? `from ${fromMs}ms until the timeout` : `within ${fromMs}..${toMs}ms`;
  return `${when}: ${check.name} ${fields(check.spec)}`.trimEnd();
}
