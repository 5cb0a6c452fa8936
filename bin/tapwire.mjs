#!/usr/bin/env node
// Runs the TypeScript CLI in this very process (tsx registered as a loader), so signals reach the
// command itself: killing `tapwire settle` never leaves an orphaned server holding its port.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
