import { EventEmitter } from "node:events";
import { FrameSequencer, Reassembler, defaultFrameLimits, type FrameLimits, type LinkEvent } from "../../firmware-bridge/ble/frames.ts";
import { encodeAdvertData, glassesServiceUuid } from "../../firmware-bridge/ble/gatt.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import {
  decodeGlassesMessage,
  encodeGlassesMessage,
  glassesToHubSchema,
  hubToGlassesSchema,
  pairingCodeProof,
  publicKeyDer,
  signBiometricAssertion,
  signGlassesClaim,
  type BiometricMethod,
  type GlassesLang,
  type GlassesToHub,
  type HubToGlasses,
  type SayMessage,
  type ShowOfferMessage,
} from "../../protocol/glasses.ts";
import { generateP256, type KeyPair } from "../../protocol/keys.ts";
import { protocolVersion } from "../../protocol/messages.ts";
import { systemClock, systemRandom, type Clock, type Random } from "../../core/sources.ts";
import { hciReason, type VirtualAdvertisement, type VirtualPeripheral, type VirtualPeripheralHost } from "./virtual-peripheral.ts";

/**
 * Smart glasses as the hub sees them over BLE: a GATT peripheral with its own P-256 key that speaks tapwire's
 * frame layer and messages, answers pairing and session challenges, and lets a test act as the wearer
 * (seeProduct, say, answerBiometric) and as bad radio weather (the fault switches).
 *
 * Longer than the house's ~300 lines: the peripheral side of every glasses message plus one fault switch per way
 * the radio can fail; splitting the switches from the frames they act on would scatter each fault over two files.
 */
export interface VirtualGlassesOptions {
  glassesId: string;
  ownerId: string;
  /** BLE address, `aa:bb:cc:dd:ee:ff`; noble's peripheral id is this without colons. */
  address: string;
  keys?: KeyPair;
  /** The largest ATT MTU these glasses accept. */
  mtuMax?: number;
  rssi?: number;
  clock?: Clock;
  random?: Random;
  frames?: Partial<FrameLimits>;
  /** Answer every biometric challenge at once with these results (off by default: the test answers). */
  autoAnswerBiometric?: BiometricAnswer;
  /** What the glasses keep of hub messages, at most (oldest dropped). */
  recordsMax?: number;
}

export interface BiometricAnswer {
  userVerified: boolean;
  liveness: boolean;
  method: BiometricMethod;
}

/** Fault switches; counters count down as frames go out. Each acts on frames the glasses send to the hub. */
export interface GlassesFaults {
  /** The next N frames get a flipped payload byte (the CRC no longer matches). */
  garbleFrames: number;
  /** The next N frames are sent twice. */
  duplicateFrames: number;
  /** The next N frames are each held back and sent after the frame that follows them. */
  reorderFrames: number;
  /** The next N frames are lost. */
  dropFrames: number;
  /** The next N connection attempts fail (connection failed to be established). */
  refuseConnections: number;
  /** Talk before proving the pairing: a product_seen right after the hub subscribes (rogue glasses). */
  sendBeforeAuth: boolean;
  /** Accept the hub's writes but answer nothing (hung firmware): the hub's step timeouts must fire. */
  silent: boolean;
}

export interface ProductSighting {
  productId: string;
  merchantId: string;
  name: string;
  amountMinor: number;
  currency: string;
}

export interface VirtualGlassesEvents {
  received: [message: HubToGlasses];
  connected: [mtu: number];
  disconnected: [];
  subscribed: [enabled: boolean];
  linkFault: [event: LinkEvent];
}

const batteryDeadPercent = 0;

export class VirtualGlasses extends EventEmitter<VirtualGlassesEvents> implements VirtualPeripheral {
  readonly glassesId: string;
  readonly ownerId: string;
  readonly address: string;
  readonly rssi: number;
  readonly mtuMax: number;
  readonly faults: GlassesFaults = {
    garbleFrames: 0,
    duplicateFrames: 0,
    reorderFrames: 0,
    dropFrames: 0,
    refuseConnections: 0,
    sendBeforeAuth: false,
    silent: false,
  };
  /** What the hub showed and said, in order (at most recordsMax each). */
  readonly shown: ShowOfferMessage[] = [];
  readonly said: SayMessage[] = [];
  readonly received: HubToGlasses[] = [];
  autoAnswerBiometric: BiometricAnswer | undefined;
  /** The last biometric challenge the hub sent. */
  lastChallenge: Uint8Array | undefined;
  batteryPercent = 100;

  private readonly keys: KeyPair;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly frameLimits: FrameLimits;
  private readonly recordsMax: number;
  private host: VirtualPeripheralHost | undefined;
  private reachable = true;
  private pairingCode: string | undefined;
  private connectedMtu: number | undefined;
  private subscribed = false;
  private hubTrusted = false;
  private held: Buffer | undefined;
  private readonly sequencer: FrameSequencer;
  private readonly reassembler: Reassembler;

