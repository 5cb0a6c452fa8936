import { join } from "node:path";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { enrollHub, enrollWallet } from "../broker/enrolment.ts";
import { dataDirFlag, enrolmentContext, makeBundleDir, withAdmin, writeBundle } from "./admin.ts";
import { integerFlag, parseFlags, readFlagFile, requireFlag } from "./args.ts";
import { describeOfflineLimits, offlineLimitFlags, offlineLimitsFromFlags } from "./offline.ts";

export const enrollUsage = `tapwire merchant add --merchant-id M --currency EUR [--data-dir .tapwire]
    [--offline-sale-max-minor N --offline-total-max-minor N --offline-count-max N --offline-age-max-ms N]
  Without the four offline limits the merchant's hubs may not sell offline (see merchant set-offline).
  example: tapwire merchant add --merchant-id m1 --currency EUR
tapwire hub enroll --hub-id H --merchant-id M [--public-key hub.pub.pem] [--out DIR] [--data-dir .tapwire]
  Issues the hub's client certificate (CN hubs/H) from the operator CA and registers its key. Without
  --public-key a key pair is generated (simulators and development; a real hub keeps its key in its secure
  element and sends only the public half). Writes cert, key, CA and the service's public key to --out.
  example: tapwire hub enroll --hub-id h1 --merchant-id m1
tapwire wallet enroll --wallet-id W --currency EUR --per-payment-max-minor N [--fund-minor N] [--provider P] [--out DIR] [--data-dir .tapwire]
  With --provider the wallet is held by that wallet provider (tapwire provider enroll), in its currency: the provider
  authorizes its payments and no money is funded here.
  example: tapwire wallet enroll --wallet-id w1 --currency EUR --per-payment-max-minor 5000 --fund-minor 10000`;

export async function merchantAddCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "merchant-id": { type: "string" }, currency: { type: "string" }, ...offlineLimitFlags });
  const merchantId = requireFlag(values["merchant-id"], "merchant-id");
  const currency = requireFlag(values.currency, "currency");
  const offlineLimits = offlineLimitsFromFlags(values);
  const merchant = await withAdmin(values["data-dir"], (service) =>
    service.registry.enrollMerchant({ merchantId, currency, ...(offlineLimits ? { offlineLimits } : {}) }),
    "create",
  );
  process.stdout.write(`merchant ${merchant.merchantId} added; ${describeOfflineLimits(merchant.offlineLimits)}\n`);
  return 0;
}

export async function hubEnrollCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    ...dataDirFlag,
    "hub-id": { type: "string" },
    "merchant-id": { type: "string" },
    "public-key": { type: "string" },
    out: { type: "string" },
  });
  const hubId = requireFlag(values["hub-id"], "hub-id");
  const merchantId = requireFlag(values["merchant-id"], "merchant-id");
  const outDir = values.out ?? join(values["data-dir"], "hubs", hubId);
  const publicKeyPem = values["public-key"] ? (await readFlagFile(values["public-key"], "public-key")).toString("utf8") : undefined;
  const bundle = await withAdmin(
    values["data-dir"],
    (service, pki) => {
      // Before enrolling: a key pair made for a folder that cannot be written would be lost.
      makeBundleDir(outDir);
      return enrollHub(enrolmentContext(service, pki), { hubId, merchantId, ...(publicKeyPem ? { publicKeyPem } : {}) });
    },
    "create",
  );
  await writeBundle(outDir, bundle);
  process.stdout.write(`hub ${hubId} enrolled; certificate and keys in ${outDir}\n`);
  return 0;
}

export async function walletEnrollCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    ...dataDirFlag,
    "wallet-id": { type: "string" },
    currency: { type: "string" },
    "per-payment-max-minor": { type: "string" },
    "fund-minor": { type: "string" },
    provider: { type: "string" },
    out: { type: "string" },
  });
  const providerId = values.provider;
  const walletId = requireFlag(values["wallet-id"], "wallet-id");
  const currency = requireFlag(values.currency, "currency");
  const perPaymentMaxMinor = integerFlag(values["per-payment-max-minor"], "per-payment-max-minor", 1, Number.MAX_SAFE_INTEGER);
  const fundMinor = integerFlag(values["fund-minor"], "fund-minor", 0, Number.MAX_SAFE_INTEGER, 0);
  const outDir = values.out ?? join(values["data-dir"], "wallets", walletId);
  const bundle = await withAdmin(
    values["data-dir"],
    async (service, pki) => {
      makeBundleDir(outDir);
      if (providerId !== undefined && fundMinor > 0) throw new TapwireError("a provider's wallet is funded at its provider, not with --fund-minor", ErrorCode.ConfigInvalid);
      const enrolled = await enrollWallet(enrolmentContext(service, pki), { walletId, currency, perPaymentMaxMinor });
      if (providerId !== undefined) service.providers.assignWallet(walletId, providerId);
      if (fundMinor > 0) service.registry.fundWallet(walletId, fundMinor);
      return enrolled;
    },
    "create",
  );
  await writeBundle(outDir, bundle);
  const held = providerId === undefined ? "" : ` (held by provider ${providerId})`;
  process.stdout.write(`wallet ${walletId} enrolled${held}; certificate and keys in ${outDir}\n`);
  return 0;
}
