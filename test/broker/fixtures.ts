import {
  createOperatorCa,
  issueClientIdentity,
  issueServerCert,
  randomSerialHex,
  validityFrom,
  type CertifiedKey,
} from "../../broker/pki/certificates.ts";
import { systemClock, systemRandom } from "../../protocol/sources.ts";
import type { Principal } from "../../protocol/topics.ts";

const dayMs = 24 * 60 * 60 * 1000;

/** One operator CA with a server certificate for 127.0.0.1 and identities issued on demand. */
export interface TestPki {
  ca: CertifiedKey;
  server: CertifiedKey;
  identity(principal: Principal): Promise<{ caPem: string; certPem: string; keyPem: string }>;
}

export async function createTestPki(commonName = "tapwire test CA"): Promise<TestPki> {
  const ca = await createOperatorCa({ commonName, serialHex: randomSerialHex(systemRandom), ...validityFrom(systemClock, dayMs) });
  const server = await issueServerCert(ca, { serialHex: randomSerialHex(systemRandom), ...validityFrom(systemClock, dayMs) });
  return {
    ca,
    server,
    async identity(principal) {
      const issued = await issueClientIdentity(ca, {
        principal,
        serialHex: randomSerialHex(systemRandom),
        ...validityFrom(systemClock, dayMs),
      });
      return { caPem: ca.certPem, ...issued };
    },
  };
}
