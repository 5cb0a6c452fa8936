import { connect, type Socket } from "node:net";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";

/**
 * A device served over TCP (`tcp://host:port`: a simulator, or a ser2net-style bridge): the byte link a driver
 * opens instead of a local port. Shared by the serial and the HID openers.
 */
export function parseTcpUrl(path: string, configKey: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(path);
  } catch {
    throw new TapwireError(`${configKey} ${path} is not a valid tcp:// URL`, ErrorCode.ConfigInvalid);
  }
  const port = Number(url.port);
  if (url.protocol !== "tcp:" || !url.hostname || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new TapwireError(`${configKey} ${path} needs tcp://host:port`, ErrorCode.ConfigInvalid);
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port };
}

/**
 * Connects (TCP_NODELAY on: each report or frame is a round trip's worth) and resolves once connected. Rejects
 * with the socket's error, or with `timeoutError()` after openTimeoutMs; the socket is destroyed either way.
 */
export function connectTcp(path: string, configKey: string, openTimeoutMs: number, timeoutError: () => TapwireError): Promise<Socket> {
  const { host, port } = parseTcpUrl(path, configKey);
  const socket = connect({ host, port, noDelay: true });
  return new Promise<Socket>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(timeoutError());
    }, openTimeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}
