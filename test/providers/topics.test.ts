import { describe, expect, it } from "vitest";
import { mayPublish, maySubscribe, parsePrincipalName, parseProviderTopic, parseTopic, principalName, providerAnswerFilter, providerTopic } from "../../protocol/topics.ts";
import { mosquittoAcl } from "../../transport/mosquitto-config.ts";

describe("wallet providers in the topic map", () => {
  const provider = { kind: "provider", id: "p1" } as const;
  const service = { kind: "service", id: "settlement" } as const;

  it("names a provider as its certificate CN does, and builds its two topics", () => {
    expect(principalName(provider)).toBe("providers/p1");
    expect(parsePrincipalName("providers/p1")).toEqual(provider);
    expect([providerTopic("p1", "req"), providerTopic("p1", "res")]).toEqual(["tapwire/v1/providers/p1/req", "tapwire/v1/providers/p1/res"]);
    expect(parseProviderTopic("tapwire/v1/providers/p1/req")).toEqual({ id: "p1", channel: "req" });
    expect(parseProviderTopic("tapwire/v1/providers/+/req")).toBeUndefined();
    expect(parseProviderTopic("tapwire/v1/providers/p1/state")).toBeUndefined();
    // Not a client topic: the request pipeline never sees a provider's answer.
    expect(parseTopic("tapwire/v1/providers/p1/req")).toBeUndefined();
  });

  it("lets a provider publish only its own answers and read only its own requests", () => {
    expect(mayPublish(provider, "tapwire/v1/providers/p1/req")).toBe(true);
    expect(mayPublish(provider, "tapwire/v1/providers/p1/res")).toBe(false);
    expect(mayPublish(provider, "tapwire/v1/providers/p2/req")).toBe(false);
    expect(mayPublish(provider, "tapwire/v1/hubs/p1/req")).toBe(false);
    expect(maySubscribe(provider, "tapwire/v1/providers/p1/res")).toBe(true);
    expect(maySubscribe(provider, "tapwire/v1/providers/p2/res")).toBe(false);
    expect(maySubscribe(provider, "tapwire/v1/providers/+/res")).toBe(false);
    expect(maySubscribe(provider, "tapwire/v1/hubs/h1/res")).toBe(false);
  });

  it("lets the service ask every provider and read every answer, never through a shared subscription", () => {
    expect(mayPublish(service, "tapwire/v1/providers/p1/res")).toBe(true);
    expect(mayPublish(service, "tapwire/v1/providers/p1/req")).toBe(false);
    expect(maySubscribe(service, providerAnswerFilter)).toBe(true);
    expect(maySubscribe(service, `$share/settlement/${providerAnswerFilter}`)).toBe(false);
  });

  it("gives the service the answers in the generated Mosquitto ACL; providers are covered by the %u patterns", () => {
    const acl = mosquittoAcl([], ["w1"]);

    expect(acl).toContain("pattern write tapwire/v1/%u/req");
    expect(acl).toContain("pattern read tapwire/v1/%u/res");
    expect(acl.split("\n").filter((line) => line === `topic read ${providerAnswerFilter}`)).toHaveLength(2);
  });
});
