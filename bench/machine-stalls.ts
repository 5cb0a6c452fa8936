import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";

/** How late a process that only sleeps 1 ms at a time woke during the load (machine-stalls-sleeper.mjs). */
export interface MachineStalls {
  sleeps: number;
  lateP99Ms: number;
  lateMaxMs: number;
  /** Sleeps that ended more than 5 ms late. */
  lateOver5Ms: number;
}

/** The sleeper answers within one of its 50 ms spells (or its start-up); this is only against a child that died. */
const answerMsMax = 10_000;

/**
 * The machine's own stalls while the bench runs, measured beside the load by a forked process that does nothing but
 * sleep 1 ms at a time (as jHiccup does for a JVM's host). A latency tail that coincides with its late wake-ups is the
 * machine's: both cores taken or the VM held by its host, when every thread of the node and generator waits too.
 */
export class MachineStallMeter {
  private constructor(private readonly child: ChildProcess) {}

  static fork(): MachineStallMeter {
    // No tsx loader: the sleeper is plain JavaScript, and a loader's threads would only add noise beside the load.
    return new MachineStallMeter(fork(new URL("./machine-stalls-sleeper.mjs", import.meta.url), [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  }

  /** The sleeper's process id (a test stops it to make a stall). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once the sleeper measures. */
  async start(): Promise<void> {
    this.child.send("start");
    await this.answer();
  }

  async stop(): Promise<MachineStalls> {
    this.child.send("stop");
    return (await this.answer()) as MachineStalls;
  }

  kill(): void {
    this.child.kill();
  }

  private async answer(): Promise<unknown> {
    try {
      const [message] = await once(this.child, "message", { signal: AbortSignal.timeout(answerMsMax) });
      return message;
    } catch {
      throw new TapwireError(`the machine-stall meter did not answer within ${answerMsMax} ms`, ErrorCode.DecisionTimeout);
    }
  }
}
