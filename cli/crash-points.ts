import { crashSteps, type CrashPoint, type CrashStep } from "../device/crash.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";

/**
 * TAPWIRE_CRASH_AT=<step>: the process kills itself with SIGKILL the first time a sale reaches that step, as a
 * power cut would (no cleanup, no flush). For the crash-matrix test; unset in production.
 */
export function crashPointFromEnv(env: NodeJS.ProcessEnv): CrashPoint | undefined {
  const step = env["TAPWIRE_CRASH_AT"];
  if (step === undefined || step === "") return undefined;
  if (!(crashSteps as readonly string[]).includes(step)) {
    throw new TapwireError(`TAPWIRE_CRASH_AT must be one of ${crashSteps.join(", ")}, got ${JSON.stringify(step)}`, ErrorCode.ConfigInvalid);
  }
  return (reached: CrashStep) => {
    if (reached === step) process.kill(process.pid, "SIGKILL");
  };
}
