import { readFileSync } from "node:fs";
import { isTapwireError } from "../protocol/errors.ts";
import { exitCodeOf, exitCodes } from "./exit-codes.ts";
import { commands, usages } from "./commands.ts";
import { blocksOf, overview, usageBlocks } from "./help.ts";
import { installStopSignals } from "./signals.ts";

/** Bounds how long a command may take to stop after the first SIGINT/SIGTERM before it is ended forcibly. */
const stopGraceMs = 10_000;

function readVersion(): string {
  // ../package.json from the sources, ../../package.json from the compiled dist/cli/main.js.
  for (const path of ["../package.json", "../../package.json"]) {
    try {
      const found = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (found.name === "tapwire" && found.version) return found.version;
    } catch {
      // Not there in this layout: try the other.
    }
  }
  throw new Error("tapwire's package.json not found beside the CLI");
}

async function printHelp(command: string | undefined): Promise<void> {
  const blocks = usageBlocks(await Promise.all(usages.map((usage) => usage())));
  const text = command === undefined ? overview(blocks, readVersion()) : blocksOf(command, blocks, Object.keys(commands)).map((b) => b.text).join("\n");
  process.stdout.write(`${text}\n`);
}

const helpFlags = ["--help", "-h"];

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === "--version") {
    process.stdout.write(`tapwire ${readVersion()}\n`);
    return exitCodes.ok;
  }
  if (first === undefined || helpFlags.includes(first) || first === "help") {
    await printHelp(undefined);
    return first === undefined ? exitCodes.usage : exitCodes.ok;
  }
  const two = argv.slice(0, 2).join(" ");
  const [name, rest] = commands[two] ? [two, argv.slice(2)] : [first, argv.slice(1)];
  const load = commands[name];
  if (!load) {
    const typed = argv.slice(0, 2).filter((word) => !word.startsWith("-")).join(" ");
    const near = Object.keys(commands).filter((command) => command.startsWith(`${first} `));
    const hint = near.length > 0 ? `did you mean ${near.join(", ")}?` : "tapwire --help lists the commands";
    process.stderr.write(`tapwire: unknown command "${typed}" (${hint})\n`);
    return exitCodes.usage;
  }
  if (rest.some((arg) => helpFlags.includes(arg))) {
    await printHelp(name);
    return exitCodes.ok;
  }
  const command = await load();
  return command(rest);
}

installStopSignals({
  graceMs: stopGraceMs,
  exit: (signal) => {
    process.stderr.write(`tapwire: stopped by ${signal}\n`);
    process.exit(signal === "SIGINT" ? exitCodes.interrupted : exitCodes.terminated);
  },
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (!isTapwireError(error)) {
      process.stderr.write(`tapwire: bug: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(exitCodes.bug);
    }
    process.stderr.write(`tapwire: ${error.toString()}\n`);
    process.exit(exitCodeOf(error));
  },
);
