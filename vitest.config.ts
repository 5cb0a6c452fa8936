import { defineConfig } from "vitest/config";

// Three suites: "unit" (fast, in-process: pure functions, the embedded aedes broker, SQLite, simulated hardware),
// "integration" (starts its own mosquitto processes, workers on PostgreSQL) and "postgres" (the settlement tests
// again, each on a PostgreSQL database of its own). `npm test` runs the first, `.ci/run` all three.
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
      {
        test: {
          name: "postgres",
          // Every test here builds its service through test/settlement/fixtures.ts, which reads this.
          env: { TAPWIRE_TEST_STORE: "postgres" },
          include: ["test/{agents,campaigns,clearing,offline-service,providers,review,settlement}/**/*.test.ts"],
          exclude: [
            // SQLite's own faults (disk full, read-only) injected with pragmas: the fault path is the same code on both engines.
            "test/campaigns/faults.test.ts",
            "test/offline-service/interrupted.test.ts",
            "test/settlement/admission.test.ts",
            "test/providers/provider-payments.test.ts",
            "test/settlement/ledger.test.ts",
            "test/campaigns/ledger-migration.test.ts",
            // The SQLite file itself: copied into a data dir, tampered with, read by the console.
            "test/clearing/clearing-cli.test.ts",
            "test/review/evidence.test.ts",
            "test/campaigns/audit.test.ts",
            // The fixture's sweep runs on real timers once a second; on the slower engine it fires mid-test after
            // the test moved its manual clock a day on, and expires what the test then decides.
            "test/clearing/clearing-run.test.ts",
            "test/review/step-up.test.ts",
          ],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
