import { readFileSync, statSync } from "node:fs";
import { parseDocument } from "yaml";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { assertNoProblems } from "../../core/ranges.ts";
import { crossCheck } from "./cross-checks.ts";
import { parseScenarioDocument, type Problems, type Scenario } from "./scenario-schema.ts";

/** The largest scenario file read: a scenario is a page or two, not a data set. */
export const scenarioFileBytesMax = 1_048_576;

/**
 * A scenario from YAML text: the document parsed (YAML errors with their line), checked against the schema, and
 * its references checked across parts. ConfigInvalid listing every problem as `path: message` (also in
 * `context.details`) when anything is wrong; nothing of a bad file runs.
 */
export function parseScenario(text: string, file: string): Scenario {
  const problems: Problems = [];
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  for (const error of document.errors) problems.push(`(yaml): ${error.message.split("\n")[0]}`);
  assertNoProblems(problems, `scenario ${file}`);
  const scenario = parseScenarioDocument(document.toJS({ maxAliasCount: 100 }), file, problems);
  if (scenario) crossCheck(scenario, problems);
  assertNoProblems(problems, `scenario ${file}`);
  return scenario!;
}

/** Reads and parses one scenario file (ConfigInvalid for a file that is missing, too large, or not a scenario). */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    const bytes = statSync(file).size;
    if (bytes > scenarioFileBytesMax) {
      const problem = `(file): is ${bytes} bytes, more than ${scenarioFileBytesMax}`;
      throw new TapwireError(`invalid scenario ${file}: ${problem}`, ErrorCode.ConfigInvalid, { details: [problem] });
    }
    text = readFileSync(file, "utf8");
  } catch (error) {
    if (error instanceof TapwireError) throw error;
    const problem = `(file): cannot be read: ${(error as Error).message}`;
    throw new TapwireError(`invalid scenario ${file}: ${problem}`, ErrorCode.ConfigInvalid, { details: [problem] });
  }
  return parseScenario(text, file);
}

/** The `path: message` lines of a bad scenario's error. */
export function problemsOf(error: TapwireError): string[] {
  const details = error.context?.["details"];
  return Array.isArray(details) ? details.map(String) : [error.message];
}
