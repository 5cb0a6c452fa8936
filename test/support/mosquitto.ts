import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { mosquittoAcl, mosquittoConf } from "../../transport/mosquitto-config.ts";

/**
 * A private Mosquitto for integration tests: its own config, certificates and ACL in a temp directory, a TLS
 * listener on a free loopback port that requires a client certificate and takes its CN as the username, and
 * nothing persisted. (The system's own Mosquitto on 1883 is never touched.)
 */
export const mosquittoPath = process.env["TAPWIRE_MOSQUITTO"] ?? "/usr/sbin/mosquitto";

/**
 * The ACL tapwire generates from its topic map, with one operator (`operators/ops`) watching hub presence and two
 * settlement workers of a shared group (`services/settlement.worker-1`, `.worker-2`) beside the single service.
 */
export const tapwireAcl = mosquittoAcl(["ops"], ["worker-1", "worker-2"]);

export interface MosquittoOptions {
  caPem: string;
  certPem: string;
  keyPem: string;
  acl?: string;
  /** A revocation list (`tapwire pki crl`): Mosquitto's crlfile, so revoked client certificates fail the handshake. */
  crlPem?: string;
  startTimeoutMs?: number;
}

export interface RunningMosquitto {
  host: string;
  port: number;
  url: string;
  logPath: string;
  /** The broker's process id (the bench reads its CPU time from /proc). */
  pid: number;
  log(): Promise<string>;
  stop(): Promise<void>;
}

export async function startMosquitto(options: MosquittoOptions): Promise<RunningMosquitto> {
  const dir = await mkdtemp(join(tmpdir(), "tapwire-mosquitto-"));
  const host = "127.0.0.1";
  const port = await freePort(host);
  const logPath = join(dir, "mosquitto.log");
  await writeFile(join(dir, "ca.pem"), options.caPem);
  await writeFile(join(dir, "server.pem"), options.certPem);
  await writeFile(join(dir, "server.key"), options.keyPem, { mode: 0o600 });
  await writeFile(join(dir, "acl"), options.acl ?? tapwireAcl);
  if (options.crlPem) await writeFile(join(dir, "crl.pem"), options.crlPem);
  const generated = mosquittoConf({
    // Run as root, Mosquitto switches to user "mosquitto", which cannot read this private temp directory.
    user: userInfo().username,
    host,
    port,
    caFile: join(dir, "ca.pem"),
    certFile: join(dir, "server.pem"),
    keyFile: join(dir, "server.key"),
    aclFile: join(dir, "acl"),
    ...(options.crlPem ? { crlFile: join(dir, "crl.pem") } : {}),
  });
  // Logging is the test's own: every connection, to a file the test reads.
  await writeFile(join(dir, "mosquitto.conf"), `${generated}log_dest file ${logPath}\nlog_type all\nconnection_messages true\n`);
  const child = spawn(mosquittoPath, ["-c", join(dir, "mosquitto.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    if (stderr.length < 8_192) stderr += chunk.toString();
  });
  const stop = async () => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForTls(host, port, options, options.startTimeoutMs ?? 10_000, child);
  } catch (error) {
    await stop();
    throw new Error(`mosquitto did not start: ${(error as Error).message}; stderr: ${stderr}`);
  }
  return { host, port, url: `mqtts://${host}:${port}`, logPath, pid: child.pid!, log: () => readFile(logPath, "utf8"), stop };
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * Mosquitto is ready when a TLS server answers on its port: a completed handshake, or a TLS alert refusing
 * this certificate-less probe, both prove it; a refused TCP connection does not.
 */
async function waitForTls(host: string, port: number, tls: MosquittoOptions, timeoutMs: number, child: ChildProcess): Promise<void> {
  const stepMs = 50;
  for (let waitedMs = 0; waitedMs < timeoutMs; waitedMs += stepMs) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    if (await handshakes(host, port, tls)) return;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  throw new Error(`no TLS handshake on ${host}:${port} within ${timeoutMs} ms`);
}

function handshakes(host: string, port: number, tls: MosquittoOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, ca: tls.caPem, servername: "localhost", rejectUnauthorized: true });
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once("secureConnect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: Error & { code?: string }) => resolve(error.code?.startsWith("ERR_SSL_") ?? false));
    socket.once("close", () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const killTimer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  await exited;
  clearTimeout(killTimer);
}
