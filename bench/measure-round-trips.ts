/**
 * Not a test: measures sequential request/decision round trips over the embedded broker (real mTLS sockets on
 * 127.0.0.1), with and without TCP_NODELAY on every socket. Run: `npx tsx bench/measure-round-trips.ts`.
 */
import { EmbeddedBroker } from "../broker/mqtt/embedded-broker.ts";
import { ServiceLink } from "../broker/mqtt/service-link.ts";
import { MqttServiceTransport } from "../broker/mqtt/mqtt-service-transport.ts";
import { HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import { generateP256 } from "../protocol/keys.ts";
import { createTestPki, sealedDecision } from "../test/broker/fixtures.ts";

const durationMs = 2_000;
const roundTripsMax = 20_000;

async function measure(tcpNoDelay: boolean): Promise<string> {
  const pki = await createTestPki();
  const serviceKeys = generateP256();
  const broker = new EmbeddedBroker({ tls: { caPem: pki.ca.certPem, ...pki.server }, port: 0, isActive: () => true, tcpNoDelay });
  await broker.start();
  const service = new ServiceLink({
    transport: new MqttServiceTransport({
      url: broker.url,
      tls: await pki.identity({ kind: "service", id: "settlement" }),
      protocolVersion: 4,
      tcpNoDelay,
    }),
    handler: async (inbound) => [
      { kind: inbound.kind, id: inbound.id, payload: sealedDecision(Buffer.from(inbound.payload).toString(), inbound.id, serviceKeys.privateKey), expiresAtMs: Date.now() + 60_000 },
    ],
  });
  service.start();
  await service.waitConnected(5_000);
  const hub = new HubLink({
    url: broker.url,
    tls: await pki.identity({ kind: "hub", id: "h1" }),
    principal: { kind: "hub", id: "h1" },
    protocolVersion: 4,
    servicePublicKey: serviceKeys.publicKey,
    tcpNoDelay,
  });
  hub.start();
  await hub.waitConnected(5_000);

  const latenciesMs: number[] = [];
  const startedMs = performance.now();
  for (let i = 0; i < roundTripsMax && performance.now() - startedMs < durationMs; i += 1) {
    const requestId = `m-${i}`;
    const sentMs = performance.now();
    await hub.request(Buffer.from(requestId), requestId, 5_000);
    latenciesMs.push(performance.now() - sentMs);
  }
  const elapsedMs = performance.now() - startedMs;
  await hub.stop();
  await service.stop();
  await broker.stop();

  latenciesMs.sort((a, b) => a - b);
  const at = (q: number) => latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(q * latenciesMs.length))]!.toFixed(2);
  const perSecond = ((latenciesMs.length / elapsedMs) * 1000).toFixed(0);
  return `tcpNoDelay=${tcpNoDelay}: ${latenciesMs.length} round trips in ${elapsedMs.toFixed(0)} ms = ${perSecond}/s; latency ms p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)} max ${at(1)}`;
}

async function main(): Promise<void> {
  for (const tcpNoDelay of [true, false]) console.log(await measure(tcpNoDelay));
}

void main();
