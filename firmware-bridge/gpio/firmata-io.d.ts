/**
 * The part of firmata-io 2.3 (no published types) that the hub panel uses. The package exports a function that
 * binds a default transport class; we never bind one (that is how it would open a serial port itself) and hand
 * the `Firmata` class a transport object instead.
 */
declare module "firmata-io" {
  import type { EventEmitter } from "node:events";

  namespace bindTransport {
    interface FirmataPin {
      supportedModes: number[];
      mode?: number;
      value: number;
      report: number;
      analogChannel?: number;
    }

    interface FirmataOptions {
      /** Milliseconds to wait for an unsolicited REPORT_VERSION before asking for it (default 5000). */
      reportVersionTimeout?: number;
    }

    class Firmata extends EventEmitter {
      constructor(transport: object, options?: FirmataOptions, callback?: (error?: Error) => void);
      readonly isReady: boolean;
      readonly name: string;
      readonly MODES: { readonly INPUT: number; readonly OUTPUT: number; readonly PWM: number; readonly PULLUP: number };
      readonly pins: FirmataPin[];
      readonly firmware: { name?: string; version?: { major: number; minor: number } };
      /** The timer behind `reportVersionTimeout`; it is not cleared when the version never comes. */
      readonly reportVersionTimeoutId: ReturnType<typeof setTimeout>;
    }
  }

  function bindTransport(transport: unknown): typeof bindTransport.Firmata;
  export = bindTransport;
}
