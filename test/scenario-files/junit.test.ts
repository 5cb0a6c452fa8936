import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { simRunCommand } from "../../cli/sim-run.ts";
import { junitXml } from "../../simulator/scenario-files/junit.ts";
import { approvedSale, collect, scenarioDir } from "./fixture.ts";

function attributes(xml: string, element: string): Array<Record<string, string>> {
  return [...xml.matchAll(new RegExp(`<${element}\\s([^>]*?)/?>`, "g"))].map((match) => Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]])));
}

describe("tapwire sim run --junit", () => {
  it("writes one testcase per file: a failure for a broken expectation or a timeout, an error for a bad file", async () => {
    const files = scenarioDir({ "ok.yaml": approvedSale, "bad.yaml": "timeoutMs: 1s\n" });
    const junit = files.path("report.xml");

    await simRunCommand([files.path("ok.yaml"), "scenarios/failing/broken-expectation.yaml", "scenarios/failing/hung.yaml", files.path("bad.yaml"), "--junit", junit], collect().output);

    const xml = readFileSync(junit, "utf8");
    expect(xml.startsWith(`<?xml version="1.0" encoding="UTF-8"?>`)).toBe(true);
    expect(attributes(xml, "testsuite")).toEqual([expect.objectContaining({ tests: "4", failures: "2", errors: "1", skipped: "0" })]);
    expect(attributes(xml, "testcase").map((testcase) => testcase["file"])).toEqual([
      files.path("ok.yaml"),
      "scenarios/failing/broken-expectation.yaml",
      "scenarios/failing/hung.yaml",
      files.path("bad.yaml"),
    ]);
    expect(attributes(xml, "failure").map((failure) => failure["type"])).toEqual(["expectation", "timeout"]);
    expect(attributes(xml, "error").map((error) => error["type"])).toEqual(["invalid"]);
    expect(xml).toContain("tapwire sim run scenarios/failing/broken-expectation.yaml --seed 1");
    files.cleanup();
  });

  it("escapes what XML cannot carry as is", () => {
    const xml = junitXml("suite", [{ name: `a "<b>" & 'c'\u0001`, file: "f.yaml", status: "failed", elapsedMs: 1, message: "<&>", details: "x" }]);

    expect(xml).toContain(`name="a &quot;&lt;b&gt;&quot; &amp; &apos;c&apos;?"`);
    expect(xml).toContain(`message="&lt;&amp;&gt;"`);
  });
});
