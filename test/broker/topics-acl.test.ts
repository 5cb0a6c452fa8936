import { describe, expect, it } from "vitest";
import { clientIdBelongsTo, clientIdFor } from "../../broker/mqtt/identity.ts";
import { ErrorCode, isTapwireError } from "../../protocol/errors.ts";
import { hubStateFilter, mayPublish, maySubscribe, type Principal } from "../../protocol/topics.ts";

const h1: Principal = { kind: "hub", id: "h1" };
const w1: Principal = { kind: "wallet", id: "w1" };
const service: Principal = { kind: "service", id: "settlement" };
const operator: Principal = { kind: "operator", id: "ops" };

describe("topic ACL", () => {
  it("lets a hub publish only its own req and state", () => {
    expect(mayPublish(h1, "tapwire/v1/hubs/h1/req")).toBe(true);
    expect(mayPublish(h1, "tapwire/v1/hubs/h1/state")).toBe(true);
    for (const topic of ["tapwire/v1/hubs/h1/res", "tapwire/v1/hubs/h2/req", "tapwire/v1/wallets/h1/req", "$SYS/x", "tapwire/v1/hubs/h1/req/x"]) {
      expect(mayPublish(h1, topic)).toBe(false);
    }
  });

  it("gives wallets no state topic", () => {
    expect(mayPublish(w1, "tapwire/v1/wallets/w1/req")).toBe(true);
    expect(mayPublish(w1, "tapwire/v1/wallets/w1/state")).toBe(false);
  });

  it("lets the service publish decisions only and read requests and hub state", () => {
    expect(mayPublish(service, "tapwire/v1/hubs/h1/res")).toBe(true);
    expect(mayPublish(service, "tapwire/v1/hubs/h1/req")).toBe(false);
    expect(maySubscribe(service, "tapwire/v1/hubs/+/req")).toBe(true);
    expect(maySubscribe(service, "$share/settlement/tapwire/v1/wallets/+/req")).toBe(true);
    expect(maySubscribe(service, "tapwire/v1/#")).toBe(false);
    expect(maySubscribe(service, "$share/settlement/tapwire/v1/#")).toBe(false);
  });

  it("lets a client subscribe only its own res, never wildcards", () => {
    expect(maySubscribe(h1, "tapwire/v1/hubs/h1/res")).toBe(true);
    for (const filter of ["tapwire/v1/hubs/h2/res", "tapwire/v1/hubs/+/res", "tapwire/v1/#", "#", "tapwire/v1/hubs/h1/req"]) {
      expect(maySubscribe(h1, filter)).toBe(false);
    }
  });

  it("lets an operator watch hub state and nothing else", () => {
    expect(maySubscribe(operator, hubStateFilter)).toBe(true);
    expect(maySubscribe(operator, "tapwire/v1/hubs/+/req")).toBe(false);
    expect(mayPublish(operator, "tapwire/v1/hubs/h1/state")).toBe(false);
  });
});

describe("client ids", () => {
  it("binds a client id to its certificate's principal", () => {
    expect(clientIdFor(h1)).toBe("hubs/h1");
    expect(clientIdFor(service, "worker-1")).toBe("services/settlement@worker-1");
    expect(clientIdBelongsTo("hubs/h1", h1)).toBe(true);
    expect(clientIdBelongsTo("services/settlement@worker-1", service)).toBe(true);
    expect(clientIdBelongsTo("hubs/h10", h1)).toBe(false);
    expect(clientIdBelongsTo("hubs/h1@", h1)).toBe(false);
    expect(clientIdBelongsTo("hubs/h2", h1)).toBe(false);
  });

  it("refuses an instance suffix that is not an id", () => {
    let failure: unknown;
    try {
      clientIdFor(service, "a/b");
    } catch (error) {
      failure = error;
    }
    expect(isTapwireError(failure, ErrorCode.ClientIdMismatch)).toBe(true);
  });
});
