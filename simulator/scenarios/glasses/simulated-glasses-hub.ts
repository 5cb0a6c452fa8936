import { EventEmitter } from "node:events";
import type { EnrolmentBundle } from "../../../broker/enrolment.ts";
import type { GlassesHubRuntimeOptions } from "../../../device/glasses-hub-runtime.ts";
import type { PurchaseOutcome } from "../../../device/glasses/outcome.ts";
import { HubJournal } from "../../../device/journal/hub-journal.ts";
import type { GlassesBinding } from "../../../firmware-bridge/ble/pairing-store.ts";
import { MemoryPairingStore } from "../../../firmware-bridge/ble/pairing-store.ts";
import { GlassesHubAssembly, type GlassesHubAssemblyOptions, type GlassesOwner } from "../../../firmware-bridge/adapters/glasses-hub-assembly.ts";
import { KeyFileHubSigner } from "../../../firmware-bridge/adapters/key-file-signer.ts";
import { ErrorCode, TapwireError } from "../../../protocol/errors.ts";
import { publicKeyPem } from "../../../protocol/keys.ts";
import { systemClock, systemRandom, systemTimers, type Clock, type Random, type Timers } from "../../../core/sources.ts";
import { VirtualBleBindings } from "../../glasses/virtual-ble-bindings.ts";
import {
  VirtualGlasses,
  type BiometricAnswer,
  type ProductSighting,
  type VirtualGlassesOptions,
} from "../../glasses/virtual-glasses.ts";
import type { GlassesLang } from "../../../protocol/glasses.ts";
import { linkOptionsFor } from "../../../sdk/client-link.ts";
import { createVirtualNoble } from "../../glasses/virtual-noble.ts";

export interface SimulatedGlassesHubOptions {
  /** The settlement broker, e.g. `SettlementNode.url`. */
  settlementUrl: string;
  /** The hub's enrolment (certificate, private key, CA, service key): `SettlementNode.enrollHub(...)`. */
  hubBundle: EnrolmentBundle;
  /** The merchant the hub is enrolled for. */
  merchantId: string;
  /** Whose wallet pays, and who the glasses must recognise. */
  owner: GlassesOwner;
  /** The hub journal: a file to keep it across restarts; in memory by default. */
  journalFile?: string;
  /** The virtual glasses; by default `glasses-1`, owned by `owner.ownerId`. */
  glasses?: Partial<VirtualGlassesOptions>;
  /** Purchase machine options (timing, quantityMax…); hubId defaults to the bundle's principal. */
  hub?: Partial<Omit<GlassesHubRuntimeOptions, "hubId" | "merchantId">>;
  link?: GlassesHubAssemblyOptions["link"];
  /** 4 for the embedded broker (default), 5 for Mosquitto. */
  protocolVersion?: 4 | 5;
  /** For start() to reach the settlement broker. Default 5 000 ms. */
  connectTimeoutMs?: number;
  /** For pair() to finish and the link to be ready. Default 5 000 ms. */
  pairTimeoutMs?: number;
  clock?: Clock;
  timers?: Timers;
  random?: Random;
}

export interface PurchaseScript {
  product: ProductSighting;
  /** What the wearer says once the offer is shown ("I'll take it", "non", "算了"…). */
  answer: string;
  lang: GlassesLang;
  asrConfidence?: number;
  /** How the glasses answer the hub's biometric challenges; "none" leaves them unanswered. Default: verified. */
  biometric?: Partial<BiometricAnswer> | "none";
  /** For the whole purchase. Default 10 000 ms. */
  timeoutMs?: number;
}

const statePollMs = 5;

export interface SimulatedGlassesHubEvents {
  outcome: [outcome: PurchaseOutcome];
}

/**
 * A whole glasses hub with no radio: virtual BLE bindings, virtual glasses, real noble and GlassesLink on
 * them, the purchase machine, and a real HubLink (mTLS MQTT) to a settlement node. Drive the wearer through
 * `glasses` (seeProduct, say, answerBiometric, fault switches) and watch `outcomes`.
 */
export class SimulatedGlassesHub {
  readonly bindings: VirtualBleBindings;
  readonly glasses: VirtualGlasses;
  /** Emits `outcome` for every purchase as it concludes. */
  readonly outcomes = new EventEmitter<SimulatedGlassesHubEvents>();
  readonly assembly: GlassesHubAssembly;
  readonly journal: HubJournal;
  private readonly connectTimeoutMs: number;
  private readonly pairTimeoutMs: number;
  private unsubscribe: (() => void) | undefined;