  constructor(options: VirtualGlassesOptions) {
    super();
    this.glassesId = options.glassesId;
    this.ownerId = options.ownerId;
    this.address = options.address.toLowerCase();
    this.keys = options.keys ?? generateP256();
    this.mtuMax = options.mtuMax ?? 247;
    this.rssi = options.rssi ?? -55;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.frameLimits = { ...defaultFrameLimits, ...options.frames };
    this.autoAnswerBiometric = options.autoAnswerBiometric;
    this.recordsMax = options.recordsMax ?? 256;
    this.sequencer = new FrameSequencer(this.frameLimits);
    this.reassembler = new Reassembler(this.frameLimits);
  }

  get publicKey(): KeyPair["publicKey"] {
    return this.keys.publicKey;
  }

  get inRange(): boolean {
    return this.reachable;
  }

  get connected(): boolean {
    return this.connectedMtu !== undefined;
  }

  /** The ATT MTU of the current link. */
  get mtu(): number | undefined {
    return this.connectedMtu;
  }

  /** Whether the hub has completed pairing or the session proof on this link. */
  get trustedByHub(): boolean {
    return this.hubTrusted;
  }

  /** Shows a 6-digit pairing code and advertises pairing mode until a pairing succeeds. */
  showPairingCode(code?: string): string {
    this.pairingCode = code ?? (100_000 + (Buffer.from(this.random.bytes(4)).readUInt32BE(0) % 900_000)).toString();
    this.host?.advertisementChanged(this);
    return this.pairingCode;
  }

  leavePairingMode(): void {
    this.pairingCode = undefined;
    this.host?.advertisementChanged(this);
  }

  /** Walks out of (false) or back into (true) radio range; leaving drops the link. */
  setInRange(inRange: boolean): void {
    this.reachable = inRange;
    if (!inRange) this.host?.drop(this, hciReason.connectionTimeout);
    else this.host?.advertisementChanged(this);
  }

  // The wearer.

  seeProduct(product: ProductSighting): void {
    this.sendTrusted({ type: "product_seen", v: protocolVersion, ...product });
  }

  say(text: string, lang: GlassesLang, confidence = 0.95): void {
    this.sendTrusted({ type: "utterance", v: protocolVersion, text, lang, confidence });
  }

  /** Signs and sends an assertion answering `challenge` (the last one the hub sent by default); returns its bytes. */
  answerBiometric(challenge: Uint8Array | undefined = this.lastChallenge, answer: Partial<BiometricAnswer> = {}): Buffer {
    if (!challenge) throw new TapwireError("no biometric challenge to answer", ErrorCode.BleNotReady);
    const assertion = this.signAssertion(challenge, answer);
    this.sendTrusted({ type: "biometric_assertion", v: protocolVersion, assertion });
    return assertion;
  }

  /** The assertion these glasses would sign for `challenge`, without sending it. */
  signAssertion(challenge: Uint8Array, answer: Partial<BiometricAnswer> = {}): Buffer {
    return signBiometricAssertion(
      {
        type: "biometric_assertion",
        v: protocolVersion,
        glassesId: this.glassesId,
        ownerId: this.ownerId,
        method: answer.method ?? "voiceprint",
        userVerified: answer.userVerified ?? true,
        liveness: answer.liveness ?? true,
        challenge,
        iat: this.clock.nowMs(),
      },
      this.keys.privateKey,
      this.keys.publicKey,
    );
  }

  /** Reports the battery; at 0 % the glasses also power off (link dropped, no longer advertising). */
  setBattery(percent: number): void {
    this.batteryPercent = percent;
    if (this.connected && this.hubTrusted) this.send({ type: "battery", v: protocolVersion, percent });
    if (percent === batteryDeadPercent) this.setInRange(false);
  }

  /** Sends any message as is, trusted by the hub or not (for tests of what the hub refuses). */
  send(message: GlassesToHub): void {
    if (!this.connected || !this.subscribed) throw new TapwireError("glasses are not connected to a subscribed hub", ErrorCode.BleNotReady);
    const { frames } = this.sequencer.encode(encodeGlassesMessage(glassesToHubSchema, message), this.connectedMtu!);
    this.transmit(frames);
  }

  // Faults acting on the link itself.

  /** Drops the link now (supervision timeout); the glasses keep advertising. */
  dropLink(reason: number = hciReason.connectionTimeout): void {
    this.host?.drop(this, reason);
  }

  /** A new ATT MTU on the current link, reported to the hub. */
  changeMtu(mtu: number): void {
    if (!this.connected) return;
    this.connectedMtu = mtu;
    this.host?.changeMtu(this, mtu);
  }

  // The peripheral contract the bindings call.

