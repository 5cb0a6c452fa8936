// A worker thread that opens (and migrates) the settlement database: several start at once in
// concurrent-migrations.test.ts. Plain JavaScript, as a worker does not inherit vitest's loader.
import { register } from "tsx/esm/api";

register();
await import("./migrate-worker-open.ts");
