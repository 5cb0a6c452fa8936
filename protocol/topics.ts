import { ErrorCode, TapwireError } from "./errors.ts";
import { isId } from "./ids.ts";

/**
 * The one topic map (`tapwire/v1/...`). Every principal (hub, wallet, agent, provider) owns `req` (it publishes, the
 * service subscribes) and `res` (the service publishes, it subscribes); hubs also own a retained `state`
 * topic that is their Last Will. A principal's identity comes from its client certificate, whose CN is
 * its topic segment (`hubs/h1`): Mosquitto's `use_identity_as_username` then makes `%u` in an ACL pattern
 * (`pattern write tapwire/v1/%u/req`) exactly the client's own topics, and aedes checks the same rule.
 */
export const topicRoot = "tapwire/v1";

export const principalKinds = ["hub", "wallet", "agent", "service", "operator", "merchant", "provider"] as const;
export type PrincipalKind = (typeof principalKinds)[number];
export type ClientKind = "hub" | "wallet" | "agent";

export interface Principal {
  kind: PrincipalKind;
  id: string;
}

const plural: Record<PrincipalKind, string> = {
  hub: "hubs",
  wallet: "wallets",
  agent: "agents",
  service: "services",
  operator: "operators",
  merchant: "merchants",
  provider: "providers",
};
const singular = new Map<string, PrincipalKind>(Object.entries(plural).map(([kind, p]) => [p, kind as PrincipalKind]));
const clientKinds: readonly PrincipalKind[] = ["hub", "wallet", "agent"];

export type Channel = "req" | "res" | "state";

export function topicFor(kind: ClientKind, id: string, channel: Channel): string {
  if (!isId(id)) throw new TapwireError(`id ${JSON.stringify(id)} cannot appear in a topic`, ErrorCode.SchemaInvalid);
  return `${topicRoot}/${plural[kind]}/${id}/${channel}`;
}

/** What the settlement service subscribes to: every client's requests. */
export const serviceRequestFilters: readonly string[] = clientKinds.map((kind) => `${topicRoot}/${plural[kind]}/+/req`);

/**
 * A merchant's event feed (`tapwire/v1/merchants/m1/events` and `…/ack`): the service publishes the merchant's
 * signed events on `events`; the merchant publishes where it stands on `ack` (on connect, to resume from there,
 * and after each event it took). Only the service writes `events`, only the merchant reads them.
 */
export type FeedChannel = "events" | "ack";

export function merchantFeedTopic(merchantId: string, channel: FeedChannel): string {
  if (!isId(merchantId)) throw new TapwireError(`id ${JSON.stringify(merchantId)} cannot appear in a topic`, ErrorCode.SchemaInvalid);
  return `${topicRoot}/merchants/${merchantId}/${channel}`;
}

/** What the settlement service subscribes to for the feeds: every merchant's position. */
export const merchantAckFilter = `${topicRoot}/merchants/+/ack`;

/** Parses a concrete feed topic; undefined for anything else (wildcards included). */
export function parseMerchantFeedTopic(topic: string): { merchantId: string; channel: FeedChannel } | undefined {
  const parts = topic.split("/");
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== topicRoot || parts[2] !== "merchants") return undefined;
  const merchantId = parts[3]!;
  const channel = parts[4]!;
  if (!isId(merchantId) || (channel !== "events" && channel !== "ack")) return undefined;
  return { merchantId, channel };
}

/**
 * A wallet provider (another wallet operator, `providers/p1`) is asked by the service and answers it: the service
 * publishes authorization requests on the provider's `res` and the provider answers on its own `req`, the same
 * direction every principal has, so Mosquitto's `%u` patterns cover it unchanged.
 */
export function providerTopic(id: string, channel: "req" | "res"): string {
  if (!isId(id)) throw new TapwireError(`id ${JSON.stringify(id)} cannot appear in a topic`, ErrorCode.SchemaInvalid);
  return `${topicRoot}/${plural.provider}/${id}/${channel}`;
}

/**
 * What the service subscribes to for providers' answers: never as a shared subscription, since an answer must reach
 * the worker that asked (the others ignore it as answering nothing they wait for).
 */
export const providerAnswerFilter = `${topicRoot}/${plural.provider}/+/req`;

