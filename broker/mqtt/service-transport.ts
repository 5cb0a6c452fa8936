/** One request as the service's transport delivered it. */
export interface TransportMessage {
  topic: string;
  payload: Buffer;
  /** A retained message: the link never takes it as a request. */
  retain: boolean;
  /** MQTT 5 only: the requester's Correlation Data, echoed on replies addressed back to it. */
  correlationData?: Buffer;
}

export interface ReplyProperties {
  /** Seconds the reply stays worth delivering (MQTT 5 Message Expiry; a 3.1.1 path has nowhere to carry it). */
  expirySeconds: number;
  correlationData?: Buffer;
}

/**
 * How the settlement service's link meets the broker: over an MQTT client connection (any broker, several
 * workers) or inside the embedded broker's process (no TLS, no MQTT codec, no TCP between them).
 */
export interface ServiceTransport {
  /** Whether requests reach the service and replies leave it now. */
  readonly connected: boolean;
  /** Starts delivering every request to `onMessage`, which must not block. */
  start(onMessage: (message: TransportMessage) => void): void;
  waitConnected(timeoutMs: number): Promise<void>;
  /** A QoS 1 publish; resolves once the broker took it. */
  publish(topic: string, payload: Buffer, properties: ReplyProperties): Promise<void>;
  stop(): Promise<void>;
}
