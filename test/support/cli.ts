import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { vi } from "vitest";
import { isTapwireError } from "../../protocol/errors.ts";

/**
 * Running the `tapwire` CLI in tests, two ways: a command's function in-process (codeOf, captureStdout), or the real
 * binary as a child process (runCli here; CliProcess in cli-process.ts for long-running commands).
 */
export const binPath = join(dirname(dirname(dirname(fileURLToPath(import.meta.url)))), "bin", "tapwire.mjs");

/** Generous: the binary loads TypeScript through tsx, and the machine may be busy. */
export const binTimeoutMs = 20_000;

/** The TapwireError code `work` fails with, or 0 when it succeeds; anything else (a bug) is rethrown. */
export async function codeOf(work: () => Promise<unknown>): Promise<number> {
  try {
    await work();
  } catch (error) {
    if (isTapwireError(error)) return error.code;
    throw error;
  }
  return 0;
}

/** Records what a command writes to stdout instead of printing it; undone by vi.restoreAllMocks(). */
export function captureStdout(): string[] {
  const printed: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    printed.push(String(chunk));
    return true;
  });
  return printed;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tapwire ARGS` to its end and reports its exit code and output (a failing exit is a result, not a throw). */
export function runCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [binPath, ...args],
      { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? binTimeoutMs },
      (error, stdout, stderr) => {
        const code = error ? (error as { code?: unknown }).code : 0;
        if (typeof code !== "number") reject(new Error(`tapwire ${args.join(" ")} did not exit by itself (${String(error)}); stderr: ${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}
