import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";

/** Writes an enrolment bundle as `tapwire hub enroll --out DIR` does: ca.pem, cert.pem, key.pem, service.pub.pem. */
export function writeBundle(dir: string, bundle: EnrolmentBundle): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "ca.pem"), bundle.caPem);
  writeFileSync(join(dir, "cert.pem"), bundle.certPem);
  writeFileSync(join(dir, "key.pem"), bundle.keyPem!);
  writeFileSync(join(dir, "service.pub.pem"), bundle.servicePublicKeyPem);
}
