import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { edgesWithin, cyclesOf, folderGraph, productionImports, specifiersOf, type SourceImport } from "./import-graph.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const imports = productionImports(repoRoot);

/** Packages that drive hardware: device/ gets drivers passed in and never loads them itself. */
const hardwarePackages = ["serialport", "@serialport/", "@stoprocent/noble", "noble", "johnny-five", "firmata-io"];

const topOf = (path: string) => path.split("/")[0]!;
const describeImport = ({ from, specifier }: SourceImport) => `${from} -> ${specifier}`;

/**
 * Cycles between folders that this file knows of, in folders owned outside broker/: a cycle is tolerated only
 * within one of these (a folder joining one fails like a new cycle). Delete an entry once its cycle is broken.
 */
const knownCycles: ReadonlyArray<{ folders: string[]; why: string }> = [
  { folders: ["core", "protocol"], why: "core/ranges.ts throws protocol's TapwireError while protocol uses core/assert" },
  { folders: ["device", "device/glasses", "device/link", "device/tap"], why: "device/ports.ts and device/crash.ts sit in the folder that also assembles the hubs" },
];

describe("the folder import graph", () => {
  it("reads imports spread over lines, re-exports, side-effect and dynamic imports, not comments", () => {
    const source = [
      'import {\n  a,\n  b,\n} from "./one.ts";',
      'export type { C } from "../two.ts";',
      'import "./three.ts";',
      'const m = await import("./four.ts");',
      '// import { d } from "./commented.ts";',
      '/* import { e } from "./blocked.ts"; */',
    ].join("\n");

    expect(specifiersOf(source).sort()).toEqual(["../two.ts", "./four.ts", "./one.ts", "./three.ts"]);
  });

  it("finds a cycle through three folders and none in a chain", () => {
    const ring = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c"])],
      ["c", new Set(["a"])],
      ["d", new Set(["a"])],
    ]);
    const chain = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c"])],
      ["c", new Set<string>()],
    ]);

    expect(cyclesOf(ring)).toEqual([["a", "b", "c"]]);
    expect(cyclesOf(chain)).toEqual([]);
  });

  it("sees the production tree", () => {
    const edges = new Set(imports.map(({ from, to }) => `${from} -> ${to}`));

    expect(imports.length).toBeGreaterThan(500);
    expect(edges).toContain("broker/settlement-node.ts -> broker/settlement/settlement-service.ts");
  });

  it("has no cycle between folders beyond the known ones outside broker/", () => {
    const cycles = cyclesOf(folderGraph(imports));
    const unknown = cycles.filter((cycle) => !knownCycles.some(({ folders }) => cycle.every((folder) => folders.includes(folder))));
    const report = unknown.map((cycle) => `${cycle.join(" <-> ")}:\n  ${edgesWithin(imports, cycle).join("\n  ")}`);

    expect(report).toEqual([]);
  });

  it("has no two files in broker/ importing each other, directly or round a loop", () => {
    const files = new Map<string, Set<string>>();
    for (const { from, to } of imports) {
      if (to === undefined || topOf(from) !== "broker" || topOf(to) !== "broker") continue;
      if (!files.has(from)) files.set(from, new Set());
      if (!files.has(to)) files.set(to, new Set());
      files.get(from)!.add(to);
    }

    expect(cyclesOf(files)).toEqual([]);
  });

  it("keeps device/ off the bridge, the simulator, the broker and hardware packages", () => {
    const offending = imports.filter(({ from, to, specifier }) => {
      if (topOf(from) !== "device") return false;
      if (to !== undefined) return ["firmware-bridge", "simulator", "broker"].includes(topOf(to));
      return hardwarePackages.some((name) => specifier === name || (name.endsWith("/") ? specifier.startsWith(name) : specifier.startsWith(`${name}/`)));
    });

    expect(offending.map(describeImport)).toEqual([]);
  });

  it("keeps the simulator and the CLI out of production code", () => {
    const production = ["core", "protocol", "transport", "broker", "device", "firmware-bridge", "sdk", "console"];
    const offending = imports.filter(({ from, to }) => production.includes(topOf(from)) && to !== undefined && ["simulator", "cli"].includes(topOf(to)));

    expect(offending.map(describeImport)).toEqual([]);
  });

  it("keeps the console a reader of the settlement side: no hub runtime, no drivers", () => {
    const offending = imports.filter(({ from, to }) => topOf(from) === "console" && to !== undefined && ["device", "firmware-bridge"].includes(topOf(to)));

    expect(imports.some(({ from }) => topOf(from) === "console")).toBe(true);
    expect(offending.map(describeImport)).toEqual([]);
  });

  it("lets protocol/ import only core/ and itself", () => {
    const offending = imports.filter(({ from, to }) => topOf(from) === "protocol" && to !== undefined && !["core", "protocol"].includes(topOf(to)));

    expect(offending.map(describeImport)).toEqual([]);
  });
});
