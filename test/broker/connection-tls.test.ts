import type { AddressInfo } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { describe, expect, it } from "vitest";
import { issueServerCert, randomSerialHex, validityFrom } from "../../broker/pki/certificates.ts";
import { systemRandom } from "../../core/sources.ts";
import { MqttConnection } from "../../transport/mqtt-connection.ts";
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

describe("MqttConnection and the hub's clock", () => {
  it("a broker certificate not yet valid by this machine's clock is ClockWrong, not a broker refusal", async () => {
    const pki = await createTestPki();
    const hourMs = 3_600_000;
    // A broker whose certificate starts an hour from now: seen from a hub whose clock is an hour behind.
    const future = { nowMs: () => Date.now() + hourMs };
    const server = await issueServerCert(pki.ca, { serialHex: randomSerialHex(systemRandom), ...validityFrom(future, hourMs) });
    const listener = createTlsServer({ cert: server.certPem, key: server.keyPem }, (socket) => socket.destroy());
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const { port } = listener.address() as AddressInfo;
    const identity = await pki.identity({ kind: "hub", id: "h1" });
    const connection = new MqttConnection({
      url: `mqtts://127.0.0.1:${port}`,
      tls: identity,
      clientId: "hubs/h1",
      protocolVersion: 4,
      reconnectAttemptsMax: 0,
    });
    try {
      connection.start();
      await expect(connection.waitConnected(3_000)).rejects.toMatchObject({ code: ErrorCode.ClockWrong });
    } finally {
      await connection.stop();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  });
});
