// A store test's worker thread entry, in plain JavaScript: a worker thread does not inherit vitest's loader, so it
// registers tsx's before loading the TypeScript module.
import { register } from "tsx/esm/api";

register();
// No top-level await in a worker entry: see broker/settlement/verify-worker.mjs.
void import("./store-worker.ts");
