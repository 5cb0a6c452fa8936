import { assertInRanges } from "../../core/ranges.ts";
import type { Clock, Random, Timers } from "../../core/sources.ts";
import type { CrashPoint } from "../crash.ts";
import type { HubJournal } from "../journal/hub-journal.ts";
import type { HubSigner, SettlementPort } from "../ports.ts";
import type { ClockWatch } from "./clock-watch.ts";
import { Outbox } from "./outbox.ts";
import { defaultResendConfig, resendConfigRanges, type ResendConfig } from "./outbox-config.ts";
import { RequestSealer } from "./sealer.ts";

export interface HubSendingDeps {
  identity: { hubId: string; merchantId: string };
  journal: HubJournal;
  signer: HubSigner;
  settlement: SettlementPort;
  clock: Clock;
  timers: Timers;
  random: Random;
  clockWatch: ClockWatch;
  /** Resend timing over the defaults (ConfigInvalid out of range). */
  resend?: Partial<ResendConfig>;
  /** Lifetimes of the requests the hub signs. */
  lifetimes: { requestTtlMs: number; reversalTtlMs: number };
  crashPoint?: CrashPoint;
}

/** How every hub (tap or glasses) sends: one sealer signing into the journal, one outbox resending from it. */
export function hubSending(deps: HubSendingDeps): { sealer: RequestSealer; outbox: Outbox } {
  const { identity, journal, signer, settlement, clock, timers, random, clockWatch, crashPoint } = deps;
  const resend = assertInRanges({ ...defaultResendConfig, ...deps.resend }, resendConfigRanges, "resend configuration");
  const sealer = new RequestSealer({ journal, signer, clock, random, identity });
  const outbox = new Outbox({
    hubId: identity.hubId,
    journal,
    sealer,
    settlement,
    clock,
    timers,
    random,
    clockWatch,
    ...(crashPoint ? { crashPoint } : {}),
    config: { ...resend, ...deps.lifetimes },
  });
  return { sealer, outbox };
}
