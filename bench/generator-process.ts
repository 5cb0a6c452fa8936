import { fork, type ChildProcess } from "node:child_process";
import { assert } from "../core/assert.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import type { GeneratorMessage, GeneratorReport, SetupMessage } from "./generator-protocol.ts";

/** After the load's own deadline, how long the generator may take to drain and report. */
const reportGraceMsBeyondDecision = 10_000;

/**
 * The load generator (load-generator.ts) as the bench process sees it: a forked child on its own core, driven by
 * setup → ready → go (→ warmed → measure) → done over IPC, each step with a timeout.
 */
export class GeneratorProcess {
  private constructor(private readonly child: ChildProcess) {}

  static fork(): GeneratorProcess {
    const child = fork(new URL("./load-generator.ts", import.meta.url), [], { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    return new GeneratorProcess(child);
  }

  /** Sends the setup and resolves once every hub is connected, with how long that took. */
  async connect(setup: SetupMessage): Promise<number> {
    this.child.send(setup);
    const ready = await this.next(setup.connectTimeoutMs * 2, "ready");
    assert(ready.type === "ready", `expected ready, got ${ready.type}`);
    return ready.connectMs;
  }

  /**
   * Starts the load and resolves with the generator's report once it is over. `beforeMeasured` runs as the measured
   * load is about to start (after the warm-up, if any): the caller starts its own meters there.
   */
  async run(setup: SetupMessage, beforeMeasured: () => void | Promise<void>): Promise<GeneratorReport> {
    if (setup.warmupMs > 0) {
      this.child.send({ type: "go" });
      const warmed = await this.next(setup.warmupMs + setup.decisionTimeoutMs + reportGraceMsBeyondDecision, "warm-up end");
      assert(warmed.type === "warmed", `expected warmed, got ${warmed.type}`);
      await beforeMeasured();
      this.child.send({ type: "measure" });
    } else {
      await beforeMeasured();
      this.child.send({ type: "go" });
    }
    const done = await this.next(setup.durationMs + setup.decisionTimeoutMs + reportGraceMsBeyondDecision, "report");
    assert(done.type === "done", `expected done, got ${done.type}`);
    return done.report;
  }

  kill(): void {
    this.child.kill();
  }

  private next(timeoutMs: number, what: string): Promise<GeneratorMessage> {
    const child = this.child;
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
      };
      const onMessage = (message: unknown) => {
        cleanup();
        const received = message as GeneratorMessage;
        if (received.type === "failed") reject(new TapwireError(`load generator failed: ${received.message}`, (received.code as ErrorCode | undefined) ?? ErrorCode.Offline));
        else resolve(received);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new TapwireError(`load generator exited (${code}) while waiting for ${what}`, ErrorCode.Offline));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new TapwireError(`load generator sent no ${what} within ${timeoutMs} ms`, ErrorCode.DecisionTimeout));
      }, timeoutMs);
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  }
}
