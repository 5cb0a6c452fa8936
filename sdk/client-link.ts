import type { EnrolmentBundle } from "../broker/enrolment.ts";
import { HubLink, type DecisionReply, type HubLinkOptions } from "../firmware-bridge/mqtt/hub-link.ts";
import { assert } from "../core/assert.ts";
import { importPublicPem } from "../protocol/keys.ts";
import type { ClientKind } from "../protocol/topics.ts";

/** What a simulated hub, wallet or agent needs to connect, all from its enrolment bundle (private key included). */
export function linkOptionsFor(bundle: EnrolmentBundle, url: string, protocolVersion: 4 | 5 = 4): HubLinkOptions {
  assert(bundle.keyPem !== undefined, `bundle of ${bundle.principal.id} has no private key`);
  return {
    url,
    tls: { caPem: bundle.caPem, certPem: bundle.certPem, keyPem: bundle.keyPem },
    principal: { kind: bundle.principal.kind as ClientKind, id: bundle.principal.id },
    protocolVersion,
    servicePublicKey: importPublicPem(bundle.servicePublicKeyPem),
  };
}

/** A wallet's or agent's own mTLS MQTT link; decisions nobody asked for (pushed outcomes) go to `onPushed`. */
export function clientLink(bundle: EnrolmentBundle, url: string, onPushed?: (reply: DecisionReply) => void): HubLink {
  return new HubLink({ ...linkOptionsFor(bundle, url), ...(onPushed ? { onUnmatchedDecision: onPushed } : {}) });
}