/** A concrete provider topic's id and channel; undefined for anything else. */
export function parseProviderTopic(topic: string): { id: string; channel: "req" | "res" } | undefined {
  const parts = topic.split("/");
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== topicRoot || parts[2] !== plural.provider) return undefined;
  const id = parts[3]!;
  const channel = parts[4]!;
  if (!isId(id) || (channel !== "req" && channel !== "res")) return undefined;
  return { id, channel };
}

/** Everything a single settlement service subscribes to: the clients' requests, the merchants' feed positions, the providers' answers. */
export const serviceFilters: readonly string[] = [...serviceRequestFilters, merchantAckFilter, providerAnswerFilter];

/** Status topics dashboards watch. */
export const hubStateFilter = `${topicRoot}/hubs/+/state`;

export interface ParsedTopic {
  kind: ClientKind;
  id: string;
  channel: Channel;
}

/** Parses a concrete topic; undefined for anything outside the map (wildcards included). */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split("/");
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== topicRoot) return undefined;
  const kind = singular.get(parts[2]!);
  const id = parts[3]!;
  const channel = parts[4]!;
  if (!kind || !clientKinds.includes(kind) || !isId(id) || (channel !== "req" && channel !== "res" && channel !== "state")) return undefined;
  if (channel === "state" && kind !== "hub") return undefined;
  return { kind: kind as ClientKind, id, channel };
}

/**
 * The settlement service's principal, or one worker's of several (`services/settlement.w1`): each worker needs its own
 * certificate, since a broker that takes the client id from the certificate (Mosquitto's use_username_as_clientid)
 * drops one connection whenever another with the same identity arrives.
 */
export function settlementPrincipal(instance?: string): Principal {
  return { kind: "service", id: instance === undefined ? "settlement" : `settlement.${instance}` };
}

/** The certificate CN and MQTT username of a principal: `hubs/h1`, `services/settlement`. */
export function principalName(principal: Principal): string {
  return `${plural[principal.kind]}/${principal.id}`;
}

export function parsePrincipalName(name: string): Principal | undefined {
  const parts = name.split("/");
  if (parts.length !== 2) return undefined;
  const kind = singular.get(parts[0]!);
  const id = parts[1]!;
  if (!kind || !isId(id)) return undefined;
  return { kind, id };
}

/** Deny by default: a client may publish only its own req (and, for hubs, state); a merchant only its feed position. */
export function mayPublish(principal: Principal, topic: string): boolean {
  if (principal.kind === "service") {
    return parseTopic(topic)?.channel === "res" || parseProviderTopic(topic)?.channel === "res" || parseMerchantFeedTopic(topic)?.channel === "events";
  }
  if (principal.kind === "merchant") {
    const feed = parseMerchantFeedTopic(topic);
    return feed !== undefined && feed.merchantId === principal.id && feed.channel === "ack";
  }
  if (principal.kind === "provider") {
    const own = parseProviderTopic(topic);
    return own !== undefined && own.id === principal.id && own.channel === "req";
  }
  const parsed = parseTopic(topic);
  if (!parsed || parsed.kind !== principal.kind || parsed.id !== principal.id) return false;
  return parsed.channel === "req" || parsed.channel === "state";
}

/**
 * Deny by default: a client may subscribe only to its own res, a merchant to its own events; the service to the
 * request filters and the feed positions.
 */
export function maySubscribe(principal: Principal, filter: string): boolean {
  if (principal.kind === "service") {
    const inner = filter.startsWith("$share/") ? filter.split("/").slice(2).join("/") : filter;
    return serviceRequestFilters.includes(inner) || inner === hubStateFilter || filter === merchantAckFilter || filter === providerAnswerFilter;
  }
  if (principal.kind === "merchant") return filter === merchantFeedTopic(principal.id, "events");
  if (principal.kind === "operator") return filter === hubStateFilter;
  if (principal.kind === "provider") {
    const own = parseProviderTopic(filter);
    return own !== undefined && own.id === principal.id && own.channel === "res";
  }
  const parsed = parseTopic(filter);
  return parsed !== undefined && parsed.kind === principal.kind && parsed.id === principal.id && parsed.channel === "res";
}
