import { afterEach, describe, expect, it } from "vitest";
import type { RunningHub } from "../../cli/hub.ts";
import type { TapHubView } from "../../device/tap-hub.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { importPrivatePem } from "../../protocol/keys.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import { VirtualPn532 } from "../../simulator/pn532/virtual-pn532.ts";
import { simulatedPanelPins } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { serveOverTcp, type TcpDeviceServer } from "../../simulator/serial/serve-over-tcp.ts";
import { servedPanel, stackWithBundles, startServedHub, type Defer } from "./served-pieces.ts";
import { funded, inState, ready, startRig, until, waitMs, type Rig } from "./fixture.ts";

let cleanups: Array<() => Promise<void> | void> = [];
const defer: Defer = (cleanup) => cleanups.push(cleanup);
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** Resolves with the first view of `hub` that satisfies `predicate`; fails after waitMs. */
function viewOf(running: RunningHub, predicate: (view: TapHubView) => boolean): Promise<TapHubView> {
  const current = running.hub.view();
  if (predicate(current)) return Promise.resolve(current);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`hub view not reached within ${waitMs} ms: ${JSON.stringify(running.hub.view().tap)}`));
    }, waitMs);
    const unsubscribe = running.hub.subscribe((view) => {
      if (!predicate(view)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(view);
    });
  });
}

describe("the reader goes away and comes back (the served PN532 restarted)", () => {
  it("shows reader gone (no E509 per sale), refuses sales with ReaderGone, reopens it with backoff and sells again", async () => {
    const { stack, dir, wallet } = await stackWithBundles(defer, "tapwire-reader-gone-");
    const chip = new VirtualPn532();
    let nfcServer: TcpDeviceServer = await serveOverTcp(chip, 0);
    const nfcPort = nfcServer.port;
    defer(() => nfcServer.close());
    const { firmata, url: panelUrl } = await servedPanel(defer);
    const running = await startServedHub(defer, stack, dir, { nfcPath: nfcServer.url, panelPath: panelUrl });
    await viewOf(running, (view) => view.hub === "ready" && view.tap.state === "idle");

    await nfcServer.close();
    const gone = await viewOf(running, (view) => !view.tap.readerPresent);
    expect(gone.tap.state).toBe("idle");
    await firmata.board!.waitUntil(() => firmata.board!.ledOn(simulatedPanelPins.red) && firmata.board!.ledOn(simulatedPanelPins.amber), waitMs);
    running.hub.setAmount(500, "EUR", "reader");
    expect(running.hub.view().tap.refusal?.code).toBe(ErrorCode.ReaderGone);

    nfcServer = await serveOverTcp(chip, nfcPort);
    await viewOf(running, (view) => view.tap.readerPresent && view.tap.state === "idle");
    chip.placeInField(new HceWallet({ walletId: "w1", privateKey: importPrivatePem(wallet.keyPem!), atcStart: 1 }));
    running.hub.setAmount(500, "EUR", "reader");
    await viewOf(running, (view) => view.tap.state === "approved");

    expect(stack.node.service.paymentsOf("m1")).toHaveLength(1);
    expect(stack.node.service.ledger.balanceOf("wallet:w1")).toBe(funded - 500);
  });
});

describe("the hub's clock is wrong", () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    rig?.stack.node.service.ledger.checkInvariants();
    await rig?.close();
    rig = undefined;
  });

  it("ten minutes behind: the service refuses its fresh requests as expired; the hub says clock wrong once, charges nothing", async () => {
    rig = await startRig({ overrides: { clock: { nowMs: () => Date.now() - 600_000 } } });
    await ready(rig);
    rig.hub.setAmount(1_000, "EUR", "reader");
    rig.hub.placePhone(rig.hub.hcePhone());
    const declined = await inState(rig, "declined");
    rig.hub.removePhone();

    expect(declined.tap).toMatchObject({ lastDecisionCode: ErrorCode.MessageExpired, clockWrong: true });
    await inState(rig, "idle");
    await rig.hub.board.waitUntil(() => rig!.hub.panelView().red && rig!.hub.panelView().amber, waitMs);
    expect(rig.stack.node.service.paymentsOf("m1")).toEqual([]);
    expect(rig.walletBalance()).toBe(funded);
  });
});

describe("a sale typed while the hub is busy", () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it("gets BusyAlready, not silence, and the sale under way is not disturbed", async () => {
    rig = await startRig();
    await ready(rig);
    rig.hub.setAmount(1_200, "EUR", "reader");
    await inState(rig, "waitingForTap");
    rig.hub.setAmount(9_900, "EUR", "reader");
    expect(rig.hub.snapshot().tap).toMatchObject({ state: "waitingForTap", refusal: { code: ErrorCode.BusyAlready }, sale: { amountMinor: 1_200 } });

    rig.hub.placePhone(rig.hub.hcePhone());
    await inState(rig, "approved");
    await until(() => rig!.merchantBalance() === 1_200);
  });
});
