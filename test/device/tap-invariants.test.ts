import { describe, expect, it } from "vitest";
import { createActor, type Actor } from "xstate";
import { merchantAccountId, walletAccountId } from "../../broker/ledger/ledger.ts";
import type { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { SeededRandom, VirtualClock } from "../../core/sources.ts";
import { HubJournal } from "../../device/journal/hub-journal.ts";
import { ClockWatch } from "../../device/link/clock-watch.ts";
import { Outbox } from "../../device/link/outbox.ts";
import { RequestSealer } from "../../device/link/sealer.ts";
import { tapMachine, type TapMode } from "../../device/tap/tap-machine.ts";
import { tapView } from "../../device/tap/tap-view.ts";
import { flush, hubId, merchantId, outboxConfig, signer } from "./fakes.ts";
import { noFaults, Phone, ServiceLink, startService, walletFundMinor, walletId, type LinkFaults } from "./service-link.ts";
import { FakeIndicator, FakeReader, tapConfig } from "./tap-fakes.ts";

const runs = 60;
const stepsMax = 150;
const salesMax = 6;
const drainStepMs = 5_000;
/** Long enough for a reversal's envelope to expire and be replaced several times (reversalTtlMs is 5 min). */
const drainStepsMax = 600;

const faults: LinkFaults = { dropRequestPct: 15, stallRequestPct: 15, duplicateRequestPct: 10, dropDecisionPct: 15, duplicateDecisionPct: 10, stallMsMax: 90_000 };

/**
 * A tap hub as TapHub assembles it (journal, sealer, outbox, tap machine, all production defaults), over the real
 * settlement service through a faulty link. It remembers every payment it showed as approved.
 */
class FieldHub {
  readonly journal: HubJournal;
  readonly reader = new FakeReader();
  readonly indicator = new FakeIndicator();
  readonly shownApproved = new Set<string>();
  /** Sales the panel ended as not charged (declined, cancelled, timed out). */
  readonly shownNotCharged = new Set<string>();
  /** Every sale the machine journaled (its request, or its last sale after a reboot). */
  readonly saleIds = new Set<string>();
  actor!: Actor<typeof tapMachine>;
  private outbox!: Outbox;

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: SeededRandom,
    private readonly link: ServiceLink,
  ) {
    this.journal = HubJournal.open({ path: ":memory:", clock });
    this.boot();
  }

  boot(): void {
    const { journal, clock, random, link: settlement, reader, indicator } = this;
    const sealer = new RequestSealer({ journal, signer, clock, random, identity: { hubId, merchantId } });
    const clockWatch = new ClockWatch(clock);
    this.outbox = new Outbox({ hubId, journal, sealer, settlement, clock, timers: clock, random, clockWatch, config: outboxConfig });
    this.outbox.start();
    const ports = { reader, indicator, settlement, outbox: this.outbox, sealer, clockWatch, random };
    this.actor = createActor(tapMachine, { clock, input: { ports, config: tapConfig(), lastSale: journal.lastSale() } });
    this.actor.subscribe((snapshot) => {
      if (snapshot.context.request) this.saleIds.add(snapshot.context.request.saleId);
      if (snapshot.context.lastSale) this.saleIds.add(snapshot.context.lastSale.saleId);
      if (snapshot.matches("approved")) this.shownApproved.add(snapshot.context.request!.requestId);
      const notCharged = snapshot.matches("declined") || snapshot.matches("cancelled") || snapshot.matches("timedOut");
      if (notCharged && snapshot.context.request) this.shownNotCharged.add(snapshot.context.request.saleId);
      const last = snapshot.context.lastSale;
      if (snapshot.matches("showingLastSale") && last?.outcome === "approved") this.shownApproved.add(last.paymentRequestId);
    });
    this.actor.start();
  }

  powerCut(): void {
    this.actor.stop();
    this.outbox.stop();
  }

  state(): string {
    return tapView(this.actor.getSnapshot()).state;
  }
}

