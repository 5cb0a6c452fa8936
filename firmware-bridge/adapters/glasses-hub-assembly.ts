import type { Noble } from "@stoprocent/noble";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import type { HubSigner, Pairing, SeqStore } from "../../device/glasses/ports.ts";
import { GlassesHubRuntime, type GlassesHubRuntimeOptions } from "../../device/glasses-hub-runtime.ts";
import type { IntentParser, Lang } from "../../device/intent/intent.ts";
import { TableIntentParser } from "../../device/intent/table-intent-parser.ts";
import { logger } from "../../protocol/log.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../../protocol/sources.ts";
import { GlassesLink, type GlassesLinkOptions } from "../ble/glasses-link.ts";
import type { GlassesBinding, PairingStore } from "../ble/pairing-store.ts";
import { HubLink, type HubLinkOptions } from "../mqtt/hub-link.ts";
import { LinkBiometricVerifier } from "./glasses-biometric-verifier.ts";
import { GlassesLinkPort } from "./glasses-port.ts";
import { HubLinkSettlementPort, LateDecisions } from "./glasses-settlement-port.ts";

const log = logger("tapwire:glasses-hub");

/** Whose wallet the hub pays from: the person the paired glasses must recognise. */
export interface GlassesOwner {
  ownerId: string;
  walletId: string;
  /** The owner's language until they speak. */
  lang: Lang;
}

export interface GlassesHubAssemblyOptions {
  /** Built by the caller: `withBindings("hci")` on a Pi, noble over virtual bindings in the simulator. */
  noble: Noble;
  pairingStore: PairingStore;
  /** GlassesLink limits (timeouts, reconnect, frames…). */
  link?: Omit<GlassesLinkOptions, "noble" | "store" | "clock" | "random">;
  /** The settlement link; its unmatched decisions are routed to the hub by the assembly. */
  settlement: Omit<HubLinkOptions, "onUnmatchedDecision" | "random">;
  owner: GlassesOwner;
  hub: GlassesHubRuntimeOptions;
  signer: HubSigner;
  seq: SeqStore;
  parser?: IntentParser;
  clock?: Clock;
  random?: Random;
}

/**
 * A whole glasses hub from its drivers: the BLE link to the glasses, the MQTT link to settlement, and the
 * purchase machine between them through device/'s ports. Hardware-neutral: the caller hands in noble,
 * the pairing store, the signer and the seq store, so the CLI and the simulator assemble the same thing.
 */
export class GlassesHubAssembly {
  readonly link: GlassesLink;
  readonly settlementLink: HubLink;
  readonly runtime: GlassesHubRuntime;
  private readonly owner: GlassesOwner;

  constructor(options: GlassesHubAssemblyOptions) {
    const clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    const lateDecisions = new LateDecisions();
    this.owner = options.owner;
    this.link = new GlassesLink({ ...options.link, noble: options.noble, store: options.pairingStore, clock, random });
    this.settlementLink = new HubLink({ ...options.settlement, random, onUnmatchedDecision: lateDecisions.receive });
    this.runtime = new GlassesHubRuntime(
      {
        glasses: new GlassesLinkPort(this.link),
        settlement: new HubLinkSettlementPort(this.settlementLink),
        verifier: new LinkBiometricVerifier(this.link),
        signer: options.signer,
        seq: options.seq,
        parser: options.parser ?? new TableIntentParser(),
        clock,
        random,
      },
      lateDecisions,
      options.hub,
    );
  }

  /**
   * Connects to settlement (in the background, with the link's own retries), waits for the BLE adapter, and
   * runs the hub for the stored pairing if there is one; otherwise the hub waits for pair().
   */
  async start(): Promise<void> {
    this.settlementLink.start();
    try {
      await this.link.start();
    } catch (error) {
      await this.settlementLink.stop();
      throw error;
    }
    const binding = this.link.binding;
    if (binding !== undefined) this.runtime.start(this.pairingFor(binding));
  }

  /**
   * Pairs the glasses showing `code` and runs the hub for them. The previous glasses are forgotten at once
   * and the hub stops selling until the new pairing succeeds (a failed pairing leaves nothing paired).
   */
  async pair(code: string, options: { timeoutMs?: number } = {}): Promise<GlassesBinding> {
    this.runtime.stop();
    const binding = await this.link.pair(code, options);
    this.runtime.start(this.pairingFor(binding));
    return binding;
  }

  onOutcome(listener: (outcome: PurchaseOutcome) => void): () => void {
    return this.runtime.onOutcome(listener);
  }

  async stop(): Promise<void> {
    this.runtime.stop();
    await this.link.stop();
    await this.settlementLink.stop();
  }

  private pairingFor(binding: GlassesBinding): Pairing {
    if (binding.ownerId !== this.owner.ownerId) {
      // The hub still runs: every purchase then ends as wrong_person, on the glasses, before anything is signed.
      log.warn({ glassesId: binding.glassesId, glassesOwner: binding.ownerId, ownerId: this.owner.ownerId }, "paired glasses belong to another owner");
    }
    return { ownerId: this.owner.ownerId, glassesId: binding.glassesId, walletId: this.owner.walletId, lang: this.owner.lang };
  }
}
