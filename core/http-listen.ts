import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";

/** Listens and resolves with the bound port; a busy or forbidden address is ConfigInvalid naming `what`. */
export function listenOn(server: Server, host: string, port: number, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", (error) => reject(new TapwireError(`${what} cannot listen on ${host}:${port}: ${error.message}`, ErrorCode.ConfigInvalid, { port })));
    server.listen({ host, port }, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Closes the server and every connection it holds (keep-alive and event streams included). */
export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
