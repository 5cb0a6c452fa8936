import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import type { BeepPattern, IndicatorState } from "../../device/ports.ts";
import type { TapHubView } from "../../device/tap-hub.ts";
import { assert } from "../../core/assert.ts";
import type { Decision } from "../../protocol/messages.ts";
import type { SignedPayment } from "../world/sim-agent.ts";
import type { SimTapHub } from "../world/sim-tap-hub.ts";
import type { SimWorld } from "../world/world.ts";
import { saleStatuses } from "./expect-schema.ts";

/** Beeps kept per hub since its last sale step: more than any sale makes. */
const beepsMax = 64;
/** Outcomes kept per glasses hub (a scenario's purchases are far fewer). */
const outcomesMax = 1_000;

type SaleStatus = (typeof saleStatuses)[number];
const endStates = new Set<string>(saleStatuses);

/** One `sale` step: how the panel ended it, and which journal sale it opened. */
export interface SaleRecord {
  ref: string | undefined;
  mode: "reader" | "tag";
  /** How many sales the hub had opened when the step came: the next one opened is this step's. */
  saleIndex: number;
  status: SaleStatus | undefined;
  code: number | undefined;
  saleId: string | undefined;
}

interface HubRecord {
  hub: SimTapHub;
  led: IndicatorState | undefined;
  beeps: BeepPattern[];
  sales: SaleRecord[];
}

/** One agent payment step (or a resend of one): what it signed and the latest decision it got. */
export interface PaymentRecord {
  agentId: string;
  mandateId: string;
  signed: SignedPayment;
  decision: Decision | undefined;
}

/**
 * What a scenario's expectations look at besides the world's own state: per tap hub its LED, the beeps since its
 * last sale step and how each sale step ended; each agent payment step's decision (pushed outcomes included);
 * each glasses hub's purchase outcomes and which one each sighting began.
 */
export class ScenarioRecords {
  private readonly hubs = new Map<string, HubRecord>();
  private readonly payments = new Map<string, PaymentRecord>();
  private readonly outcomes = new Map<string, PurchaseOutcome[]>();
  private readonly sightings = new Map<string, { glassesId: string; outcomeIndex: number }>();

  constructor(world: SimWorld) {
    for (const hub of world.hubs) {
      const record: HubRecord = { hub, led: undefined, beeps: [], sales: [] };
      this.hubs.set(hub.hubId, record);
      hub.onPanel((event) => {
        if ("led" in event) record.led = event.led;
        else if (record.beeps.length < beepsMax) record.beeps.push(event.beep);
      });
      hub.onView((view) => this.viewed(record, view));
    }
    for (const agent of world.agents) agent.onPushed((decision) => this.pushed(decision));
    for (const hub of world.glassesHubs) {
      const outcomes: PurchaseOutcome[] = [];
      this.outcomes.set(hub.glasses.glassesId, outcomes);
      hub.onOutcome((outcome) => {
        if (outcomes.length < outcomesMax) outcomes.push(outcome);
      });
    }
  }

  saleStarted(hubId: string, ref: string | undefined, mode: SaleRecord["mode"]): void {
    const record = this.hubRecord(hubId);
    record.beeps = [];
    record.sales.push({ ref, mode, saleIndex: record.hub.saleIds.length, status: undefined, code: undefined, saleId: undefined });
  }

  /** The sale step named `ref`, or the hub's last one. */
  sale(by: { ref?: string | undefined; hub?: string | undefined }): SaleRecord | undefined {
    if (by.hub !== undefined) return this.hubRecord(by.hub).sales.at(-1);
    for (const record of this.hubs.values()) {
      const found = record.sales.find((sale) => sale.ref === by.ref);
      if (found) return found;
    }
    return undefined;
  }

  /** The sale a step opened in the journal: known once it ended, or while it is the hub's latest. */
  saleIdOf(hubId: string, sale: SaleRecord): string | undefined {
    const record = this.hubRecord(hubId);
    if (sale.saleId !== undefined || record.sales.at(-1) !== sale) return sale.saleId;
    return record.hub.saleIds[sale.saleIndex];
  }

  hubOfSale(sale: SaleRecord): string {
    const hubId = [...this.hubs].find(([, record]) => record.sales.includes(sale))?.[0];
    assert(hubId !== undefined, "every sale record belongs to a hub");
    return hubId;
  }

  panel(hubId: string): { led: IndicatorState | undefined; beeps: readonly BeepPattern[] } {
    return this.hubRecord(hubId);
  }

  paymentSigned(ref: string, record: PaymentRecord): void {
    this.payments.set(ref, record);
  }

  payment(ref: string): PaymentRecord | undefined {
    return this.payments.get(ref);
  }

  sighted(ref: string | undefined, glassesId: string): void {
    if (ref !== undefined) this.sightings.set(ref, { glassesId, outcomeIndex: this.outcomes.get(glassesId)!.length });
  }

  /** The outcome of the purchase a sighting began, or the glasses' latest. */
  purchase(by: { ref?: string | undefined; glasses?: string | undefined }): PurchaseOutcome | undefined {
    if (by.glasses !== undefined) return this.outcomes.get(by.glasses)?.at(-1);
    const sighting = this.sightings.get(by.ref!);
    return sighting && this.outcomes.get(sighting.glassesId)?.[sighting.outcomeIndex];
  }

  private viewed(record: HubRecord, view: TapHubView): void {
    const sale = record.sales.at(-1);
    if (sale === undefined || sale.status !== undefined || !endStates.has(view.tap.state)) return;
    sale.status = view.tap.state as SaleStatus;
    sale.code = view.tap.lastDecisionCode;
    sale.saleId = record.hub.saleIds[sale.saleIndex];
  }

  /** A pushed outcome replaces the held decision of every step that sent that payment. */
  private pushed(decision: Decision): void {
    for (const record of this.payments.values()) if (record.signed.requestId === decision.requestId) record.decision = decision;
  }

  private hubRecord(hubId: string): HubRecord {
    const record = this.hubs.get(hubId);
    assert(record !== undefined, `no tap hub ${hubId}, though the file was checked`);
    return record;
  }
}
