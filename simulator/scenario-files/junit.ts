/** How one scenario file ended, as CI reads it. */
export interface JunitCase {
  /** The scenario's name. */
  name: string;
  file: string;
  status: "passed" | "failed" | "timedOut" | "invalid";
  elapsedMs: number;
  /** One line: what failed (absent when passed). */
  message?: string;
  /** The full story: every problem, the trace around it, the replay command. */
  details?: string;
  /** Shown beside a passing case too (seed, digest). */
  output?: string;
}

/** Characters XML 1.0 cannot carry at all (control characters other than tab, newline, carriage return). */
const notXml = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/g;

function escape(text: string): string {
  return text.replace(notXml, "?").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

const seconds = (ms: number) => (ms / 1_000).toFixed(3);

/**
 * JUnit XML as CI systems read it (the Ant/Surefire shape): one testsuite, one testcase per scenario file.
 * An expectation that failed is a <failure type="expectation">, a timeout a <failure type="timeout">, and a file
 * that is not a valid scenario an <error type="invalid"> (nothing of it ran).
 */
export function junitXml(suiteName: string, cases: readonly JunitCase[]): string {
  const failures = cases.filter((c) => c.status === "failed" || c.status === "timedOut").length;
  const errors = cases.filter((c) => c.status === "invalid").length;
  const totalMs = cases.reduce((sum, c) => sum + c.elapsedMs, 0);
  const counts = `tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="0" time="${seconds(totalMs)}"`;
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="${escape(suiteName)}" ${counts}>`,
    `  <testsuite name="${escape(suiteName)}" ${counts}>`,
    ...cases.flatMap(testcase),
    `  </testsuite>`,
    `</testsuites>`,
  ];
  return `${lines.join("\n")}\n`;
}

function testcase(c: JunitCase): string[] {
  const open = `    <testcase classname="scenarios" name="${escape(c.name)}" file="${escape(c.file)}" time="${seconds(c.elapsedMs)}"`;
  const body: string[] = [];
  const message = escape(c.message ?? "");
  const details = escape(c.details ?? "");
  if (c.status === "failed") body.push(`      <failure type="expectation" message="${message}">${details}</failure>`);
  if (c.status === "timedOut") body.push(`      <failure type="timeout" message="${message}">${details}</failure>`);
  if (c.status === "invalid") body.push(`      <error type="invalid" message="${message}">${details}</error>`);
  if (c.output !== undefined) body.push(`      <system-out>${escape(c.output)}</system-out>`);
  return body.length === 0 ? [`${open}/>`] : [`${open}>`, ...body, `    </testcase>`];
}
