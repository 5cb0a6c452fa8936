// Runs every example in this folder, one process each; exits non-zero if any fails.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const examples = readdirSync(here).filter((name) => name.endsWith(".mjs") && !["run.mjs", "stack.mjs"].includes(name)).sort();
let failed = 0;
for (const example of examples) {
  console.log(`== examples/${example}`);
  const result = spawnSync(process.execPath, [example], { cwd: here, stdio: "inherit", timeout: 120_000, env: { ...process.env, TAPWIRE_LOG: process.env.TAPWIRE_LOG ?? "fatal" } });
  if (result.status !== 0) failed += 1;
}
console.log(`examples: ${examples.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
