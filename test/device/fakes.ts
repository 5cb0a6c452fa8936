import { SimulatedClock } from "xstate";
import { sealMessage } from "../../protocol/envelope.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { protocolVersion, zeroHash, type Decision, type DecisionStatus, type HceCredential } from "../../protocol/messages.ts";
import { SeededRandom, type Clock } from "../../protocol/sources.ts";
import { Outbox } from "../../device/link/outbox.ts";
import type { BeepPattern, HubSigner, IndicatorPort, IndicatorState, SeqStore, SettlementPort, TapReaderPort } from "../../device/ports.ts";
import { defaultTapTiming, type TapConfig } from "../../device/tap/tap-config.ts";
import type { TapPorts } from "../../device/tap/tap-machine.ts";

/** Canned fakes of the device ports: each records calls and lets the test decide when and how they answer. */

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
  // Tests often leave a call unanswered or answer after the machine moved on.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export const hubId = "hub-1";
export const merchantId = "m-1";

export const credential: HceCredential = {
  kind: "hce",
  walletId: "w-1",
  atc: 7,
  unpredictableNumber: new Uint8Array(8).fill(1),
  cryptogram: new Uint8Array(64).fill(2),
};

export function decision(requestId: string, status: DecisionStatus = "approved", code = 0): Decision {
  return {
    type: "decision",
    v: protocolVersion,
    requestId,
    requestType: "payment_request",
    requestHash: zeroHash,
    hubId,
    status,
    code,
    reason: status,
    iat: 0,
    exp: 1,
  };
}

export const offline = () => new TapwireError("link down", ErrorCode.Offline);

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
    for (const listener of this.listeners) listener();
  }
  get last(): IndicatorState | undefined {
    return this.shown.at(-1);
  }
}

interface SendCall {
  payload: Buffer;
  requestId: string;
  timeoutMs: number;
  answer: Deferred<Decision>;
}
interface AwaitCall {
  requestId: string;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  answer: Deferred<Decision>;
}

export class FakeSettlement implements SettlementPort {
  readonly sent: SendCall[] = [];
  readonly awaited: AwaitCall[] = [];
  private readonly listeners = new Set<(online: boolean) => void>();
  constructor(private online = true) {}
  send(payload: Buffer, requestId: string, timeoutMs: number): Promise<Decision> {
    const answer = deferred<Decision>();
    this.sent.push({ payload, requestId, timeoutMs, answer });
    if (!this.online) answer.reject(offline());
    return answer.promise;
  }
  awaitDecision(requestId: string, timeoutMs: number, signal?: AbortSignal): Promise<Decision> {
    const answer = deferred<Decision>();
    this.awaited.push({ requestId, timeoutMs, signal, answer });
    return answer.promise;
  }
  onStatus(listener: (online: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  setOnline(online: boolean): void {
    this.online = online;
    for (const listener of this.listeners) listener(online);
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
}

export class CountingSeq implements SeqStore {
  value = 0;
  next(): number {
    this.value += 1;
    return this.value;
  }
}

/** The protocol Clock the machines read for iat/exp, moved by the same SimulatedClock that drives their timers. */
export const epochMs = Date.UTC(2026, 10, 23, 12, 0, 0);
export function clockOf(simulated: SimulatedClock): Clock {
  return { nowMs: () => epochMs + simulated.now() };
}

export function tapConfig(overrides: Partial<TapConfig> = {}): TapConfig {
  return { hubId, merchantId, ...defaultTapTiming, ...overrides };
}

export interface TapRig {
  simulated: SimulatedClock;
  clock: Clock;
  reader: FakeReader;
  indicator: FakeIndicator;
  settlement: FakeSettlement;
  outbox: Outbox;
  seq: CountingSeq;
  publicKey: ReturnType<typeof generateP256>["publicKey"];
  ports: TapPorts;
}

const hubKeys = generateP256();

export function tapRig(options: { online?: boolean; outboxMax?: number; startOutbox?: boolean } = {}): TapRig {
  const simulated = new SimulatedClock();
  const clock = clockOf(simulated);
  const reader = new FakeReader();
  const indicator = new FakeIndicator();
  const settlement = new FakeSettlement(options.online ?? true);
  const outbox = new Outbox({ settlement, clock, outboxMax: options.outboxMax ?? 16, attemptTimeoutMs: 5_000 });
  // As the hub machine does: the outbox resends on every reconnect.
  if (options.startOutbox ?? true) outbox.start();
  const seq = new CountingSeq();
  const signer: HubSigner = { seal: (body) => sealMessage(body, hubKeys.privateKey) };
  const ports: TapPorts = { reader, indicator, settlement, outbox, signer, seq, clock, random: new SeededRandom(42) };
  return { simulated, clock, reader, indicator, settlement, outbox, seq, publicKey: hubKeys.publicKey, ports };
}

/** Lets settled promises reach the machine without moving any clock. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