  advertisement(): VirtualAdvertisement {
    return {
      localName: "tapwire-glasses",
      serviceUuids: [glassesServiceUuid],
      serviceData: [{ uuid: glassesServiceUuid, data: encodeAdvertData(this.glassesId, this.pairingCode !== undefined) }],
      txPowerLevel: -8,
      manufacturerData: undefined,
      serviceSolicitationUuids: [],
    };
  }

  attach(host: VirtualPeripheralHost): void {
    this.host = host;
  }

  refuseConnection(): boolean {
    if (this.faults.refuseConnections <= 0) return false;
    this.faults.refuseConnections--;
    return true;
  }

  onConnected(mtu: number): void {
    this.connectedMtu = mtu;
    this.subscribed = false;
    this.hubTrusted = false;
    this.held = undefined;
    this.sequencer.reset();
    this.reassembler.reset();
    this.emit("connected", mtu);
  }

  onDisconnected(): void {
    this.connectedMtu = undefined;
    this.subscribed = false;
    this.hubTrusted = false;
    this.held = undefined;
    this.emit("disconnected");
  }

  onSubscribed(enabled: boolean): void {
    this.subscribed = enabled;
    this.emit("subscribed", enabled);
    if (enabled && this.faults.sendBeforeAuth) {
      this.send({ type: "product_seen", v: protocolVersion, productId: "rogue-1", merchantId: "m-rogue", name: "Rogue", amountMinor: 1, currency: "EUR" });
    }
  }

  onWrite(data: Buffer): void {
    if (this.faults.silent) return;
    for (const event of this.reassembler.push(data, this.clock.nowMs())) {
      if (event.kind !== "message") {
        this.emit("linkFault", event);
        continue;
      }
      this.handle(decodeGlassesMessage(hubToGlassesSchema, event.bytes));
    }
  }

  private handle(message: HubToGlasses): void {
    this.record(this.received, message);
    switch (message.type) {
      case "show_offer":
        this.record(this.shown, message);
        break;
      case "say":
        this.record(this.said, message);
        break;
      case "biometric_challenge":
        this.lastChallenge = message.challenge;
        break;
      case "pair_request":
        this.answerPairing(message.nonce);
        break;
      case "pair_result":
        if (message.ok && message.glassesId === this.glassesId) {
          this.hubTrusted = true;
          this.leavePairingMode();
        }
        break;
      case "auth_challenge":
        this.answerSession(message.nonce);
        break;
    }
    this.emit("received", message);
    if (message.type === "biometric_challenge" && this.autoAnswerBiometric) this.answerBiometric(message.challenge, this.autoAnswerBiometric);
  }

  private answerPairing(nonce: Uint8Array): void {
    if (this.pairingCode === undefined) return;
    const der = publicKeyDer(this.keys.publicKey);
    const claim = signGlassesClaim(
      {
        type: "pair_claim",
        v: protocolVersion,
        glassesId: this.glassesId,
        ownerId: this.ownerId,
        nonce,
        codeProof: pairingCodeProof(this.pairingCode, nonce, this.glassesId, der),
      },
      this.keys.privateKey,
      this.keys.publicKey,
    );
    this.send({ type: "pair_response", v: protocolVersion, publicKey: der, claim });
  }

  private answerSession(nonce: Uint8Array): void {
    const claim = signGlassesClaim({ type: "session_claim", v: protocolVersion, glassesId: this.glassesId, nonce }, this.keys.privateKey, this.keys.publicKey);
    this.send({ type: "auth_response", v: protocolVersion, claim });
    // Real glasses cannot tell whether the hub accepted the proof; the hub hangs up if it did not.
    this.hubTrusted = true;
  }

  /** Well-behaved glasses say nothing but pairing and session answers until the hub trusts them. */
  private sendTrusted(message: GlassesToHub): void {
    if (!this.hubTrusted) throw new TapwireError("the hub has not accepted these glasses on this link", ErrorCode.BleNotReady);
    this.send(message);
  }

  private transmit(frames: Buffer[]): void {
    const out: Buffer[] = [];
    for (const frame of frames) {
      if (this.faults.dropFrames > 0) {
        this.faults.dropFrames--;
        continue;
      }
      let sent = frame;
      if (this.faults.garbleFrames > 0) {
        this.faults.garbleFrames--;
        sent = Buffer.from(frame);
        sent[sent.length - 1] = sent[sent.length - 1]! ^ 0x5a;
      }
      if (this.held) {
        out.push(sent, this.held);
        this.held = undefined;
      } else if (this.faults.reorderFrames > 0) {
        this.faults.reorderFrames--;
        this.held = sent;
        continue;
      } else {
        out.push(sent);
      }
      if (this.faults.duplicateFrames > 0) {
        this.faults.duplicateFrames--;
        out.push(Buffer.from(sent));
      }
    }
    for (const frame of out) this.host?.sendNotification(this, frame);
  }

  private record<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > this.recordsMax) list.shift();
  }
}
