import { defineConfig } from "vitest/config";

// Two suites: "unit" (fast, in-process: pure functions, the embedded aedes broker, SQLite, simulated hardware)
// and "integration" (starts its own mosquitto processes). `npm test` runs the first, `.ci/run` both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/integration/**"],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
