import { Session } from "node:inspector/promises";
import type { Profiler } from "node:inspector";

/**
 * The V8 sampling profiler on this process (node:inspector, no flags needed), summarised two ways: self time
 * per function, and per area (crypto, SQLite, MQTT, TLS, CBOR, …). A native call has no script URL, so its
 * samples go to the area of the nearest caller that has one: `verify` called from node:internal/crypto is
 * crypto, `run` called from better-sqlite3 code is SQLite.
 */
export interface ProfileEntry {
  name: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  sampledMs: number;
  byArea: ProfileEntry[];
  topFunctions: ProfileEntry[];
}

const samplingIntervalUs = 250;
const topFunctionsMax = 15;

export class CpuProfile {
  private session: Session | undefined;

  async start(): Promise<void> {
    const session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
    await session.post("Profiler.start");
    this.session = session;
  }

  async stop(): Promise<ProfileSummary> {
    const session = this.session;
    if (session === undefined) throw new Error("profile not started");
    this.session = undefined;
    const { profile } = await session.post("Profiler.stop");
    await session.post("Profiler.disable");
    session.disconnect();
    return summarizeProfile(profile);
  }
}

/** Ordered: the first rule whose pattern is in the URL names the area. */
const areaRules: ReadonlyArray<readonly [string, string]> = [
  ["better-sqlite3", "SQLite (better-sqlite3)"],
  ["/broker/ledger/", "ledger + settlement code"],
  ["/broker/settlement/", "ledger + settlement code"],
  ["/broker/registry/", "ledger + settlement code"],
  ["node_modules/aedes", "MQTT broker (aedes)"],
  ["node_modules/mqtt-packet", "MQTT packets"],
  ["node_modules/mqtt/", "MQTT client (mqtt.js)"],
  ["/broker/mqtt/", "MQTT links (tapwire)"],
  ["/firmware-bridge/mqtt/", "MQTT links (tapwire)"],
  ["node_modules/cbor-x", "CBOR"],
  ["node_modules/zod", "schema checks (zod)"],
  ["node_modules/pino", "logging"],
  ["node:internal/crypto", "ECDSA + SHA-256 (node:crypto)"],
  ["node:crypto", "ECDSA + SHA-256 (node:crypto)"],
  ["/protocol/cose", "COSE framing"],
  ["/protocol/", "protocol code"],
  ["node:_tls", "TLS + sockets"],
  ["node:tls", "TLS + sockets"],
  ["node:internal/tls", "TLS + sockets"],
  ["node:net", "TLS + sockets"],
  ["node:internal/stream_base", "TLS + sockets"],
  ["node:internal/streams", "streams"],
  ["node:stream", "streams"],
  ["/bench/", "load generator (bench)"],
];

const specialAreas: Record<string, string> = {
  "(garbage collector)": "garbage collection",
  "(idle)": "idle",
  "(program)": "V8/native outside JS",
  "(root)": "V8/native outside JS",
};

function areaOf(node: Profiler.ProfileNode): string | undefined {
  const special = specialAreas[node.callFrame.functionName];
  if (special !== undefined && node.callFrame.url === "") return special;
  const url = node.callFrame.url;
  if (url === "") return undefined;
  for (const [pattern, area] of areaRules) if (url.includes(pattern)) return area;
  return url.startsWith("node:") ? "node internals (other)" : "other JS";
}

function entries(map: Map<string, number>, totalMs: number, max: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, max)
    .map(([name, selfMs]) => ({ name, selfMs: Math.round(selfMs), share: totalMs > 0 ? selfMs / totalMs : 0 }));
}

export function summarizeProfile(profile: Profiler.Profile): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const areaCache = new Map<number, string>();
  const resolveArea = (id: number): string => {
    const chain: number[] = [];
    let current: number | undefined = id;
    let area: string | undefined;
    // Bounded by the tree depth: each step moves to a parent, and the root has none.
    while (current !== undefined && area === undefined) {
      const cached = areaCache.get(current);
      if (cached !== undefined) {
        area = cached;
        break;
      }
      chain.push(current);
      area = areaOf(byId.get(current)!);
      current = parentOf.get(current);
    }
    const resolved = area ?? "V8/native outside JS";
    for (const visited of chain) areaCache.set(visited, resolved);
    return resolved;
  };

  const selfUsById = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let index = 0; index < samples.length; index += 1) {
    // timeDeltas[i] is the gap before sample i, so sample i lasted until sample i+1 began.
    const durationUs = deltas[index + 1] ?? samplingIntervalUs;
    selfUsById.set(samples[index]!, (selfUsById.get(samples[index]!) ?? 0) + durationUs);
  }
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalMs = 0;
  for (const [id, selfUs] of selfUsById) {
    const node = byId.get(id)!;
    const selfMs = selfUs / 1000;
    totalMs += selfMs;
    const area = resolveArea(id);
    byArea.set(area, (byArea.get(area) ?? 0) + selfMs);
    const frame = node.callFrame;
    const where = frame.url === "" ? "native" : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    const name = `${frame.functionName || "(anonymous)"} ${where}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + selfMs);
  }
  return { sampledMs: Math.round(totalMs), byArea: entries(byArea, totalMs, byArea.size), topFunctions: entries(byFunction, totalMs, topFunctionsMax) };
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf("node_modules/");
  if (modules >= 0) return url.slice(modules + "node_modules/".length);
  const repo = url.search(/\/(broker|protocol|firmware-bridge|bench)\//);
  return repo >= 0 ? url.slice(repo + 1) : url;
}
