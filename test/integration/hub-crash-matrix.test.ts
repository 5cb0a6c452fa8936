import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CrashStep } from "../../device/crash.ts";
import type { SaleOutcome } from "../../device/journal/hub-journal.ts";
import { HubLink } from "../../firmware-bridge/mqtt/hub-link.ts";
import { importPrivatePem } from "../../protocol/keys.ts";
import { systemClock } from "../../core/sources.ts";
import { linkOptionsFor } from "../../sdk/client-link.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import { TagReadingWallet } from "../../simulator/phones/tag-reading-wallet.ts";
import { VirtualPn532 } from "../../simulator/pn532/virtual-pn532.ts";
import { FirmataSerialDevice } from "../../simulator/scenarios/tap/firmata-serial-device.ts";
import { simulatedPanelPins } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { serveOverTcp, type TcpDeviceServer } from "../../simulator/serial/serve-over-tcp.ts";
import { WalletClient } from "../../simulator/wallet-client/wallet-client.ts";
import { TestStack } from "../e2e/stack.ts";
import { writeBundle } from "../tap-hub/bundles.ts";
import { fastLink, fastResend, fastTiming } from "../tap-hub/fixture.ts";
import { TcpFaultProxy } from "../tap-hub/tcp-fault-proxy.ts";
import { CliProcess } from "./settle-process.ts";

/**
 * The real `tapwire hub` process, against served PN532 and Firmata simulators and a real settlement node,
 * SIGKILLed at each step of a sale (TAPWIRE_CRASH_AT, or from outside once the phone was told "approved"), then
 * started again on the same journal. Whatever the step: every payment the service approved is either the hub's
 * approved sale or reversed, exactly once; nothing is charged twice; the ledger sums to zero.
 */
const fundedMinor = 100_000;
const processWaitMs = 20_000;

let stack: TestStack;
let dir: string;
let proxy: TcpFaultProxy;
let chip: VirtualPn532;
let servers: TcpDeviceServer[] = [];
let walletLink: HubLink;
let walletClient: WalletClient;
let hcePhone: HceWallet;
const running: CliProcess[] = [];
const matrix: string[] = [];

beforeAll(async () => {
  stack = await TestStack.start();
  const { hub, wallet } = await stack.enrolDefaults(fundedMinor);
  dir = mkdtempSync(join(tmpdir(), "tapwire-crash-"));
  writeBundle(join(dir, "hub"), hub);
  proxy = await TcpFaultProxy.start(Number(new URL(stack.node.url).port));
  chip = new VirtualPn532();
  const firmata = new FirmataSerialDevice();
  servers = [await serveOverTcp(chip, 0), await serveOverTcp(firmata, 0)];
  writeFileSync(
    join(dir, "hub.json"),
    JSON.stringify({
      hubId: "h1",
      merchantId: "m1",
      broker: { url: proxy.url, caFile: "hub/ca.pem", certFile: "hub/cert.pem", keyFile: "hub/key.pem", servicePublicKeyFile: "hub/service.pub.pem" },
      nfc: { path: servers[0]!.url, apduTimeoutMs: 300 },
      panel: { path: servers[1]!.url, pins: simulatedPanelPins, debounceMs: 15, readyTimeoutMs: 3_000 },
      journalFile: "journal.sqlite",
      timings: { ...fastTiming, ...fastLink, ...fastResend },
    }),
  );
  walletLink = new HubLink(linkOptionsFor(wallet, stack.node.url));
  walletLink.start();
  await walletLink.waitConnected(5_000);
  const walletKey = importPrivatePem(wallet.keyPem!);
  walletClient = new WalletClient({ walletId: "w1", privateKey: walletKey, link: walletLink, clock: systemClock, decisionTimeoutMs: 5_000 });
  hcePhone = new HceWallet({ walletId: "w1", privateKey: walletKey, atcStart: 1 });
});

afterAll(async () => {
  for (const child of running) child.signal("SIGKILL");
  await walletLink?.stop();
  for (const server of servers) await server.close();
  await proxy?.close();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(["crash matrix (step × outcome):", ...matrix].join("\n"));
});

function startHub(crashAt?: CrashStep): CliProcess {
  const hub = CliProcess.spawn(["hub", "--config", join(dir, "hub.json")], { stdin: true, env: crashAt ? { TAPWIRE_CRASH_AT: crashAt } : {} });
  running.push(hub);
  return hub;
}

