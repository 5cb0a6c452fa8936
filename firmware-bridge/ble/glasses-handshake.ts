import { ErrorCode, asTapwireError } from "../../protocol/errors.ts";
import { publicKeyDer, verifyPairResponse, verifySessionClaim, type GlassesToHub } from "../../protocol/glasses.ts";
import { importPublicPem, publicKeyPem } from "../../protocol/keys.ts";
import { logger } from "../../core/log.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import type { Clock, Random } from "../../core/sources.ts";
import type { GlassesChannel } from "./glasses-channel.ts";
import type { Refusal } from "./glasses-link-options.ts";
import type { GlassesBinding, PairingStore } from "./pairing-store.ts";

const log = logger("tapwire:ble");

export interface HandshakeDeps {
  store: PairingStore;
  clock: Clock;
  random: Random;
  /** From challenge to a valid answer. */
  authMs: number;
}

/**
 * Pairing: the glasses in pairing mode prove they show `code` and hand over their key, which replaces the binding.
 * The channel is authenticated from then on.
 */
export async function pairOver(channel: GlassesChannel, code: string, deps: HandshakeDeps, signal: AbortSignal): Promise<GlassesBinding> {
  const nonce = deps.random.bytes(32);
  const answer = await channel.exchange<Extract<GlassesToHub, { type: "pair_response" }>>({ type: "pair_request", v: protocolVersion, nonce }, "pair_response", deps.authMs, signal);
  const verified = verifyPairResponse(answer, code, nonce);
  const binding: GlassesBinding = {
    glassesId: verified.glassesId,
    ownerId: verified.ownerId,
    publicKeyPem: publicKeyPem(verified.publicKey),
    pairedAtMs: deps.clock.nowMs(),
  };
  deps.store.replace(binding);
  channel.glassesId = binding.glassesId;
  channel.authenticated = true;
  await channel.send({ type: "pair_result", v: protocolVersion, ok: true, glassesId: binding.glassesId });
  log.info({ glassesId: binding.glassesId, ownerId: binding.ownerId, keyBytes: publicKeyDer(verified.publicKey).length }, "glasses paired");
  return binding;
}

/** Every connection to paired glasses: they sign a fresh challenge with the paired key before anything else counts. */
export async function authenticateOver(
  channel: GlassesChannel,
  binding: GlassesBinding,
  deps: HandshakeDeps & { onRefused: (refusal: Refusal) => void },
  signal: AbortSignal,
): Promise<void> {
  const nonce = deps.random.bytes(32);
  const response = await channel.exchange<Extract<GlassesToHub, { type: "auth_response" }>>({ type: "auth_challenge", v: protocolVersion, nonce }, "auth_response", deps.authMs, signal);
  try {
    verifySessionClaim(response.claim, importPublicPem(binding.publicKeyPem), binding.glassesId, nonce);
  } catch (error) {
    const refusal = asTapwireError(error, ErrorCode.BlePairingRefused);
    deps.onRefused({ code: refusal.code, reason: refusal.message, glassesId: binding.glassesId });
    throw refusal;
  }
  channel.glassesId = binding.glassesId;
  channel.authenticated = true;
}
