// A store test's worker thread entry, in plain JavaScript: a worker thread does not inherit vitest's loader, so it
// registers tsx's before loading the TypeScript module.
import { register } from "tsx/esm/api";

register();
await import("./store-worker.ts");
