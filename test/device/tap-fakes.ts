import { createActor, type Actor } from "xstate";
import type { HceCredential } from "../../protocol/messages.ts";
import type { BeepPattern, IndicatorPort, IndicatorState, TapReaderPort } from "../../device/ports.ts";
import { defaultTapTiming, type TapConfig } from "../../device/tap/tap-config.ts";
import { tapMachine, type TapMode } from "../../device/tap/tap-machine.ts";
import { tapView, type TapView } from "../../device/tap/tap-view.ts";
import { credential, hubId, HubRig, merchantId, type RigOptions } from "./fakes.ts";

/** Fakes of the tap hub's hardware ports: each records calls and lets the test decide when and how they answer. */

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Tests often leave a call unanswered, or answer after the machine moved on.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

interface ReadCall {
  input: { hubId: string; amountMinor: number; currency: string; signal: AbortSignal };
  answer: Deferred<HceCredential>;
}

interface OfferCall {
  input: { offer: Buffer; signal: AbortSignal };
  answer: Deferred<void>;
}

export class FakeReader implements TapReaderPort {
  readonly reads: ReadCall[] = [];
  readonly offers: OfferCall[] = [];
  private isPresent = true;
  private readonly listeners = new Set<(present: boolean) => void>();

  get present(): boolean {
    return this.isPresent;
  }

  readCard(input: ReadCall["input"]): Promise<HceCredential> {
    const answer = deferred<HceCredential>();
    this.reads.push({ input, answer });
    return answer.promise;
  }

  presentOffer(input: OfferCall["input"]): Promise<void> {
    const answer = deferred<void>();
    this.offers.push({ input, answer });
    return answer.promise;
  }

  onPresence(listener: (present: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setPresent(present: boolean): void {
    this.isPresent = present;
    for (const listener of [...this.listeners]) listener(present);
  }

  /** A phone answers the latest read. */
  tap(answer: HceCredential = credential): void {
    this.reads.at(-1)!.answer.resolve(answer);
  }
}

export class FakeIndicator implements IndicatorPort {
  readonly shown: IndicatorState[] = [];
  readonly beeps: BeepPattern[] = [];
  private readonly listeners = new Set<() => void>();

  show(state: IndicatorState): void {
    this.shown.push(state);
  }

  beep(pattern: BeepPattern): void {
    this.beeps.push(pattern);
  }

  onCancel(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  pressCancel(): void {
    for (const listener of [...this.listeners]) listener();
  }

  get last(): IndicatorState | undefined {
    return this.shown.at(-1);
  }
}

export const offlineLimits = { saleMaxMinor: 5_000, totalMaxMinor: 8_000, countMax: 3, ageMsMax: 3_600_000 };

export function tapConfig(overrides: Partial<TapConfig> = {}): TapConfig {
  return { hubId, merchantId, ...defaultTapTiming, ...overrides };
}

/** The tap machine on the real journal, sealer and outbox (started), with fake reader, panel and settlement. */
export class TapRig extends HubRig {
  readonly reader = new FakeReader();
  readonly indicator = new FakeIndicator();
  actor!: Actor<typeof tapMachine>;

  constructor(
    options: RigOptions = {},
    private readonly config: TapConfig = tapConfig(),
  ) {
    super(options);
    this.boot();
  }

  /** Starts the outbox and a tap machine that reads the journal's last sale, as TapHub does. */
  boot(): void {
    const { reader, indicator, settlement, outbox, sealer, clockWatch, random } = this;
    this.outbox.start();
    this.actor = createActor(tapMachine, {
      clock: this.clock,
      input: { ports: { reader, indicator, settlement, outbox, sealer, clockWatch, random }, config: this.config, lastSale: this.journal.lastSale() },
    });
    this.actor.start();
  }

  /** A power cut: the machine and outbox are gone, the journal stays; boot() starts them again. */
  powerCut(): void {
    this.actor.stop();
    this.restart();
  }

  get view(): TapView {
    return tapView(this.actor.getSnapshot());
  }

  setAmount(amountMinor: number, mode: TapMode = "reader", currency = "EUR"): void {
    this.actor.send({ type: "SET_AMOUNT", amountMinor, currency, mode });
  }
}