  constructor(options: SimulatedGlassesHubOptions) {
    const bundle = options.hubBundle;
    if (bundle.principal.kind !== "hub" || bundle.keyPem === undefined) {
      throw new TapwireError("the simulated hub needs a hub enrolment bundle with its private key", ErrorCode.ConfigInvalid);
    }
    const clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.pairTimeoutMs = options.pairTimeoutMs ?? 5_000;
    this.bindings = new VirtualBleBindings();
    this.glasses = new VirtualGlasses({
      glassesId: "glasses-1",
      ownerId: options.owner.ownerId,
      address: "f0:0d:0a:55:00:01",
      clock,
      random,
      ...options.glasses,
    });
    this.bindings.addPeripheral(this.glasses);
    this.journal = HubJournal.open({ path: options.journalFile ?? ":memory:", clock });
    this.assembly = new GlassesHubAssembly({
      noble: createVirtualNoble(this.bindings),
      pairingStore: new MemoryPairingStore(),
      ...(options.link ? { link: options.link } : {}),
      settlement: { link: { ...linkOptionsFor(bundle, options.settlementUrl, options.protocolVersion), random }, connectTimeoutMs: this.connectTimeoutMs },
      owner: options.owner,
      hub: { ...options.hub, hubId: bundle.principal.id, merchantId: options.merchantId },
      signer: KeyFileHubSigner.fromPem(bundle.keyPem),
      journal: this.journal,
      clock,
      timers: options.timers ?? systemTimers,
      random,
    });
  }

  /** The glasses' public key (SPKI PEM), for enrolling them with settlement against the owner's wallet. */
  get glassesPublicKeyPem(): string {
    return publicKeyPem(this.glasses.publicKey);
  }

  /** Connects to settlement and powers the virtual adapter on; the hub runs once the glasses are paired. */
  async start(): Promise<void> {
    this.unsubscribe = this.assembly.onOutcome((outcome) => this.outcomes.emit("outcome", outcome));
    await this.assembly.start();
    await this.untilOnline(this.connectTimeoutMs);
  }

  private untilOnline(timeoutMs: number): Promise<void> {
    if (this.assembly.online) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const unsubscribe = this.assembly.settlement.onStatus((online) => {
        if (!online) return;
        clearTimeout(timer);
        unsubscribe();
        resolve();
      });
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new TapwireError(`settlement link not up within ${timeoutMs} ms`, ErrorCode.Offline, { timeoutMs }));
      }, timeoutMs);
    });
  }

  /** The glasses show a pairing code, the owner types it on the hub; resolves once the link is ready. */
  async pair(): Promise<GlassesBinding> {
    const code = this.glasses.showPairingCode();
    const binding = await this.assembly.pair(code, { timeoutMs: this.pairTimeoutMs });
    await this.assembly.link.waitUntilReady(this.pairTimeoutMs);
    return binding;
  }

  /**
   * One scripted purchase for demos: the glasses see `product`, the wearer answers `answer` once the offer is
   * shown, and confirms identity with `biometric` (or never: "none"). Resolves with the outcome; HubNotReady
   * if the hub is not listening or concludes nothing within `timeoutMs`.
   */
  async purchase(script: PurchaseScript): Promise<PurchaseOutcome> {
    const timeoutMs = script.timeoutMs ?? 10_000;
    const concluded = this.nextOutcome(timeoutMs);
    concluded.catch(() => undefined);
    this.glasses.autoAnswerBiometric =
      script.biometric === "none" ? undefined : { userVerified: true, liveness: true, method: "voiceprint", ...script.biometric };
    // A product seen while the last result is still shown is ignored by the hub: wait until it is back to paired.
    await this.untilState("paired", timeoutMs);
    this.glasses.seeProduct(script.product);
    await this.untilState("listening", timeoutMs);
    this.glasses.say(script.answer, script.lang, script.asrConfidence);
    return concluded;
  }

  private nextOutcome(timeoutMs: number): Promise<PurchaseOutcome> {
    return new Promise<PurchaseOutcome>((resolve, reject) => {
      const onOutcome = (outcome: PurchaseOutcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        this.outcomes.off("outcome", onOutcome);
        reject(new TapwireError(`no purchase concluded within ${timeoutMs} ms`, ErrorCode.HubNotReady, { timeoutMs }));
      }, timeoutMs);
      this.outcomes.once("outcome", onOutcome);
    });
  }

  /** The machine emits no event per state, so its state is polled (bounded by `timeoutMs`). */
  private async untilState(state: "paired" | "listening", timeoutMs: number): Promise<void> {
    for (let waitedMs = 0; !JSON.stringify(this.assembly.runtime.state() ?? null).includes(`"${state}"`); waitedMs += statePollMs) {
      if (waitedMs >= timeoutMs) throw new TapwireError(`hub not ${state} within ${timeoutMs} ms`, ErrorCode.HubNotReady, { timeoutMs });
      await new Promise((resolve) => setTimeout(resolve, statePollMs));
    }
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.assembly.stop();
    this.journal.close();
  }
}
