import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { connect as netConnect, createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The `tapwire` CLI as a child process, for tests that need a real process boundary (SIGKILL). bin/tapwire.mjs
 * runs the CLI under tsx, which is three processes (wrapper, tsx, node); each child gets its own process group
 * so a signal reaches all three — killing the wrapper's pid alone would leave the server running.
 */
export const binPath = join(dirname(dirname(dirname(fileURLToPath(import.meta.url)))), "bin", "tapwire.mjs");

const outputCharsMax = 16_384;
const pollMs = 25;

export class CliProcess {
  private out = "";
  private err = "";
  private exitCode: number | null | undefined;
  private exitSignalName: NodeJS.Signals | null = null;
  private readonly exitWaiters: Array<() => void> = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly args: readonly string[],
  ) {
    child.stdout?.on("data", (chunk: Buffer) => (this.out = keep(this.out + chunk.toString())));
    child.stderr?.on("data", (chunk: Buffer) => (this.err = keep(this.err + chunk.toString())));
    child.once("exit", (code, signal) => {
      this.exitCode = code;
      this.exitSignalName = signal;
      for (const wake of this.exitWaiters.splice(0)) wake();
    });
  }

  /** `stdin: true` keeps a pipe to the command's standard input (a hub's console); `env` adds variables. */
  static spawn(args: readonly string[], options: { stdin?: boolean; env?: Record<string, string> } = {}): CliProcess {
    const child = spawn(process.execPath, [binPath, ...args], {
      detached: true,
      stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    return new CliProcess(child, args);
  }

  /** Writes to the command's standard input (spawned with `stdin: true`). */
  write(text: string): void {
    this.child.stdin?.write(text);
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** The process group the command runs in (the wrapper's pid): tsx and the node process doing the work are in it. */
  get processGroupId(): number | undefined {
    return this.child.pid;
  }

  /** The signal that ended the process, if one did. */
  get exitSignal(): NodeJS.Signals | null {
    return this.exitSignalName;
  }

  /** The wrapper's exit code once it exited (null when a signal ended it). */
  get exited(): boolean {
    return this.exitCode !== undefined;
  }

  /**
   * Signals the whole process group; false when nothing is left in it. Once the wrapper is gone the group id
   * could be reused, so after that only a group that still has live members of ours is signalled.
   */
  signal(signal: NodeJS.Signals): boolean {
    const pgid = this.child.pid;
    if (pgid === undefined || (this.exited && !groupAlive(pgid))) return false;
    try {
      process.kill(-pgid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves with the wrapper's exit code; rejects after timeoutMs. */
  waitExit(timeoutMs: number): Promise<number | null> {
    if (this.exitCode !== undefined) return Promise.resolve(this.exitCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.describe()} did not exit within ${timeoutMs} ms`)), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.exitCode ?? null);
      });
    });
  }

  /** Waits for stdout to contain `text` (or match it); fails early if the process exits first. */
  async waitOutput(text: string | RegExp, timeoutMs: number): Promise<void> {
    for (let waitedMs = 0; waitedMs < timeoutMs; waitedMs += pollMs) {
      if (typeof text === "string" ? this.out.includes(text) : text.test(this.out)) return;
      if (this.exited) throw new Error(`${this.describe()} exited before printing ${String(text)}`);
      await sleep(pollMs);
    }
    throw new Error(`${this.describe()} did not print ${String(text)} within ${timeoutMs} ms`);
  }

  /**
   * The largest peak resident set (VmHWM, kB) among the live processes of this command's group: the node process
   * that does the work, not the tsx wrapper around it. Linux /proc only.
   */
  peakRssKb(): number {
    const pgid = this.child.pid;
    let peakKb = 0;
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        // Field 5 of /proc/PID/stat is the process group; the command name (field 2) may hold spaces, so count from ")".
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) !== pgid) continue;
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${entry}/status`, "utf8"));
        if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
      } catch {
        // The process ended between the listing and the read.
      }
    }
    return peakKb;
  }

  describe(): string {
    return `tapwire ${this.args.join(" ")} (stdout: ${this.out.trim()}; stderr: ${this.err.trim().slice(-2_000)})`;
  }
}

/** Runs one CLI command to completion; rejects on a non-zero exit or after timeoutMs (killing it). */
export async function runCli(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const cli = CliProcess.spawn(args);
  let code: number | null;
  try {
    code = await cli.waitExit(timeoutMs);
  } catch (error) {
    cli.signal("SIGKILL");
    throw error;
  }
  if (code !== 0) throw new Error(`${cli.describe()} exited with ${code}`);
  return cli.stdout;
}

/** Whether a process that is not a zombie still belongs to the group (Linux /proc). */
export function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so split after its last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] !== "Z" && Number(fields[2]) === pgid) return true;
  }
  return false;
}

export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Resolves once nothing accepts TCP connections on the port any more: the listener's process is gone. */
export async function waitPortClosed(port: number, timeoutMs: number, host = "127.0.0.1"): Promise<void> {
  for (let waitedMs = 0; waitedMs < timeoutMs; waitedMs += pollMs) {
    if (!(await accepts(host, port))) return;
    await sleep(pollMs);
  }
  throw new Error(`port ${port} still accepts connections after ${timeoutMs} ms`);
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("close", () => resolve(false));
  });
}

function keep(text: string): string {
  return text.length > outputCharsMax ? text.slice(-outputCharsMax) : text;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
