import { createServer, type Socket } from "node:net";
import { logger } from "../../core/log.ts";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import type { SerialDevice } from "./serial-device.ts";

const log = logger("tapwire:sim:tcp");

/** A virtual device served on 127.0.0.1 for a host in another process. */
export interface TcpDeviceServer {
  /** The port actually listened on (useful when asked for port 0). */
  readonly port: number;
  readonly url: string;
  /** Closes the host's connection, as a cable pulled out would; the host may connect again. */
  dropConnection(): void;
  /** Stops serving and closes the host's connection. */
  close(): Promise<void>;
}

/**
 * Serves a simulated serial device on 127.0.0.1 so a driver in another process can open it as
 * `tcp://127.0.0.1:<port>` (there is no pseudo-terminal here: socat is not available). One host at a time,
 * as with a real UART; a second connection is refused while the first is open.
 */
export async function serveOverTcp(device: SerialDevice, port = 0, host = "127.0.0.1"): Promise<TcpDeviceServer> {
  let current: Socket | undefined;
  const server = createServer((socket) => {
    if (current) {
      log.warn("second host refused: the device is already connected");
      socket.destroy();
      return;
    }
    current = socket;
    socket.setNoDelay(true);
    device.connect((bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    });
    socket.on("data", (chunk: Buffer) => device.receive(new Uint8Array(chunk)));
    socket.on("error", (error) => log.debug({ err: error }, "host connection error"));
    socket.on("close", () => {
      if (current === socket) current = undefined;
      device.disconnect();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const code = error.code === "EADDRINUSE" ? ErrorCode.PortInUse : ErrorCode.ConfigInvalid;
      reject(new TapwireError(`cannot listen on ${host}:${port} (${error.code ?? error.message})`, code, { host, port }, { cause: error }));
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const listenPort = typeof address === "object" && address ? address.port : port;
  return {
    port: listenPort,
    url: `tcp://${host}:${listenPort}`,
    dropConnection: () => current?.destroy(),
    close: () =>
      new Promise<void>((resolve) => {
        current?.destroy();
        server.close(() => resolve());
      }),
  };
}
