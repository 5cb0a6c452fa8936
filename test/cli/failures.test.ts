import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { exitCodes } from "../../cli/exit-codes.ts";
import { ErrorCode, errorCodeName } from "../../protocol/errors.ts";
import { CliProcess } from "../support/cli-process.ts";
import { runCli, type CliResult } from "../support/cli.ts";

/** Bounds for a child process that loads TypeScript through tsx: generous, as the machine may be busy. */
const readyMsMax = 20_000;
const exitMsMax = 10_000;

let dir: string;
const started: CliProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tapwire-failures-"));
});
afterEach(() => {
  for (const cli of started.splice(0)) cli.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** One line on stderr, `tapwire: E<code> <Name>: …`, no stack trace, and the exit code the table gives. */
function expectOneLineFailure(result: CliResult, code: ErrorCode, exitCode: number): void {
  expect(result.stderr).toMatch(new RegExp(`^tapwire: E${code} ${errorCodeName(code)}: [^\\n]+\\n$`));
  expect(result.code).toBe(exitCode);
}

describe("settle on a data dir it cannot use fails in one line, at once", () => {
  it.each([
    ["under /proc (where Node's recursive mkdir spins forever)", "/proc/tapwire"],
    ["under /sys (not permitted)", "/sys/tapwire"],
    ["an existing directory nothing may be written to", "/proc"],
  ])("%s", async (_, dataDir) => {
    const result = await runCli(["settle", "--data-dir", dataDir, "--port", "0"]);

    expectOneLineFailure(result, ErrorCode.DataDirUnusable, exitCodes.dataDir);
    expect(result.stderr).toContain(dataDir);
  });

  it("a file, and a path under a file", async () => {
    const file = join(dir, "file");
    writeFileSync(file, "");

    const onFile = await runCli(["settle", "--data-dir", file, "--port", "0"]);
    const underFile = await runCli(["settle", "--data-dir", join(file, "data"), "--port", "0"]);

    expectOneLineFailure(onFile, ErrorCode.DataDirUnusable, exitCodes.dataDir);
    expectOneLineFailure(underFile, ErrorCode.DataDirUnusable, exitCodes.dataDir);
    expect(underFile.stderr).toContain(`${file} is not a directory`);
  });
});

describe("read-only commands refuse a missing data dir, naming it, and create nothing", () => {
  it.each([
    ["hub", "list"],
    ["review", "list"],
    ["ledger", "balances"],
    ["offline", "losses"],
  ])("tapwire %s %s", async (...command) => {
    const missing = join(dir, "mistyped");

    const result = await runCli([...command, "--data-dir", missing]);

    expectOneLineFailure(result, ErrorCode.DataDirUnusable, exitCodes.dataDir);
    expect(result.stderr).toContain(missing);
    expect(existsSync(missing)).toBe(false);
  });

  it("an existing directory that holds no ledger is no data dir either", async () => {
    const result = await runCli(["hub", "list", "--data-dir", dir]);

    expectOneLineFailure(result, ErrorCode.DataDirUnusable, exitCodes.dataDir);
    expect(existsSync(join(dir, "pki"))).toBe(false);
  });

  it("an enrol command creates it", async () => {
    const dataDir = join(dir, "new", "data");

    const result = await runCli(["merchant", "add", "--merchant-id", "m1", "--currency", "EUR", "--data-dir", dataDir]);

    expect(result.code).toBe(exitCodes.ok);
    expect(existsSync(join(dataDir, "ledger.sqlite"))).toBe(true);
  });
});

describe("an --out folder that cannot be made fails at once, before anything is enrolled", () => {
  it("hub enroll --out under /proc: E816, and no hub is left enrolled without its keys", async () => {
    const dataDir = join(dir, "data");

    const enrolled = await runCli(["hub", "enroll", "--hub-id", "h1", "--merchant-id", "m1", "--out", "/proc/tapwire/h1", "--data-dir", dataDir]);
    const listed = await runCli(["hub", "list", "--data-dir", dataDir]);

    expectOneLineFailure(enrolled, ErrorCode.DataDirUnusable, exitCodes.dataDir);
    expect(listed).toMatchObject({ code: exitCodes.ok, stdout: "no hubs enrolled\n" });
  });

  it.each([
    ["evidence export", (dataDir: string) => ["evidence", "export", "--out", "/proc/tapwire/evidence.json", "--data-dir", dataDir]],
    ["hub schema", () => ["hub", "schema", "--out", "/proc/tapwire"]],
  ])("%s under /proc: E816", async (_, command: (dataDir: string) => string[]) => {
    const dataDir = join(dir, "data");
    await runCli(["merchant", "add", "--merchant-id", "m1", "--currency", "EUR", "--data-dir", dataDir]);

    const result = await runCli(command(dataDir));

    expectOneLineFailure(result, ErrorCode.DataDirUnusable, exitCodes.dataDir);
  });
});

describe("usage errors", () => {
  it("a missing mandate file names the flag and the path", async () => {
    const result = await runCli(["mandate", "register", "--wallet-id", "w1", "--file", join(dir, "none.cose"), "--data-dir", dir]);

    expectOneLineFailure(result, ErrorCode.ConfigInvalid, exitCodes.usage);
    expect(result.stderr).toContain(join(dir, "none.cose"));
  });

  it("an unknown flag lists the valid ones", async () => {
    const result = await runCli(["hub", "list", "--colour", "red"]);

    expectOneLineFailure(result, ErrorCode.ConfigInvalid, exitCodes.usage);
    expect(result.stderr).toContain("--data-dir");
  });

  it("an unknown command says so in one line", async () => {
    const result = await runCli(["frobnicate"]);

    expect(result).toMatchObject({ code: exitCodes.usage, stdout: "" });
    expect(result.stderr).toMatch(/^tapwire: unknown command "frobnicate" \([^\n]+\)\n$/);
  });
});

describe("a stop signal during a slow start", () => {
  it("settle waiting for an external broker that never answers stops on the first SIGTERM, exiting 0", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket.pause()));
    const port = await new Promise<number>((resolve) => silent.listen(0, "127.0.0.1", () => resolve((silent.address() as { port: number }).port)));
    const cli = CliProcess.spawn(["settle", "--data-dir", join(dir, "data"), "--broker-url", `mqtts://127.0.0.1:${port}`], { env: { TAPWIRE_LOG: "info" } });
    started.push(cli);
    try {
      await cli.waitOutput(/settlement service started/, readyMsMax, { stderr: true });

      cli.signal("SIGTERM");

      expect(await cli.waitExit(exitMsMax)).toEqual({ code: 0, signal: null });
      expect(cli.stdout).not.toContain("ready on");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe("sim serve", () => {
  let holder: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve())));

  it("on a busy port fails in one line", async () => {
    holder = createServer();
    const port = await new Promise<number>((resolve) => holder!.listen(0, "127.0.0.1", () => resolve((holder!.address() as { port: number }).port)));

    const pn532 = await runCli(["sim", "serve", "pn532", "--port", String(port)]);
    const firmata = await runCli(["sim", "serve", "firmata", "--port", String(port)]);

    expectOneLineFailure(pn532, ErrorCode.PortInUse, exitCodes.portInUse);
    expectOneLineFailure(firmata, ErrorCode.PortInUse, exitCodes.portInUse);
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`stops on the first ${signal}, exiting 0`, async () => {
      const cli = CliProcess.spawn(["sim", "serve", "firmata", "--port", "0"], { stdin: true });
      started.push(cli);
      await cli.waitOutput(/virtual Firmata board on tcp:\/\/127\.0\.0\.1:\d+/, readyMsMax);

      cli.signal(signal);

      expect(await cli.waitExit(exitMsMax)).toEqual({ code: 0, signal: null });
    });
  }
});
