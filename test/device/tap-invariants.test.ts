import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { openSealed } from "../../protocol/envelope.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { hubRequestSchema } from "../../protocol/messages.ts";
import { SeededRandom } from "../../protocol/sources.ts";
import { tapMachine, tapView } from "../../device/tap/tap-machine.ts";
import { credential, decision, flush, offline, tapConfig, tapRig } from "./fakes.ts";

const runs = 60;
const stepsMax = 25;
const drainStepsMax = 40;

/**
 * Seeded runs of random cancels, link flaps, lost, late, foreign and declined decisions against the reader
 * flow. Whatever happens: the hub shows approved only on the service's approval of its own request, and a
 * sale that ends any other way after its payment left the hub, unless the service declined that payment,
 * has a reversal approved or still queued for resending.
 */
describe("tap machine invariants under random faults", () => {
  for (let seed = 1; seed <= runs; seed++) {
    it(`seed ${seed}: no silent charge, no approval without the service`, async () => {
      const random = new SeededRandom(seed);
      const pick = (n: number) => random.bytes(1)[0]! % n;
      const rig = tapRig();
      const actor = createActor(tapMachine, { input: { ports: rig.ports, config: tapConfig(), online: true }, clock: rig.simulated });
      const visited: string[] = [];
      actor.subscribe((snapshot) => visited.push(tapView(snapshot).state));
      actor.start();
      const answered = new Set<object>();
      const approvedRequests = new Set<string>();
      const declinedRequests = new Set<string>();
      const answerOne = (approveOnly: boolean) => {
        const open = [...rig.settlement.sent, ...rig.settlement.awaited].filter((call) => !answered.has(call));
        const call = open[pick(Math.max(open.length, 1))];
        if (!call) return;
        answered.add(call);
        // The service accepts every well-formed reversal (it also voids payments that never arrived); only
        // the link can fail one.
        const isReversal = call.requestId !== rig.settlement.sent[0]?.requestId;
        const drawn = approveOnly ? 0 : pick(4);
        const choice = isReversal && drawn === 1 ? 2 : drawn;
        if (choice === 0) {
          approvedRequests.add(call.requestId);
          call.answer.resolve(decision(call.requestId));
        } else if (choice === 1) {
          declinedRequests.add(call.requestId);
          call.answer.resolve(decision(call.requestId, "declined", ErrorCode.InsufficientFunds));
        }
        else if (choice === 2) call.answer.reject(offline());
        else call.answer.resolve(decision("foreign-request"));
      };

      actor.send({ type: "SET_AMOUNT", amountMinor: 990, currency: "EUR", mode: "reader" });
      rig.reader.reads[0]!.answer.resolve(credential);
      await flush();
      for (let step = 0; step < stepsMax; step++) {
        const action = pick(5);
        if (action === 0) actor.send({ type: "CANCEL" });
        else if (action === 1) {
          const online = pick(2) === 0;
          rig.settlement.setOnline(online);
          actor.send({ type: "LINK", online });
        } else if (action === 2) rig.simulated.increment(1 + pick(20) * 1_000);
        else answerOne(false);
        await flush();
      }
      rig.settlement.setOnline(true);
      actor.send({ type: "LINK", online: true });
      for (let step = 0; step < drainStepsMax && tapView(actor.getSnapshot()).state !== "idle"; step++) {
        answerOne(true);
        rig.simulated.increment(30_000);
        await flush();
      }

      expect(tapView(actor.getSnapshot()).state).toBe("idle");
      const bodies = rig.settlement.sent.map((call) => openSealed(call.payload, rig.publicKey, hubRequestSchema).body);
      const payment = bodies.find((body) => body.type === "payment_request");
      const reversals = rig.settlement.sent.filter((_, i) => bodies[i]!.type === "reversal");
      if (visited.includes("approved")) {
        expect(payment && approvedRequests.has(payment.requestId)).toBe(true);
        expect(reversals).toHaveLength(0);
      } else if (payment && !declinedRequests.has(payment.requestId)) {
        // The service may hold it (and charged it if it approved): the hub must have undone it.
        const undone = reversals.some((call) => approvedRequests.has(call.requestId) || rig.outbox.has(call.requestId));
        expect(undone).toBe(true);
      }
    });
  }
});
