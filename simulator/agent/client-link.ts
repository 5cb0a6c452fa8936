import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { HubLink, type DecisionReply } from "../../firmware-bridge/mqtt/hub-link.ts";
import { assert } from "../../protocol/assert.ts";
import { importPublicPem } from "../../protocol/keys.ts";
import type { ClientKind } from "../../protocol/topics.ts";

/** A wallet's or agent's own mTLS MQTT link, built from its enrolment bundle. */
export function clientLink(bundle: EnrolmentBundle, url: string, onPushed?: (reply: DecisionReply) => void): HubLink {
  assert(bundle.keyPem !== undefined, `bundle of ${bundle.principal.id} has no private key`);
  return new HubLink({
    url,
    tls: { caPem: bundle.caPem, certPem: bundle.certPem, keyPem: bundle.keyPem },
    principal: { kind: bundle.principal.kind as ClientKind, id: bundle.principal.id },
    protocolVersion: 4,
    servicePublicKey: importPublicPem(bundle.servicePublicKeyPem),
    ...(onPushed ? { onUnmatchedDecision: onPushed } : {}),
  });
}
