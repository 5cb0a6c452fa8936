import { runDemo } from "../simulator/demo/run-demo.ts";
import { integerFlag, parseFlags } from "./args.ts";

export const demoUsage = `tapwire demo [--port 0] [--keep]
  What \`npm start\` runs: a settlement node and simulated hubs doing real payments end to end, narrated.`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { port: { type: "string" }, keep: { type: "boolean", default: false } });
  return runDemo({
    port: integerFlag(values.port, "port", 0, 65_535, 0),
    keepDataDir: values.keep,
    write: (line) => process.stdout.write(`${line}\n`),
  });
}
