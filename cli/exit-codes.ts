import { ErrorCode, type TapwireError } from "../protocol/errors.ts";

/**
 * The exit codes of every `tapwire` command, stable for scripts and supervisors (README "Exit codes" shows this
 * table). A failure also prints one line on stderr: `tapwire: E816 DataDirUnusable: data dir /x: does not exist`.
 */
export const exitCodes = {
  /** Done. A long-running command stopped by its first SIGINT/SIGTERM also exits 0 once it has stopped cleanly. */
  ok: 0,
  /** Refused: any TapwireError not listed below (a decline, a case not found, a revoked hub). */
  refused: 1,
  /** Usage: an unknown command or flag, a bad flag value, an invalid config file (E800 ConfigInvalid). */
  usage: 2,
  /** A data directory that is missing, not a directory or not writable (E816 DataDirUnusable). */
  dataDir: 3,
  /** A port already in use (E817 PortInUse, E210 BrokerListenFailed). */
  portInUse: 4,
  /** A bug: not a TapwireError. Its stack trace is printed (EX_SOFTWARE). */
  bug: 70,
  /** Still stopping a grace period after the first SIGINT (130) or SIGTERM (143): stopped forcibly. */
  interrupted: 130,
  terminated: 143,
} as const;

const byCode: ReadonlyMap<number, number> = new Map([
  [ErrorCode.ConfigInvalid, exitCodes.usage],
  [ErrorCode.DataDirUnusable, exitCodes.dataDir],
  [ErrorCode.PortInUse, exitCodes.portInUse],
  [ErrorCode.BrokerListenFailed, exitCodes.portInUse],
]);

export function exitCodeOf(error: TapwireError): number {
  return byCode.get(error.code) ?? exitCodes.refused;
}
