import { join } from "node:path";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { SettlementNode } from "../../broker/settlement-node.ts";
import type { TapHubView } from "../../device/tap-hub.ts";
import type { TapMode } from "../../device/tap/tap-machine.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { SimulatedTapHub } from "../scenarios/tap/simulated-tap-hub.ts";
import { codeText, money, type Narrator, type SceneResult } from "./narrator.ts";

const waitMs = 10_000;

/** The tap hub's journal in the demo's folder; `keepSelling` reopens it so the hub's sequence goes on. */
export function tapHubJournalFile(workDir: string): string {
  return join(workDir, "tap-hub-journal.sqlite");
}

export interface TapScenesInput {
  node: SettlementNode;
  hub: EnrolmentBundle;
  wallet: EnrolmentBundle;
  merchantId: string;
  workDir: string;
  narrator: Narrator;
}

/**
 * A tap hub on virtual hardware (PN532 on a mock serial port, johnny-five panel on a virtual Firmata board),
 * talking to the settlement node over mTLS MQTT: one approved payment in each mode (tap, tag, scanned payment
 * code), a replayed code and an overdrawn wallet declined, one sale cancelled with the button.
 */
export async function runTapScenes(input: TapScenesInput): Promise<void> {
  const { narrator } = input;
  narrator.heading("Tap hub: NFC phone payments (virtual PN532, virtual LED panel, real drivers and machines)");
  const hub = new SimulatedTapHub({
    brokerUrl: input.node.url,
    hub: input.hub,
    wallet: input.wallet,
    merchantId: input.merchantId,
    journalFile: tapHubJournalFile(input.workDir),
    timing: { tapTimeoutMs: 5_000, resultDisplayMs: 400 },
  });
  let lastState = "";
  hub.on("state", (view) => {
    if (view.tap.state === lastState) return;
    lastState = view.tap.state;
    narrator.step(`   hub ${view.hub.padEnd(12)} tap ${describe(view)}`);
  });
  await hub.start();
  try {
    await hub.waitFor((view) => view.hub === "ready" && view.tap.online && view.tap.state === "idle", waitMs);
    await hub.board.waitUntil(() => hub.panelView().blue, waitMs);
    narrator.step(`tap hub ${hub.hubId} online: blue LED on`);

    const approved = { status: "approved", code: 0 };
    await sale(hub, narrator, "reader mode (HCE phone)", 450, "reader", () => hub.placePhone(hub.hcePhone()), approved);
    hub.removePhone();
    await sale(hub, narrator, "tag mode (phone reads the hub's signed offer, pays online)", 320, "tag", () => hub.placePhone(hub.tagPhone()), approved);
    hub.removePhone();
    const code = hub.walletCode();
    await sale(hub, narrator, "payment code: the phone shows the wallet's QR code, the counter's USB scanner reads it", 280, "reader", () => hub.scanner.scan(code), approved);
    const replayed = { status: "declined", code: ErrorCode.NonceReplayed };
    await sale(hub, narrator, "the same payment code scanned again (a screenshot)", 280, "reader", () => hub.scanner.scan(code), replayed);
    const overdrawn = { status: "declined", code: ErrorCode.InsufficientFunds };
    await sale(hub, narrator, "reader mode, more than the wallet holds", 19_000, "reader", () => hub.placePhone(hub.hcePhone(10)), overdrawn);
    hub.removePhone();
    const cancelled = { status: "cancelled", code: ErrorCode.Cancelled };
    await sale(hub, narrator, "cancel button pressed while waiting for the tap", 600, "reader", () => void hub.pressCancel(), cancelled);
  } finally {
    await hub.stop();
  }
}

const resultLed: Record<string, "green" | "red"> = { approved: "green", declined: "red", failed: "red" };
const resultBeeps: Record<string, number> = { approved: 1, declined: 2, failed: 3 };

function describe(view: TapHubView): string {
  const sale = view.tap.sale ? ` ${money(view.tap.sale.amountMinor, view.tap.sale.currency)} (${view.tap.sale.mode})` : "";
  return `${view.tap.state}${sale}${codeText(view.tap.lastDecisionCode)}`;
}

/** One narrated sale at the tap hub: set the amount, act (a tap, a scan, a button), wait for the result and its panel. */
export async function sale(hub: SimulatedTapHub, narrator: Narrator, scene: string, amountMinor: number, mode: TapMode, act: () => void, expected: SceneResult): Promise<void> {
  await hub.waitFor((view) => view.tap.state === "idle", waitMs);
  narrator.step(`-- ${scene}: ${money(amountMinor, "EUR")}`);
  hub.setAmount(amountMinor, "EUR", mode);
  await hub.waitFor((view) => view.tap.state === "waitingForTap", waitMs);
  const beepsBefore = hub.panelView().beeps;
  act();
  const final = await hub.waitFor((view) => ["approved", "declined", "cancelled", "timedOut", "failed"].includes(view.tap.state), waitMs);
  // The panel follows over Firmata a moment later: wait for the result's LED (none for a cancel) and its beeps.
  const led = resultLed[final.tap.state];
  const beeps = resultBeeps[final.tap.state] ?? 0;
  await hub.board.waitUntil(() => (led === undefined || hub.panelView()[led]) && hub.panelView().beeps >= beepsBefore + beeps, waitMs);
  narrator.record(scene, expected, { status: final.tap.state, code: final.tap.lastDecisionCode ?? 0 });
  narrator.step(`   panel: ${led ?? "no"} LED, ${hub.panelView().beeps - beepsBefore} beep(s); reason: ${final.tap.reason ?? "-"}`);
}
