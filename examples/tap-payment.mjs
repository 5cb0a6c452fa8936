// A tap hub on virtual hardware paying against an embedded settlement service: an NFC phone taps, then a customer
// scans the wallet's payment code. Uses only tapwire's public entry points.
import { join } from "node:path";
import { formatMoney } from "tapwire/protocol";
import { SimulatedTapHub } from "tapwire/simulator";
import { check, startStack } from "./stack.mjs";

const waitMs = 10_000;
const stack = await startStack();
const { node } = stack;
let tapHub;
try {
  const hub = await node.enrollHub({ hubId: "h1", merchantId: "m1" });
  const wallet = await node.enrollWallet({ walletId: "w1", currency: "EUR", perPaymentMaxMinor: 50_000 });
  await node.registry.fundWallet("w1", 10_000);

  tapHub = new SimulatedTapHub({ brokerUrl: node.url, hub, wallet, merchantId: "m1", journalFile: join(stack.dataDir, "hub-journal.sqlite") });
  await tapHub.start();
  await tapHub.waitFor((view) => view.hub === "ready" && view.tap.online && view.tap.state === "idle", waitMs);

  const sale = async (amountMinor, pay) => {
    tapHub.setAmount(amountMinor, "EUR", "reader");
    await tapHub.waitFor((view) => view.tap.state === "waitingForTap", waitMs);
    pay();
    const done = await tapHub.waitFor((view) => view.tap.state === "approved" || view.tap.state === "declined", waitMs);
    console.log(`${formatMoney({ amountMinor, currency: "EUR" })}: ${done.tap.state}`);
    await tapHub.waitFor((view) => view.tap.state === "idle", waitMs);
    return done.tap.state;
  };
  check((await sale(1_250, () => tapHub.placePhone(tapHub.hcePhone()))) === "approved", "the phone's tap paid 12.50 EUR");
  tapHub.removePhone();
  check((await sale(300, () => tapHub.scanner.scan(tapHub.walletCode()))) === "approved", "the scanned payment code paid 3.00 EUR");
  check((await node.service.ledger.balanceOf("merchant:m1")) === 1_550, "the merchant holds 15.50 EUR");
} finally {
  await tapHub?.stop();
  await stack.stop();
}
