#!/usr/bin/env node
// Runs the CLI in this very process, so signals reach the command itself (killing `tapwire settle` never leaves an
// orphaned server holding its port). A development checkout (tsx installed, sources here) runs the TypeScript
// sources, so a stale build can never stand in for them; a production install (`npm ci --omit=dev`: no tsx) runs
// the compiled build in dist/ (`npm run build`).
import { existsSync } from "node:fs";

const sources = new URL("../cli/main.ts", import.meta.url);
const built = new URL("../dist/cli/main.js", import.meta.url);
const tsx = existsSync(sources) ? await import("tsx/esm/api").catch(() => undefined) : undefined;
if (tsx) {
  tsx.register();
  await import(sources.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  process.stderr.write("tapwire: no build in dist/ and no tsx to run the sources: run `npm run build` (or `npm ci` for development)\n");
  process.exit(2);
}
