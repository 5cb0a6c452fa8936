import { describe, expect, it } from "vitest";
import { commands, usages } from "../../cli/commands.ts";
import { exitCodes } from "../../cli/exit-codes.ts";
import { blocksOf, usageBlocks } from "../../cli/help.ts";
import { runCli } from "../support/cli.ts";

const names = Object.keys(commands);
const blocks = usageBlocks(await Promise.all(usages.map((usage) => usage())));

describe("each command's own help", () => {
  it.each(names)("%s: its own usage lines, with an example of itself", (name) => {
    const own = blocksOf(name, blocks, names);

    expect(own.length).toBeGreaterThan(0);
    for (const block of own) {
      const example = block.text.split("\n").find((line) => line.startsWith("  example: "));
      expect(example, block.header).toMatch(new RegExp(`^  example: tapwire ${name.split(" ")[0]} `));
    }
  });

  it("every usage block belongs to a command", () => {
    const owned = new Set(names.flatMap((name) => blocksOf(name, blocks, names)));

    expect(blocks.filter((block) => !owned.has(block))).toEqual([]);
  });

  it("the hub's help is the hub's alone and lists its config keys", () => {
    const hub = blocksOf("hub", blocks, names);

    expect(hub.map((block) => block.header)).toEqual([expect.stringMatching(/^tapwire hub --config /)]);
    for (const key of ["hubId", "merchantId", "broker", "nfc", "panel", "journalFile", "offline", "timings"]) expect(hub[0]!.text).toContain(key);
  });
});

describe("the tapwire binary", () => {
  it.each([["--help"], ["-h"]])("hub enroll %s prints that command's usage only, exit 0", async (flag) => {
    const result = await runCli(["hub", "enroll", flag]);

    expect(result.code).toBe(exitCodes.ok);
    expect(result.stdout).toMatch(/^tapwire hub enroll --hub-id H /);
    expect(result.stdout).not.toContain("tapwire wallet enroll");
    expect(result.stdout).toContain("example: tapwire hub enroll");
  });

  it("--version prints the package's version", async () => {
    const result = await runCli(["--version"]);

    expect(result).toMatchObject({ code: exitCodes.ok, stdout: expect.stringMatching(/^tapwire \d+\.\d+\.\d+\n$/) });
  });

  it("--help lists every command once and says how to get a command's help", async () => {
    const result = await runCli(["--help"]);

    expect(result.code).toBe(exitCodes.ok);
    for (const name of names) expect(result.stdout).toContain(`  ${name.split(" ")[0]}`);
    expect(result.stdout).toContain("tapwire <command> --help");
    expect(result.stdout).toContain("TAPWIRE_LOG");
  });

  it("a group word alone is an unknown command that names the group's commands", async () => {
    const result = await runCli(["review"]);

    expect(result.code).toBe(exitCodes.usage);
    expect(result.stderr).toMatch(/^tapwire: unknown command "review" \(did you mean review list, review show, review approve, review decline\?\)\n$/);
  });
});
