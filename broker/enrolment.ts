import { X509Certificate, createPublicKey, type KeyObject } from "node:crypto";
import { generateP256, importPublicPem, privateKeyPem, publicKeyPem } from "../protocol/keys.ts";
import type { Clock, Random } from "../core/sources.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { isCurrency } from "../protocol/money.ts";
import { principalName, type Principal } from "../protocol/topics.ts";
import { certifyPrincipal, type OperatorPki } from "./operator-pki.ts";
import type { Registry } from "./registry/registry.ts";
import type { ProviderRegistry } from "./providers/provider-registry.ts";
import { loginTokenBytes, type OperatorStore } from "./operators/operator-store.ts";
import type { RevokedCertificates } from "./registry/revoked-certificates.ts";

/**
 * Everything a hub (or wallet, or agent) needs to join: its certificate, the operator CA that the broker's
 * server certificate chains to, and the service's decision-signing public key. The private key is only
 * present when the operator generated it (simulators, development); a real hub keeps its key in its secure
 * element and sends only the public half.
 */
export interface EnrolmentBundle {
  principal: Principal;
  certPem: string;
  keyPem?: string;
  caPem: string;
  servicePublicKeyPem: string;
}

export interface EnrolmentContext {
  pki: OperatorPki;
  registry: Registry;
  clock: Clock;
  random: Random;
}

function keyFor(publicKeyPemGiven: string | undefined): { publicKey: KeyObject; keyPem?: string } {
  if (publicKeyPemGiven !== undefined) return { publicKey: importPublicPem(publicKeyPemGiven) };
  const pair = generateP256();
  return { publicKey: pair.publicKey, keyPem: privateKeyPem(pair.privateKey) };
}

async function certify(context: EnrolmentContext, principal: Principal, publicKey: KeyObject, keyPem: string | undefined): Promise<{ bundle: EnrolmentBundle; serialHex: string }> {
  const { certPem, serialHex } = await certifyPrincipal(context.pki, principal, publicKey, context.clock, context.random);
  await context.pki.store.saveIdentity(principalName(principal), { certPem });
  const servicePublicKeyPem = publicKeyPem(createPublicKey(context.pki.serviceSigningKey));
  const bundle = { principal, certPem, ...(keyPem ? { keyPem } : {}), caPem: context.pki.ca.certPem, servicePublicKeyPem };
  return { bundle, serialHex };
}

export async function enrollHub(
  context: EnrolmentContext,
  request: { hubId: string; merchantId: string; publicKeyPem?: string },
): Promise<EnrolmentBundle> {
  if (context.registry.findHub(request.hubId)) {
    throw new TapwireError(`hub ${request.hubId} is already enrolled`, ErrorCode.HubAlreadyEnrolled);
  }
  context.registry.getMerchant(request.merchantId);
  const { publicKey, keyPem } = keyFor(request.publicKeyPem);
  const principal: Principal = { kind: "hub", id: request.hubId };
  const { bundle, serialHex } = await certify(context, principal, publicKey, keyPem);
  context.registry.enrollHub({ hubId: request.hubId, merchantId: request.merchantId, publicKeyPem: publicKeyPem(publicKey), certificateSerial: serialHex });
  return bundle;
}

export async function enrollWallet(
  context: EnrolmentContext,
  request: { walletId: string; currency: string; perPaymentMaxMinor: number; publicKeyPem?: string },
): Promise<EnrolmentBundle> {
  const { publicKey, keyPem } = keyFor(request.publicKeyPem);
  const principal: Principal = { kind: "wallet", id: request.walletId };
  context.registry.enrollWallet({ walletId: request.walletId, publicKeyPem: publicKeyPem(publicKey), currency: request.currency, perPaymentMaxMinor: request.perPaymentMaxMinor });
  return (await certify(context, principal, publicKey, keyPem)).bundle;
}

/**
 * An agent's MQTT identity (CN agents/<id>). What it may spend is set by the mandates people sign for it.
 * `agents` is the registry the agent joins (the CLI passes the service's `agents`, the same registry).
 */
export async function enrollAgent(
  context: EnrolmentContext,
  agents: Registry,
  request: { agentId: string; publicKeyPem?: string },
): Promise<EnrolmentBundle> {
  if (agents.findAgent(request.agentId)) {
    throw new TapwireError(`agent ${request.agentId} is already enrolled`, ErrorCode.AgentAlreadyEnrolled);
  }
  const { publicKey, keyPem } = keyFor(request.publicKeyPem);
  const principal: Principal = { kind: "agent", id: request.agentId };
  const { bundle, serialHex } = await certify(context, principal, publicKey, keyPem);
  agents.enrollAgent({ agentId: request.agentId, publicKeyPem: publicKeyPem(publicKey), certificateSerial: serialHex });
  return bundle;
}

