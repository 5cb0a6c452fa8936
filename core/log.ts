import { pino, type Logger } from "pino";

/**
 * One root logger; each file takes a child under its namespace (`tapwire:nfc`). Level from TAPWIRE_LOG
 * (default "warn" so tests and the demo stay readable; "debug" shows frames and messages). Logs go to stderr:
 * stdout belongs to the CLI's own output.
 */
const root: Logger = pino(
  { name: "tapwire", level: process.env["TAPWIRE_LOG"] ?? "warn" },
  pino.destination(2),
);

export type { Logger };

export function logger(namespace: string): Logger {
  return root.child({ ns: namespace });
}
