import { describe, expect, it } from "vitest";
import { MqttConnection } from "../../firmware-bridge/mqtt/connection.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { createTestPki } from "./fixtures.ts";

describe("MqttConnection TLS material", () => {
  it("refuses an unreadable CA, certificate or key at construction with CertificateInvalid", async () => {
    const pki = await createTestPki();
    const good = await pki.identity({ kind: "hub", id: "h1" });
    const cases = [
      { caPem: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", certPem: good.certPem, keyPem: good.keyPem },
      { caPem: pki.ca.certPem, certPem: "garbage", keyPem: good.keyPem },
      { caPem: pki.ca.certPem, certPem: good.certPem, keyPem: "garbage" },
    ];
    for (const tls of cases) {
      expect(() => new MqttConnection({ url: "mqtts://127.0.0.1:1", tls, clientId: "hubs/h1", protocolVersion: 4 })).toThrow(
        expect.objectContaining({ code: ErrorCode.CertificateInvalid }),
      );
    }
  });
});
