import type { BiometricIdentity, BiometricVerifier } from "../../device/glasses/ports.ts";
import { ErrorCode, TapwireError, asTapwireError } from "../../protocol/errors.ts";
import type { GlassesLink } from "../ble/glasses-link.ts";

/** The part of GlassesLink the verifier uses. */
export type AssertionChecker = Pick<GlassesLink, "verifyAssertion">;

/**
 * device/'s BiometricVerifier over the link's own check (protocol/glasses.ts verifyBiometricAssertion against
 * the binding made at pairing: its key, glasses id and owner, the challenge sent, and the assertion's age).
 * The port speaks two codes: GlassesNotPaired when no glasses are paired or the assertion names others, and
 * BiometricFailed for everything else (forged, stale, another challenge, wearer not verified or not live).
 * The identity returned is the paired glasses' owner: the hub compares it with the owner it pays for.
 */
export class LinkBiometricVerifier implements BiometricVerifier {
  constructor(private readonly link: AssertionChecker) {}

  verify(assertion: Uint8Array, challenge: Uint8Array): BiometricIdentity {
    try {
      const claim = this.link.verifyAssertion(assertion, challenge);
      return { ownerId: claim.ownerId, glassesId: claim.glassesId };
    } catch (error) {
      const failure = asTapwireError(error, ErrorCode.BiometricFailed);
      const context = { cause: failure.code };
      if (failure.code === ErrorCode.BlePairingRefused || failure.code === ErrorCode.GlassesNotPaired) {
        throw new TapwireError(`no paired glasses: ${failure.message}`, ErrorCode.GlassesNotPaired, context);
      }
      if (failure.code === ErrorCode.BleAssertionMismatch && failure.context?.["glassesId"] !== undefined) {
        throw new TapwireError(`assertion from other glasses: ${failure.message}`, ErrorCode.GlassesNotPaired, context);
      }
      throw new TapwireError(`biometric assertion rejected: ${failure.message}`, ErrorCode.BiometricFailed, context);
    }
  }
}