/**
 * A wallet provider's MQTT identity (CN providers/<id>): another wallet operator, holding wallets in its home
 * currency, that the service asks to authorize its wallets' payments and whose signed answers it verifies with this key.
 */
export async function enrollProvider(
  context: EnrolmentContext,
  providers: ProviderRegistry,
  request: { providerId: string; currency: string; publicKeyPem?: string },
): Promise<EnrolmentBundle> {
  if (providers.find(request.providerId)) {
    throw new TapwireError(`provider ${request.providerId} is already enrolled`, ErrorCode.ProviderAlreadyEnrolled, { providerId: request.providerId });
  }
  if (!isCurrency(request.currency)) throw new TapwireError(`unknown currency ${JSON.stringify(request.currency)}`, ErrorCode.UnknownCurrency);
  const { publicKey, keyPem } = keyFor(request.publicKeyPem);
  const principal: Principal = { kind: "provider", id: request.providerId };
  const { bundle, serialHex } = await certify(context, principal, publicKey, keyPem);
  providers.enroll({ providerId: request.providerId, currency: request.currency, publicKeyPem: publicKeyPem(publicKey), certificateSerial: serialHex }, context.clock.nowMs());
  return bundle;
}

export interface OperatorEnrolment {
  bundle: EnrolmentBundle;
  /** Shown once to the person; only its salted hash is kept. */
  loginToken: string;
}

/**
 * A person who acts from the console: a client certificate (CN operators/<name>) whose key the PKI store keeps
 * beside the service's, so a console on this host connects as that operator; and a login token for the page.
 */
export async function enrollOperator(context: EnrolmentContext, operators: OperatorStore, request: { operatorId: string }): Promise<OperatorEnrolment> {
  if (operators.find(request.operatorId)) {
    throw new TapwireError(`operator ${request.operatorId} is already enrolled`, ErrorCode.OperatorAlreadyEnrolled, { operatorId: request.operatorId });
  }
  const { publicKey, keyPem } = keyFor(undefined);
  const principal: Principal = { kind: "operator", id: request.operatorId };
  const { bundle, serialHex } = await certify(context, principal, publicKey, keyPem);
  await context.pki.store.saveIdentity(principalName(principal), { certPem: bundle.certPem, ...(keyPem ? { keyPem } : {}) });
  const loginToken = Buffer.from(context.random.bytes(loginTokenBytes)).toString("base64url");
  operators.enroll({ operatorId: request.operatorId, certificateSerial: serialHex, loginToken, salt: context.random.bytes(16), nowMs: context.clock.nowMs() });
  return { bundle, loginToken };
}

/**
 * A merchant's back office on MQTT (CN merchants/<id>): a certificate for reading its own signed event feed.
 * Issuing one again revokes the one before (a lost or leaked key is replaced, never added to).
 */
export async function enrollMerchantFeed(context: EnrolmentContext, revoked: RevokedCertificates, request: { merchantId: string }): Promise<EnrolmentBundle> {
  context.registry.getMerchant(request.merchantId);
  const principal: Principal = { kind: "merchant", id: request.merchantId };
  const previousPem = await context.pki.store.loadCertificate(principalName(principal));
  if (previousPem !== undefined) {
    revoked.revoke(new X509Certificate(previousPem).serialNumber, principalName(principal), "replaced", context.clock.nowMs());
  }
  const { publicKey, keyPem } = keyFor(undefined);
  const { bundle } = await certify(context, principal, publicKey, keyPem);
  return bundle;
}

/**
 * A new key and certificate for an enrolled hub (its own public key, or one made here); once stored, the old
 * certificate is on the revoked list and the hub's requests verify only with the new key.
 */
export async function rotateHub(
  context: EnrolmentContext,
  service: { rotateHubKey(hubId: string, publicKeyPem: string, certificateSerial: string): void },
  request: { hubId: string; publicKeyPem?: string },
): Promise<EnrolmentBundle> {
  context.registry.getActiveHub(request.hubId);
  const { publicKey, keyPem } = keyFor(request.publicKeyPem);
  const { bundle, serialHex } = await certify(context, { kind: "hub", id: request.hubId }, publicKey, keyPem);
  service.rotateHubKey(request.hubId, publicKeyPem(publicKey), serialHex);
  return bundle;
}
