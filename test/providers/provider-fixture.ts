import { generateP256, publicKeyPem, type KeyPair } from "../../protocol/keys.ts";
import { VirtualClock } from "../../core/sources.ts";
import type { ProviderTransport } from "../../broker/providers/provider-gateway.ts";
import { SimulatedProvider } from "../../simulator/provider/sim-provider.ts";
import { SettlementFixture, type TestWallet } from "../settlement/fixtures.ts";

/**
 * The settlement fixture (EUR merchant m1, hub h1) with a JPY wallet provider `p1`, simulated, holding wallet `jp1`
 * with 100 000 JPY, and the EUR/JPY rate 162.53 (half-even) for the hour from now. Messages between the service
 * and the provider go through `wire`, which delivers them a turn of the event loop later (as a broker would) and
 * lets a test drop, hold or forge them. The provider's answer deadline runs on `timers`, a virtual clock.
 */
export interface Wire extends ProviderTransport {
  /** Authorization requests sent, in order. */
  sent: Buffer[];
  /** Answers the provider published, in order. */
  answers: Buffer[];
  /** Whether a request reaches the provider (false: the provider is down). */
  deliver: boolean;
}

export class ProviderFixture {
  readonly providerKeys: KeyPair = generateP256();
  readonly wire: Wire;
  provider!: SimulatedProvider;
  traveller!: TestWallet;
  /** The typed refusals handleProviderAnswer returned. */
  readonly refusals: number[] = [];

  private constructor(
    readonly f: SettlementFixture,
    wire: Wire,
    readonly timers: VirtualClock,
  ) {
    this.wire = wire;
  }

  static async create(): Promise<ProviderFixture> {
    const wire: Wire = { sent: [], answers: [], deliver: true, send: () => undefined };
    const timers = new VirtualClock();
    const f = await SettlementFixture.create({ service: { providerTransport: wire, timers } });
    const fixture = new ProviderFixture(f, wire, timers);
    fixture.setUp();
    return fixture;
  }

  private setUp(): void {
    const { f, wire } = this;
    const nowMs = f.clock.nowMs();
    f.service.providers.enroll({ providerId: "p1", publicKeyPem: publicKeyPem(this.providerKeys.publicKey), currency: "JPY", certificateSerial: "serial-p1" }, nowMs);
    this.traveller = f.enrollWallet("jp1", 0, "JPY");
    f.service.providers.assignWallet("jp1", "p1");
    f.service.fxRates.load([{ base: "EUR", quote: "JPY", rate: "162.53", rounding: "half_even", source: "test-feed", fromMs: nowMs, toMs: nowMs + 3_600_000 }], nowMs);
    this.provider = new SimulatedProvider({
      providerId: "p1",
      privateKey: this.providerKeys.privateKey,
      servicePublicKey: f.service.publicKey,
      currency: "JPY",
      balances: { jp1: 100_000 },
      clock: f.clock,
      timers: this.timers,
      send: (answer) => {
        wire.answers.push(answer);
        setImmediate(() => this.answer(answer));
      },
    });
    wire.send = (providerId, payload) => {
      if (providerId !== "p1") throw new Error(`no route to ${providerId}`);
      wire.sent.push(payload);
      if (wire.deliver) setImmediate(() => this.provider.receive(payload));
    };
  }

  /** What the broker does with a message on `providers/p1/req`. */
  answer(payload: Uint8Array, providerId = "p1"): number | undefined {
    const refused = this.f.service.handleProviderAnswer(providerId, payload);
    if (refused) this.refusals.push(refused.code);
    return refused?.code;
  }

  balancesByCurrency(): Record<string, number> {
    return this.f.service.ledger.checkInvariants().balanceSumMinorByCurrency;
  }

  close(): Promise<void> {
    return this.f.close();
  }
}

/** Lets queued I/O callbacks (setImmediate) run until `done` holds, at most `turnsMax` turns. */
export async function turns(done: () => boolean, turnsMax = 200): Promise<void> {
  for (let turn = 0; turn < turnsMax && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
}
