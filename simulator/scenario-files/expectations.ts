import { errorCodeName } from "../../protocol/errors.ts";
import { checkInvariants } from "../explore/invariants.ts";
import type { SimWorld } from "../world/world.ts";
import { glassesHub, tapHub, type StepContext } from "./actions.ts";
import type { Check } from "./expect-schema.ts";

/** Whether a check holds now, and what was found (for the message when it does not). */
export interface Finding {
  holds: boolean;
  found: string;
}

/** Violations an `invariants` finding lists. */
const violationsShownMax = 5;

const codeText = (code: number | undefined) => (code === undefined ? "-" : `${code}${code === 0 ? "" : ` ${errorCodeName(code)}`}`);

/** Compares the fields a check names with what was found; fields it leaves out are not compared. */
function compare(wanted: Record<string, unknown>, found: Record<string, unknown>): Finding {
  const holds = Object.entries(wanted).every(([key, value]) => value === undefined || JSON.stringify(value) === JSON.stringify(found[key]));
  const text = Object.entries(found)
    .map(([key, value]) => `${key}=${key === "code" || key === "refusal" ? codeText(value as number | undefined) : JSON.stringify(value ?? null)}`)
    .join(" ");
  return { holds, found: text };
}

const down = (what: string): Finding => ({ holds: false, found: `${what} is not running` });

/** Evaluates one check against the world as it is now. */
export function evaluate(check: Check, context: StepContext): Finding {
  const { world, records } = context;
  switch (check.name) {
    case "hub": {
      const { id, ...wanted } = check.spec;
      const hub = tapHub(context, id);
      if (!hub.started) return down(`hub ${id}`);
      const view = hub.view();
      const panel = records.panel(id);
      return compare(wanted, {
        state: view.tap.state,
        link: view.hub,
        led: panel.led,
        beeps: panel.beeps,
        online: view.tap.online,
        readerPresent: view.tap.readerPresent,
        clockWrong: view.tap.clockWrong,
        refusal: view.tap.refusal?.code,
      });
    }
    case "sale": {
      const { ref, hub: hubId, ...wanted } = check.spec;
      const sale = records.sale({ ref, hub: hubId });
      if (sale === undefined) return { holds: false, found: "no sale step has run yet" };
      const owner = hubId ?? records.hubOfSale(sale);
      const hub = tapHub(context, owner);
      const saleId = records.saleIdOf(owner, sale);
      const outcome = saleId !== undefined && hub.started ? hub.journal.sale(saleId)?.outcome : undefined;
      return compare(wanted, { status: sale.status, code: sale.code, outcome });
    }
    case "lastSale": {
      const hub = tapHub(context, check.spec.hub);
      if (!hub.started) return down(`hub ${check.spec.hub}`);
      const last = hub.view().tap.lastSale;
      return compare({ outcome: check.spec.outcome, code: check.spec.code }, { outcome: last?.outcome, code: last?.code });
    }
    case "agent": {
      const decision = records.payment(check.spec.payment)?.decision;
      return compare({ status: check.spec.status, code: check.spec.code }, { status: decision?.status, code: decision?.code });
    }
    case "purchase": {
      const outcome = records.purchase(check.spec);
      return compare({ outcome: check.spec.outcome, code: check.spec.code }, { outcome: outcome?.kind, code: outcome?.code });
    }
    case "glassesLink":
      return compare({ state: check.spec.state }, { state: glassesHub(context, check.spec.glasses).bleState });
    case "journalEmpty":
      return journalEmpty(world, check.spec);
    case "offlineBacklog": {
      const hub = tapHub(context, check.spec.hub);
      if (!hub.started) return down(`hub ${check.spec.hub}`);
      const backlog = hub.view().offlineBacklog;
      return compare({ count: check.spec.count, total: check.spec.total?.amountMinor }, { count: backlog.count, total: backlog.totalMinor });
    }
    default:
      return evaluateService(check, world);
  }
}

function journalEmpty(world: SimWorld, hubId: string): Finding {
  const hub = [...world.hubs, ...world.glassesHubs].find((candidate) => candidate.hubId === hubId)!;
  if (!hub.started) return down(`hub ${hubId}`);
  const open = hub.journal.openRequests().length;
  const pending = hub.journal.pendingSales(1).length;
  return { holds: open === 0 && pending === 0, found: `${open} open request(s), ${pending > 0 ? "a pending sale" : "no pending sale"}` };
}

type ServiceCheck = Extract<Check, { name: "balances" | "losses" | "payments" | "mandate" | "invariants" }>;

/** The checks that ask the settlement service (balances, losses, payments, mandates) or the whole world (invariants). */
function evaluateService(check: ServiceCheck, world: SimWorld): Finding {
  if (check.name === "invariants") return invariantsHold(world);
  if (!world.settlement.running) return down("the settlement service");
  const service = world.settlement.service;
  switch (check.name) {
    case "balances": {
      const wanted = Object.fromEntries(Object.entries(check.spec).map(([account, money]) => [account, money.amountMinor]));
      const found = Object.fromEntries(Object.keys(check.spec).map((account) => [account, service.ledger.findAccount(account)?.balanceMinor ?? 0]));
      return compare(wanted, found);
    }
    case "losses":
      return compare({ count: check.spec.count }, { count: service.offlineLosses(check.spec.merchant === undefined ? {} : { merchantId: check.spec.merchant }).length });
    case "payments": {
      const payments = service.paymentsOf(check.spec.merchant);
      const count = (status: string) => payments.filter((payment) => payment.status === status).length;
      return compare({ captured: check.spec.captured, reversed: check.spec.reversed }, { captured: count("captured"), reversed: count("reversed") });
    }
    case "mandate": {
      const mandate = service.findMandate(check.spec.id);
      return compare({ spent: check.spec.spent?.amountMinor, status: check.spec.status }, { spent: mandate?.spentMinor, status: mandate?.status });
    }
  }
}

/** Only a settled world is judged: before that, open requests are work in progress, not violations. */
function invariantsHold(world: SimWorld): Finding {
  if (!world.settlement.running || !world.quiescent()) return { holds: false, found: "the world has not settled (requests in flight, hubs busy or down)" };
  const violations = checkInvariants(world);
  const shown = violations.slice(0, violationsShownMax).map((violation) => `${violation.invariant}: ${violation.detail}`);
  return { holds: violations.length === 0, found: violations.length === 0 ? "every invariant holds" : shown.join("; ") };
}
