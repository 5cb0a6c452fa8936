import { checkedOfflineLimits } from "../broker/registry/offline-limits.ts";
import type { OfflineLoss } from "../broker/settlement/offline-store.ts";
import type { OfflineLimits } from "../protocol/contract.ts";
import { ErrorCode, TapwireError, errorCodeName } from "../protocol/errors.ts";
import { formatMoney } from "../protocol/money.ts";
import { dataDirFlag, withAdmin } from "./admin.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

export const offlineUsage = `tapwire merchant set-offline --merchant-id M (--offline-sale-max-minor N --offline-total-max-minor N --offline-count-max N --offline-age-max-ms N | --off) [--data-dir .tapwire]
  The floor limits under which the merchant's hubs may approve sales while their link is down, each at most the
  protocol contract's ceiling. --off stops offline sales: captures forwarded from then on are declined as losses.
  example: tapwire merchant set-offline --merchant-id m1 --off
tapwire offline losses [--merchant-id M] [--data-dir .tapwire]
  Offline sales declined when their hub forwarded them, one a line: recorded, hub, request, merchant, wallet,
  amount, code, captured (hub clock), reason.
  example: tapwire offline losses --merchant-id m1`;

/** The four floor-limit flags `merchant add` and `merchant set-offline` take: all four or none. */
export const offlineLimitFlags = {
  "offline-sale-max-minor": { type: "string" },
  "offline-total-max-minor": { type: "string" },
  "offline-count-max": { type: "string" },
  "offline-age-max-ms": { type: "string" },
} as const;

type OfflineLimitFlagValues = { [K in keyof typeof offlineLimitFlags]?: string | undefined };

/** Undefined when none of the four flags is given; checked in full before any data directory is opened. */
export function offlineLimitsFromFlags(values: OfflineLimitFlagValues): OfflineLimits | undefined {
  const names = Object.keys(offlineLimitFlags) as Array<keyof typeof offlineLimitFlags>;
  const given = names.filter((name) => values[name] !== undefined);
  if (given.length === 0) return undefined;
  if (given.length !== names.length) {
    throw new TapwireError(`give all four offline limit flags or none, got only ${given.map((name) => `--${name}`).join(", ")}`, ErrorCode.ConfigInvalid);
  }
  const integer = (name: keyof typeof offlineLimitFlags) => integerFlag(values[name], name, 1, Number.MAX_SAFE_INTEGER);
  return checkedOfflineLimits({
    saleMaxMinor: integer("offline-sale-max-minor"),
    totalMaxMinor: integer("offline-total-max-minor"),
    countMax: integer("offline-count-max"),
    ageMsMax: integer("offline-age-max-ms"),
  });
}

export function describeOfflineLimits(limits: OfflineLimits | undefined): string {
  if (limits === undefined) return "offline sales off";
  return `offline sale ≤ ${limits.saleMaxMinor}, total ≤ ${limits.totalMaxMinor}, count ≤ ${limits.countMax}, age ≤ ${limits.ageMsMax} ms`;
}

export async function merchantSetOfflineCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "merchant-id": { type: "string" }, off: { type: "boolean" }, ...offlineLimitFlags });
  const merchantId = requireFlag(values["merchant-id"], "merchant-id");
  const limits = offlineLimitsFromFlags(values);
  if ((limits === undefined) === (values.off !== true)) {
    throw new TapwireError("give either the four offline limit flags or --off", ErrorCode.ConfigInvalid);
  }
  const merchant = await withAdmin(values["data-dir"], (service) => service.registry.setOfflineLimits(merchantId, limits));
  process.stdout.write(`merchant ${merchant.merchantId}: ${describeOfflineLimits(merchant.offlineLimits)}\n`);
  return 0;
}

function lossLine(loss: OfflineLoss): string {
  return [
    new Date(loss.recordedAtMs).toISOString(),
    loss.hubId,
    loss.requestId,
    `merchant ${loss.merchantId}`,
    `wallet ${loss.walletId}`,
    formatMoney({ amountMinor: loss.amountMinor, currency: loss.currency }),
    `E${loss.code} ${errorCodeName(loss.code)}`,
    `captured ${new Date(loss.capturedAtMs).toISOString()}`,
    loss.reason,
  ].join("\t");
}

export async function offlineLossesCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "merchant-id": { type: "string" } });
  const dataDir = values["data-dir"];
  const merchantId = values["merchant-id"];
  const losses = await withAdmin(dataDir, (service) => service.offlineLosses(merchantId === undefined ? {} : { merchantId }));
  for (const loss of losses) process.stdout.write(`${lossLine(loss)}\n`);
  return 0;
}
