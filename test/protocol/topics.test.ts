import { describe, expect, it } from "vitest";
import {
  mayPublish,
  maySubscribe,
  parsePrincipalName,
  parseTopic,
  principalName,
  serviceRequestFilters,
  topicFor,
} from "../../protocol/topics.ts";
import { ErrorCode } from "../../protocol/errors.ts";

describe("topic map", () => {
  const hub = { kind: "hub", id: "h1" } as const;
  const service = { kind: "service", id: "settlement" } as const;

  it("builds and parses a hub's own topics", () => {
    expect(topicFor("hub", "h1", "req")).toBe("tapwire/v1/hubs/h1/req");
    expect(parseTopic("tapwire/v1/hubs/h1/res")).toEqual({ kind: "hub", id: "h1", channel: "res" });
    expect(parseTopic("tapwire/v1/wallets/w9/req")).toEqual({ kind: "wallet", id: "w9", channel: "req" });
  });

  it("refuses ids that would escape their topic level", () => {
    for (const id of ["a/b", "+", "#", "", "x".repeat(65), "a b"]) {
      expect(() => topicFor("hub", id, "req")).toThrow(expect.objectContaining({ code: ErrorCode.SchemaInvalid }));
    }
    expect(parseTopic("tapwire/v1/hubs/+/req")).toBeUndefined();
    expect(parseTopic("tapwire/v1/services/settlement/req")).toBeUndefined();
    expect(parseTopic("tapwire/v1/wallets/w1/state")).toBeUndefined();
  });

  it("names a principal the way its certificate CN and Mosquitto's %u do", () => {
    expect(principalName(hub)).toBe("hubs/h1");
    expect(parsePrincipalName("hubs/h1")).toEqual(hub);
    expect(parsePrincipalName("services/settlement")).toEqual(service);
    expect(parsePrincipalName("hub:h1")).toBeUndefined();
    expect(parsePrincipalName("hubs/h1/x")).toBeUndefined();
    expect(parsePrincipalName("robots/r1")).toBeUndefined();
  });

  it("lets a hub publish only its own request and state topics", () => {
    expect(mayPublish(hub, "tapwire/v1/hubs/h1/req")).toBe(true);
    expect(mayPublish(hub, "tapwire/v1/hubs/h1/state")).toBe(true);
    expect(mayPublish(hub, "tapwire/v1/hubs/h1/res")).toBe(false);
    expect(mayPublish(hub, "tapwire/v1/hubs/h2/req")).toBe(false);
    expect(mayPublish(hub, "tapwire/v1/wallets/h1/req")).toBe(false);
    expect(mayPublish(hub, "elsewhere")).toBe(false);
  });

  it("lets a hub subscribe only to its own responses", () => {
    expect(maySubscribe(hub, "tapwire/v1/hubs/h1/res")).toBe(true);
    expect(maySubscribe(hub, "tapwire/v1/hubs/h2/res")).toBe(false);
    expect(maySubscribe(hub, "tapwire/v1/hubs/+/res")).toBe(false);
    expect(maySubscribe(hub, "#")).toBe(false);
  });

  it("lets the service read every request and answer on response topics only", () => {
    for (const filter of serviceRequestFilters) expect(maySubscribe(service, filter)).toBe(true);
    expect(maySubscribe(service, "$share/settlement/tapwire/v1/hubs/+/req")).toBe(true);
    expect(maySubscribe(service, "#")).toBe(false);
    expect(mayPublish(service, "tapwire/v1/hubs/h1/res")).toBe(true);
    expect(mayPublish(service, "tapwire/v1/hubs/h1/req")).toBe(false);
  });
});
