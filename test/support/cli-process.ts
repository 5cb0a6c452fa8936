import { spawn, type ChildProcess } from "node:child_process";
import { binPath } from "./cli.ts";

// bin/tapwire.mjs runs the CLI in its own process (tsx registered in-process), so a signal reaches the command.

const outputCharsMax = 16_384;

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The `tapwire` CLI as a child process; waits are driven by its output and exit events, each bounded. */
export class CliProcess {
  private out = "";
  /** Characters of stdout ever received; `out` keeps the last outputCharsMax of them. */
  private outTotal = 0;
  private err = "";
  private exit: CliExit | undefined;
  private readonly changed: Array<() => void> = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly args: readonly string[],
  ) {
    child.stdout?.on("data", (chunk: Buffer) =>
      this.update(() => {
        const text = chunk.toString();
        this.outTotal += text.length;
        this.out = keep(this.out + text);
      }),
    );
    child.stderr?.on("data", (chunk: Buffer) => this.update(() => (this.err = keep(this.err + chunk.toString()))));
    child.once("exit", (code, signal) => this.update(() => (this.exit = { code, signal })));
  }

  /** `stdin: true` keeps a pipe to the command's standard input (a hub's console, a simulator's commands). */
  static spawn(args: readonly string[], options: { stdin?: boolean; cwd?: string; env?: Record<string, string> } = {}): CliProcess {
    const child = spawn(process.execPath, [binPath, ...args], {
      stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
    });
    return new CliProcess(child, args);
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** Writes a line to the command's standard input (spawned with `stdin: true`). */
  writeLine(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Where stdout is now: `waitOutput(…, { after: mark })` then sees only what comes after it. */
  get outputMark(): number {
    return this.outTotal;
  }

  /**
   * Resolves with the first match of `pattern` in stdout (printed after `after`, a mark, when given); rejects if the
   * process exits first or after timeoutMs.
   */
  waitOutput(pattern: RegExp, timeoutMs: number, options: { after?: number; stderr?: boolean } = {}): Promise<RegExpMatchArray> {
    return this.until(() => {
      if (options.stderr) return this.err.match(pattern) ?? this.exited(pattern);
      const skipped = options.after === undefined ? 0 : Math.max(0, options.after - (this.outTotal - this.out.length));
      const match = this.out.slice(skipped).match(pattern);
      return match ?? this.exited(pattern);
    }, timeoutMs);
  }

  /** undefined while the process runs (keep waiting); throws once it has exited without printing `pattern`. */
  private exited(pattern: RegExp): undefined {
    if (this.exit) throw new Error(`${this.describe()} exited before printing ${String(pattern)}`);
    return undefined;
  }

  waitExit(timeoutMs: number): Promise<CliExit> {
    return this.until(() => this.exit, timeoutMs);
  }

  /** Kills the process if it is still running (test cleanup). */
  kill(): void {
    if (!this.exit) this.child.kill("SIGKILL");
  }

  describe(): string {
    return `tapwire ${this.args.join(" ")} (stdout: ${this.out.trim()}; stderr: ${this.err.trim().slice(-2_000)})`;
  }

  private update(apply: () => void): void {
    apply();
    for (const wake of this.changed.splice(0)) wake();
  }

  private until<T>(check: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.describe()}: nothing within ${timeoutMs} ms`)), timeoutMs);
      const attempt = () => {
        try {
          const value = check();
          if (value === undefined) {
            this.changed.push(attempt);
            return;
          }
          clearTimeout(timer);
          resolve(value);
        } catch (error) {
          clearTimeout(timer);
          reject(error);
        }
      };
      attempt();
    });
  }
}

function keep(text: string): string {
  return text.length > outputCharsMax ? text.slice(-outputCharsMax) : text;
}
