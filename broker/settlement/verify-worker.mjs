// The verify pool's worker entry, in plain JavaScript: a worker thread does not inherit the parent's tsx
// loader (not under `tsx`, `node bin/tapwire.mjs` or vitest), so it registers its own before loading the
// TypeScript worker.
import { register } from "tsx/esm/api";

register();
await import("./verify-worker.ts");
