// A hub-against-simulator payment from a production tree (dist/, no dev dependencies), and the hub's resident memory
// and time to ready measured from dist and from the sources (tsx, in the development checkout).
// usage: node .ci/production-payment.mjs PRODUCTION_TREE DEVELOPMENT_TREE
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [productionTree, developmentTree] = process.argv.slice(2);
if (!productionTree || !developmentTree) throw new Error("usage: production-payment.mjs PRODUCTION_TREE DEVELOPMENT_TREE");
const waitMs = 30_000;
/** The flags deploy/pi's units give node. */
const unitFlags = ["--max-semi-space-size=1", "--no-opt"];
const work = mkdtempSync(join(tmpdir(), "tapwire-production-"));
const running = new Set();

/** A `tapwire` process from `tree`, its output kept (bounded) and waited on by pattern. */
function tapwire(tree, args, nodeFlags = []) {
  const child = spawn(process.execPath, [...nodeFlags, join(tree, "bin", "tapwire.mjs"), ...args], { cwd: work, stdio: ["pipe", "pipe", "pipe"] });
  const proc = { child, out: "", err: "", startedAt: performance.now(), exit: undefined, listeners: new Set() };
  const changed = () => proc.listeners.forEach((listener) => listener());
  child.stdout.on("data", (chunk) => { proc.out = (proc.out + chunk).slice(-65_536); changed(); });
  child.stderr.on("data", (chunk) => { proc.err = (proc.err + chunk).slice(-65_536); });
  child.once("exit", (code, signal) => { proc.exit = { code, signal }; running.delete(proc); changed(); });
  running.add(proc);
  return proc;
}

function until(proc, check, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`nothing within ${waitMs} ms`), waitMs);
    const fail = (why) => {
      proc.listeners.delete(attempt);
      clearTimeout(timer);
      reject(new Error(`${what}: ${why}\nstdout: ${proc.out}\nstderr: ${proc.err.slice(-4_000)}`));
    };
    const attempt = () => {
      const value = check();
      if (value !== undefined) {
        proc.listeners.delete(attempt);
        clearTimeout(timer);
        resolve(value);
      } else if (proc.exit) fail(`exited ${JSON.stringify(proc.exit)}`);
    };
    proc.listeners.add(attempt);
    attempt();
  });
}

const output = (proc, pattern) => until(proc, () => proc.out.match(pattern) ?? undefined, `${pattern}`);
const exited = (proc) => until(proc, () => proc.exit, "exit");

async function run(tree, args) {
  const proc = tapwire(tree, args);
  const { code } = await exited(proc);
  if (code !== 0) throw new Error(`tapwire ${args.join(" ")} exited ${code}: ${proc.err}`);
  return proc.out;
}

function memoryMb(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))[1]) / 1024;
}

/** One hub: spawn → "hub ready" (time to ready), a reader sale approved, its memory, then `quit`. */
async function hubPayment(label, tree, hubId, urls, nodeFlags) {
  const config = join(work, `${hubId}.json`);
  await run(productionTree, ["hub", "init", "--bundle", join(work, hubId), "--merchant-id", "m1", "--broker-url", urls.broker, "--out", config,
    "--nfc-path", urls.nfc, "--panel-path", urls.panel, "--journal-file", join(work, `${hubId}-journal.sqlite`)]);
  const hub = tapwire(tree, ["hub", "--config", config], nodeFlags);
  await output(hub, /hub ready/);
  const readyMs = performance.now() - hub.startedAt;
  await output(hub, /hub ready, online: idle/);
  hub.child.stdin.write("12.50 EUR reader\n");
  await output(hub, /approved 12\.50 EUR \(reader\)/);
  const rssMb = memoryMb(hub.child.pid, "VmRSS");
  const peakMb = memoryMb(hub.child.pid, "VmHWM");
  hub.child.stdin.write("quit\n");
  const { code } = await exited(hub);
  if (code !== 0) throw new Error(`${label}: hub exited ${code}: ${hub.err}`);
  return { label, readyMs, rssMb, peakMb };
}

async function stopAll() {
  for (const proc of running) proc.child.kill("SIGTERM");
  await Promise.all([...running].map((proc) => exited(proc).catch(() => proc.child.kill("SIGKILL"))));
}

const hubs = [
  ["dist (production tree)", productionTree, "h1", []],
  [`dist, unit flags ${unitFlags.join(" ")}`, productionTree, "h2", unitFlags],
  ["sources (tsx, development checkout)", developmentTree, "h3", []],
];

try {
  const data = ["--data-dir", join(work, "data")];
  await run(productionTree, ["merchant", "add", ...data, "--merchant-id", "m1", "--currency", "EUR"]);
  for (const [, , hubId] of hubs) await run(productionTree, ["hub", "enroll", ...data, "--hub-id", hubId, "--merchant-id", "m1", "--out", join(work, hubId)]);
  await run(productionTree, ["wallet", "enroll", ...data, "--wallet-id", "w1", "--currency", "EUR", "--per-payment-max-minor", "5000", "--fund-minor", "10000", "--out", join(work, "wallet")]);
  const settle = tapwire(productionTree, ["settle", ...data, "--port", "0"]);
  const pn532 = tapwire(productionTree, ["sim", "serve", "pn532", "--port", "0", "--phone", "hce", "--wallet-dir", join(work, "wallet"), "--wallet-id", "w1"]);
  const firmata = tapwire(productionTree, ["sim", "serve", "firmata", "--port", "0"]);
  const urls = {
    broker: (await output(settle, /settlement ready on (mqtts:\/\/[\d.]+:\d+)/))[1],
    nfc: (await output(pn532, /virtual PN532 on (tcp:\/\/[\d.]+:\d+)/))[1],
    panel: (await output(firmata, /virtual Firmata board on (tcp:\/\/[\d.]+:\d+)/))[1],
  };
  const results = [];
  for (const [label, tree, hubId, flags] of hubs) results.push(await hubPayment(label, tree, hubId, urls, flags));
  console.log("approved 12.50 EUR (reader) through each hub; tapwire hub, spawn to \"hub ready\" and memory after the sale:");
  for (const { label, readyMs, rssMb, peakMb } of results) {
    console.log(`  ${label.padEnd(52)} ready in ${(readyMs / 1000).toFixed(2)} s, VmRSS ${rssMb.toFixed(1)} MB (peak ${peakMb.toFixed(1)} MB)`);
  }
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}
