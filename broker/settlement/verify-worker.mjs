// The verify pool's worker entry, in plain JavaScript: a worker thread does not inherit the parent's tsx
// loader (not under `tsx`, `node bin/tapwire.mjs` or vitest), so it registers its own before loading the
// TypeScript worker.
import { register } from "tsx/esm/api";

register();
// Not awaited: an entry with top-level await is evaluated asynchronously by V8, and a worker terminated as that
// evaluation starts aborts the whole process (Check failed: (location_) != nullptr, in
// SourceTextModule::ExecuteAsyncModule; the PostgreSQL suite lost a test file to it in CI, twice). A failed import
// is still an uncaught error of the worker, which the pool sees as its "error" event.
void import("./verify-worker.ts");
