import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { assert } from "../core/assert.ts";

/**
 * CPU time and peak memory of other processes (settlement workers, Mosquitto, PostgreSQL backends), read from Linux
 * /proc: a process's own figures cover only itself. utime and stime in /proc/PID/stat count every thread of the
 * process, in clock ticks.
 */
export interface ProcessesCpu {
  /** Processes measured (those alive at the start; one that ended before the stop counts nothing). */
  processes: number;
  userMs: number;
  systemMs: number;
}

let clockTicksPerSecondCached: number | undefined;

function clockTicksPerSecond(): number {
  clockTicksPerSecondCached ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  assert(Number.isSafeInteger(clockTicksPerSecondCached) && clockTicksPerSecondCached > 0, "getconf CLK_TCK gives the /proc tick rate");
  return clockTicksPerSecondCached;
}

/** The fields of /proc/PID/stat after the command name (which may hold spaces): [0] is state, [2] pgrp, [11] utime, [12] stime. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Live (not zombie) members of a process group: a worker started detached is its own group (wrapper, tsx, node). */
export function pidsOfGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields !== undefined && fields[0] !== "Z" && Number(fields[2]) === pgid) pids.push(Number(entry));
  }
  return pids;
}

function ticksOf(pid: number): { user: number; system: number } | undefined {
  const fields = statFields(pid);
  return fields === undefined ? undefined : { user: Number(fields[11]), system: Number(fields[12]) };
}

/** CPU spent by a fixed set of processes from construction to `stop()`. */
export class ProcessesCpuMeter {
  private readonly start = new Map<number, { user: number; system: number }>();

  constructor(pids: readonly number[]) {
    for (const pid of pids) {
      const ticks = ticksOf(pid);
      if (ticks !== undefined) this.start.set(pid, ticks);
    }
  }

  stop(): ProcessesCpu {
    let userTicks = 0;
    let systemTicks = 0;
    for (const [pid, before] of this.start) {
      const after = ticksOf(pid);
      if (after === undefined) continue;
      userTicks += after.user - before.user;
      systemTicks += after.system - before.system;
    }
    const msPerTick = 1000 / clockTicksPerSecond();
    return { processes: this.start.size, userMs: userTicks * msPerTick, systemMs: systemTicks * msPerTick };
  }
}

/** The largest peak resident set (VmHWM) among the processes, in MB; 0 when none can be read. */
export function peakRssMbOf(pids: readonly number[]): number {
  let peakKb = 0;
  for (const pid of pids) {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return peakKb / 1024;
}