/** One seeded run: sales with cancels, partitions, lost, stalled and duplicated messages, power cuts; then a drain. */
async function run(seed: number) {
  const clock = new VirtualClock();
  const service = await startService(clock);
  const link = new ServiceLink(service, clock, new SeededRandom(seed), faults);
  const phone = new Phone(service, clock);
  const hub = new FieldHub(clock, new SeededRandom(seed + 1_000), link);
  const answeredReads = new Set<unknown>();
  const answeredOffers = new Set<unknown>();
  let salesStarted = 0;

  for (let step = 0; step < stepsMax; step++) {
    const roll = link.pick(100);
    const read = hub.reader.reads.at(-1);
    const offer = hub.reader.offers.at(-1);
    if (hub.state() === "idle" && salesStarted < salesMax && roll < 60) {
      const mode: TapMode = link.chance(30) ? "tag" : "reader";
      // Up to 6 000: the wallet's per-payment limit (5 000) declines some.
      hub.actor.send({ type: "SET_AMOUNT", amountMinor: 100 + link.pick(5_900), currency: "EUR", mode });
      if (hub.state() === "waitingForTap") salesStarted += 1;
    } else if (!link.online && roll < 80) {
      if (link.chance(30)) link.setOnline(true);
      else clock.advance(link.pick(10_000));
    } else if (read && !answeredReads.has(read) && !read.input.signal.aborted && roll < 70) {
      answeredReads.add(read);
      read.answer.resolve(phone.credential(read.input));
    } else if (offer && !answeredOffers.has(offer) && !offer.input.signal.aborted && roll < 50) {
      answeredOffers.add(offer);
      offer.answer.resolve();
      link.fromWallet(phone.tagPayment(offer.input.offer));
    } else if (roll < 78) {
      hub.indicator.pressCancel();
    } else if (roll < 84) {
      link.setOnline(false);
    } else if (roll < 89) {
      hub.powerCut();
      hub.boot();
    } else {
      clock.advance(link.pick(20_000));
    }
    await flush();
  }

  link.faults = noFaults;
  link.setOnline(true);
  const drained = () => hub.journal.openRequests().length === 0 && link.inFlight === 0 && hub.state() === "idle";
  for (let step = 0; step < drainStepsMax && !drained(); step++) {
    clock.advance(drainStepMs);
    await flush();
  }
  return { service, hub, drained: drained(), salesStarted };
}

function checkMoney(service: SettlementService, hub: FieldHub): void {
  const payments = service.paymentsOf(merchantId);
  const sales = new Map(payments.map((payment) => [payment.requestId, hub.journal.sale(hub.journal.findRequest(payment.requestId)?.saleId ?? "")]));
  for (const payment of payments) {
    const sale = sales.get(payment.requestId);
    // Every payment the service took is the hub's approved sale, or was given back: exactly one of the two.
    expect(sale?.paymentRequestId, `payment ${payment.requestId} is a sale of the hub`).toBe(payment.requestId);
    expect(sale!.outcome, `sale of payment ${payment.requestId} (${payment.status})`).toBe(payment.status === "captured" ? "approved" : "reversed");
  }
  expect(new Set(payments.map((payment) => payment.requestId)).size).toBe(payments.length);
  for (const requestId of hub.shownApproved) {
    expect(payments.find((payment) => payment.requestId === requestId)?.status, `shown approved: ${requestId}`).toBe("captured");
  }

  const ledger = service.ledger;
  ledger.checkInvariants();
  const transfers = ledger.transfers({ limit: 10_000 });
  const charged = transfers.filter((transfer) => transfer.kind === "payment");
  expect(new Set(charged.map((transfer) => transfer.reference)).size).toBe(charged.length);
  const reversals = transfers.filter((transfer) => transfer.kind === "reversal");
  expect(reversals).toHaveLength(payments.filter((payment) => payment.status === "reversed").length);
  const capturedMinor = payments.filter((payment) => payment.status === "captured").reduce((sum, payment) => sum + payment.amountMinor, 0);
  expect(ledger.balanceOf(merchantAccountId(merchantId))).toBe(capturedMinor);
  expect(ledger.balanceOf(walletAccountId(walletId))).toBe(walletFundMinor - capturedMinor);
}

function checkHub(hub: FieldHub, service: SettlementService): void {
  expect(hub.journal.pendingSales(1_000), "no sale left pending").toHaveLength(0);
  const captured = new Set(service.paymentsOf(merchantId).filter((payment) => payment.status === "captured").map((payment) => payment.requestId));
  for (const saleId of hub.saleIds) {
    const sale = hub.journal.sale(saleId)!;
    // Every sale ended, and it ended approved exactly when the service kept the money.
    expect(["approved", "declined", "reversed"], `sale ${saleId}`).toContain(sale.outcome);
    expect(sale.outcome === "approved", `sale ${saleId} ${sale.outcome}`).toBe(captured.has(sale.paymentRequestId));
  }
  for (const saleId of hub.shownNotCharged) {
    const sale = hub.journal.sale(saleId)!;
    expect(captured.has(sale.paymentRequestId), `sale ${saleId} shown as not charged, yet charged`).toBe(false);
  }
}

describe("tap hub against the real settlement service, under seeded faults", () => {
  for (let seed = 1; seed <= runs; seed++) {
    it(`seed ${seed}: every charge is an approved sale or given back, exactly once; the books balance`, async () => {
      const { service, hub, drained, salesStarted } = await run(seed);
      try {
        expect(salesStarted).toBeGreaterThan(0);
        expect(drained, `seed ${seed} drained (open: ${hub.journal.openRequests().map((r) => `${r.kind}:${r.state}`).join(",")})`).toBe(true);
        checkMoney(service, hub);
        checkHub(hub, service);
      } finally {
        hub.powerCut();
        await service.stop();
        hub.journal.close();
      }
    });
  }
});
