// The shared-store bench's worker thread entry, in plain JavaScript: a worker thread does not inherit the parent's
// tsx loader, so it registers its own before loading the TypeScript module.
import { register } from "tsx/esm/api";

register();
// Not awaited (see broker/settlement/verify-worker.mjs): no top-level await in a worker entry.
void import("./shared-store-worker.ts");
