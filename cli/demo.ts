import { keepSelling } from "../simulator/demo/keep-selling.ts";
import { runDemo, type DemoWorld } from "../simulator/demo/run-demo.ts";
import { integerFlag, parseFlags } from "./args.ts";
import { stopSignal } from "./signals.ts";

export const demoUsage = `tapwire demo [--port 0] [--keep] [--dashboard PORT]
  What \`npm start\` runs: a settlement node and simulated hubs doing real payments end to end, narrated.
  --dashboard serves the live dashboard on 127.0.0.1:PORT (0 = a free one); after the scenes both hubs stay online
  and the tap hub goes on selling slowly until Ctrl-C. --keep keeps the data and prints its data dir.
  example: tapwire demo --keep`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    port: { type: "string" },
    keep: { type: "boolean", default: false },
    dashboard: { type: "string" },
  });
  return runDemo({
    port: integerFlag(values.port, "port", 0, 65_535, 0),
    keepDataDir: values.keep,
    write: (line) => process.stdout.write(`${line}\n`),
    ...(values.dashboard === undefined ? {} : { dashboardPort: integerFlag(values.dashboard, "dashboard", 0, 65_535), holdOpen: sellUntilStopped }),
  });
}

/** `--dashboard`: the hubs stay online and go on selling until the first Ctrl-C or SIGTERM. */
async function sellUntilStopped(world: DemoWorld): Promise<number> {
  const stopping = stopSignal();
  try {
    return await keepSelling(world, stopping.signal);
  } finally {
    stopping.dispose();
  }
}
