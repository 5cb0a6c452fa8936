// The PostgreSQL connection thread's entry, in plain JavaScript: a worker thread does not inherit the parent's
// tsx loader (not under `tsx`, `node bin/tapwire.mjs` or vitest), so it registers its own before loading the
// TypeScript module. The compiled build loads pg-connection-thread.js directly.
import { register } from "tsx/esm/api";

register();
// Not awaited, as in broker/settlement/verify-worker.mjs: a thread stopped while V8 starts evaluating an entry with
// top-level await aborts the process; a failed import is still the thread's uncaught error.
void import("./pg-connection-thread.ts");