/** What the hub's journal says became of the sale of `amountMinor` (each case sells a different amount). */
function hubOutcome(amountMinor: number): SaleOutcome | undefined {
  const db = new Database(join(dir, "journal.sqlite"), { readonly: true });
  try {
    const row = db.prepare("SELECT outcome FROM sales WHERE amount_minor = ?").get(amountMinor) as { outcome: SaleOutcome } | undefined;
    return row?.outcome;
  } finally {
    db.close();
  }
}

function serviceStatus(amountMinor: number): string {
  const payments = stack.node.service.paymentsOf("m1").filter((payment) => payment.amountMinor === amountMinor);
  expect(payments.length).toBeLessThanOrEqual(1);
  return payments[0]?.status ?? "none";
}

/** After the restart: the sale reached an outcome and the journal holds nothing still waiting. */
async function settled(hub: CliProcess, amountMinor: number): Promise<SaleOutcome | undefined> {
  const deadlineMs = Date.now() + processWaitMs;
  for (;;) {
    const outcome = hubOutcome(amountMinor);
    if (outcome !== "pending" && hub.stdout.includes(": idle")) return outcome;
    if (Date.now() > deadlineMs) throw new Error(`sale of ${amountMinor} not settled: ${hub.describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Case {
  step: CrashStep | "phone told approved";
  mode: "reader" | "tag";
  amountMinor: number;
  /** Where the sale must end: on the hub, and at the service. */
  expected: { hub: SaleOutcome | undefined; service: "captured" | "reversed" | "none" };
}

const cases: Case[] = [
  { step: "reading", mode: "reader", amountMinor: 1_001, expected: { hub: undefined, service: "none" } },
  { step: "sealed", mode: "reader", amountMinor: 1_002, expected: { hub: "approved", service: "captured" } },
  { step: "sent", mode: "reader", amountMinor: 1_003, expected: { hub: "approved", service: "captured" } },
  { step: "decided", mode: "reader", amountMinor: 1_004, expected: { hub: "approved", service: "captured" } },
  { step: "reversing", mode: "reader", amountMinor: 1_005, expected: { hub: "reversed", service: "reversed" } },
  { step: "sealed", mode: "tag", amountMinor: 1_006, expected: { hub: "reversed", service: "none" } },
  { step: "decided", mode: "tag", amountMinor: 1_007, expected: { hub: "approved", service: "captured" } },
  { step: "phone told approved", mode: "tag", amountMinor: 1_008, expected: { hub: "approved", service: "captured" } },
];

describe("tapwire hub killed (SIGKILL) at each step of a sale, then restarted on the same journal", () => {
  for (const c of cases) {
    it(`${c.mode} sale, killed at "${c.step}": hub ${c.expected.hub ?? "no sale"}, service ${c.expected.service}`, async () => {
      const external = c.step === "phone told approved";
      const first = startHub(external ? undefined : (c.step as CrashStep));
      await first.waitOutput(/hub ready, online: idle/, processWaitMs);
      // A reversal needs a decision that never comes: hold the service's answers until the hub is gone.
      if (c.step === "reversing" || external) proxy.hold("down");
      if (c.mode === "reader") {
        chip.placeInField(hcePhone);
      } else {
        chip.placeInField(
          new TagReadingWallet({
            apduTimeoutMs: 300,
            onOffer: async (offer) => {
              const paid = await walletClient.pay(offer);
              if (external && paid.decision.status === "approved") first.signal("SIGKILL");
            },
          }),
        );
      }
      first.write(`${(c.amountMinor / 100).toFixed(2)} EUR ${c.mode}\n`);
      await first.waitExit(processWaitMs);
      chip.removeFromField();
      expect(first.exitSignal).toBe("SIGKILL");
      proxy.release("down");

      const second = startHub();
      const outcome = await settled(second, c.amountMinor);
      second.write("quit\n");
      await second.waitExit(processWaitMs);

      const service = serviceStatus(c.amountMinor);
      matrix.push(`  ${c.mode.padEnd(6)} ${c.step.padEnd(20)} hub: ${(outcome ?? "no sale").padEnd(10)} service: ${service}`);
      expect({ hub: outcome, service }).toEqual(c.expected);
      stack.node.service.ledger.checkInvariants();
    });
  }

  it("nothing was charged twice: the wallet paid exactly the captured sales", () => {
    const captured = stack.node.service
      .paymentsOf("m1")
      .filter((payment) => payment.status === "captured")
      .reduce((sum, payment) => sum + payment.amountMinor, 0);
    expect(stack.node.service.ledger.balanceOf("wallet:w1")).toBe(fundedMinor - captured);
    expect(stack.node.service.ledger.balanceOf("merchant:m1")).toBe(captured);
  });
});
