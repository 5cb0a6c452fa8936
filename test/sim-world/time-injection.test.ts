import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RevocationWatch } from "../../broker/revocation-watch.ts";
import { SettlementService } from "../../broker/settlement/settlement-service.ts";
import { timersScheduler } from "../../firmware-bridge/gpio/scheduler.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256, publicKeyPem } from "../../protocol/keys.ts";
import { ManualClock, VirtualClock } from "../../core/sources.ts";
import type { Principal } from "../../protocol/topics.ts";
import { Narrator } from "../../simulator/demo/narrator.ts";
import { settle } from "../../simulator/world/sim-loop.ts";
import { memoryBackedDir } from "../../simulator/world/world.ts";
import { openHarness, rejectionCode } from "../nfc/harness.ts";

describe("time is injected wherever it is read (house rule 4)", () => {
  it("PN532 driver: a command crosses the mock serial binding with no time passing, and a silent chip times out in virtual time only", async () => {
    const clock = new VirtualClock();
    const harness = await openHarness({ timers: clock, clock, ackTimeoutMs: 5_000, retriesMax: 3, retryBackoffMs: 1_000 });
    const started = harness.pn532.start();
    await settle();
    await started;
    expect((await harness.pn532.getFirmwareVersion()).ic).toBe(0x32);
    expect(clock.nowMs()).toBe(new VirtualClock().nowMs());

    harness.chip.setFaults({ silentCommands: 100 });
    const realStartMs = performance.now();
    const failure = rejectionCode(harness.pn532.getFirmwareVersion());
    for (let step = 0; step < 20; step++) {
      await settle();
      if (clock.nextDueMs === undefined) break;
      clock.advance(clock.nextDueMs - clock.nowMs(), 1);
    }
    expect(await failure).toBe(ErrorCode.NfcTimeout);
    // Four ACK waits of 5 s and backoffs of 1, 2 and 4 s: 27 s of virtual time, nearly none of real time.
    expect(clock.nowMs() - new VirtualClock().nowMs()).toBe(27_000);
    expect(performance.now() - realStartMs).toBeLessThan(5_000);
    await harness.close();
  });

  it("GPIO scheduler over injected timers: callbacks run at their virtual due time; a cancelled one never runs", () => {
    const clock = new VirtualClock();
    const scheduler = timersScheduler(clock);
    const ran: string[] = [];
    scheduler.after(50, () => ran.push("debounced"));
    const cancelled = scheduler.after(20, () => ran.push("cancelled"));
    scheduler.cancel(cancelled);

    clock.advance(49);
    expect(ran).toEqual([]);
    clock.advance(1);
    expect(ran).toEqual(["debounced"]);
    expect(clock.pending).toBe(0);
  });

  it("settlement sweep: a one-shot on the service's timers, re-armed after each sweep, gone after stop", async () => {
    const clock = new VirtualClock();
    const service = new SettlementService({ databasePath: ":memory:", serviceKey: generateP256().privateKey, clock, timers: clock, verifyWorkers: 0, review: { sweepIntervalMs: 1_000 } });
    await service.start();
    expect(clock.nextDueMs).toBe(clock.nowMs() + 1_000);

    clock.advance(1_000);
    expect(clock.nextDueMs).toBe(clock.nowMs() + 1_000);
    await service.stop();
    expect(clock.pending).toBe(0);
  });

  it("revocation watch: a hub revoked by another process is dropped at the next poll of virtual time", async () => {
    const dir = mkdtempSync(join(memoryBackedDir(), "tapwire-revocation-"));
    const clock = new VirtualClock();
    const serviceKey = generateP256().privateKey;
    const open = async () => {
      const service = new SettlementService({ databasePath: join(dir, "ledger.sqlite"), serviceKey, clock, timers: clock, verifyWorkers: 0 });
      await service.start();
      return service;
    };
    const running = await open();
    running.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
    running.registry.enrollHub({ hubId: "h1", merchantId: "m1", publicKeyPem: publicKeyPem(generateP256().publicKey), certificateSerial: "s1" });
    const dropped: Principal[] = [];
    const watch = new RevocationWatch(running.registry, (principal) => dropped.push(principal), 1_000, clock);
    watch.start();

    clock.advance(1);
    const admin = await open();
    admin.registry.revokeHub("h1");
    await admin.stop();
    clock.advance(998);
    expect(dropped).toEqual([]);
    clock.advance(1_000);
    expect(dropped).toEqual([{ kind: "hub", id: "h1" }]);

    watch.stop();
    await running.stop();
    expect(clock.pending).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("demo narrator: the time since the start comes from the clock it is given", () => {
    const clock = new ManualClock();
    const lines: string[] = [];
    const narrator = new Narrator((line) => lines.push(line), undefined, clock);
    clock.advance(1_500);
    narrator.step("tap");
    expect(lines).toEqual(["[  1.50s] tap"]);
  });
});
