import { spawn, type ChildProcess } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { certifyPrincipal, loadOrCreateOperatorPki } from "../../broker/operator-pki.ts";
import { systemClock, systemRandom } from "../../core/sources.ts";
import { generateP256, privateKeyPem, publicKeyPem } from "../../protocol/keys.ts";

export const repoRoot = join(import.meta.dirname, "..", "..");

/**
 * Writes an enrolment bundle as `tapwire hub enroll --out DIR` does (ca.pem, cert.pem, key.pem, service.pub.pem),
 * from an operator PKI in `dataDir`, without starting a settlement node.
 */
export async function writeHubBundle(dataDir: string, hubId: string, outDir: string): Promise<void> {
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  const keys = generateP256();
  const { certPem } = await certifyPrincipal(pki, { kind: "hub", id: hubId }, keys.publicKey, systemClock, systemRandom);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "ca.pem"), pki.ca.certPem);
  writeFileSync(join(outDir, "cert.pem"), certPem);
  writeFileSync(join(outDir, "key.pem"), privateKeyPem(keys.privateKey));
  writeFileSync(join(outDir, "service.pub.pem"), publicKeyPem(createPublicKey(pki.serviceSigningKey)));
}

export interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (bounded by timeoutMs), collecting its output. */
export function runProgram(command: string, args: readonly string[], timeoutMs: number): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")}: no end within ${timeoutMs} ms (${stdout} ${stderr})`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A child process's stdout as lines, waited on by pattern; every wait bounded. */
export class LineWatcher {
  readonly lines: string[] = [];
  private partial = "";
  private exitCode: number | null | undefined;
  private readonly changed = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    child.stdout!.on("data", (chunk: Buffer) => {
      const parts = (this.partial + chunk.toString()).split("\n");
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.wake();
    });
    child.once("exit", (code) => {
      this.exitCode = code;
      this.wake();
    });
  }

  /** Resolves with the index of the first line from `from` on that matches; rejects after timeoutMs or at exit. */
  waitLine(pattern: RegExp, timeoutMs: number, from = 0): Promise<number> {
    return this.until(() => {
      const index = this.lines.findIndex((line, at) => at >= from && pattern.test(line));
      return index >= 0 ? index : undefined;
    }, timeoutMs, `a line matching ${pattern}`);
  }

  waitExit(timeoutMs: number): Promise<number | null> {
    return this.until(() => this.exitCode, timeoutMs, "exit");
  }

  private until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value !== undefined) {
          this.changed.delete(attempt);
          clearTimeout(timer);
          resolve(value);
        } else if (this.exitCode !== undefined && what !== "exit") {
          this.changed.delete(attempt);
          clearTimeout(timer);
          reject(new Error(`exited (${this.exitCode}) before ${what}; lines: ${this.lines.join(" / ")}`));
        }
      };
      const timer = setTimeout(() => {
        this.changed.delete(attempt);
        reject(new Error(`no ${what} within ${timeoutMs} ms; lines: ${this.lines.join(" / ")}`));
      }, timeoutMs);
      this.changed.add(attempt);
      attempt();
    });
  }

  private wake(): void {
    for (const attempt of [...this.changed]) attempt();
  }
}
