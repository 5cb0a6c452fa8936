import type { IncomingMessage } from "node:http";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";

/** A login or an action is a few hundred bytes; anything larger is refused unread. */
export const requestBodyBytesMax = 4_096;

/** Reads a JSON request body (application/json only, at most requestBodyBytesMax); SchemaInvalid otherwise. */
export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  if (!(request.headers["content-type"] ?? "").startsWith("application/json")) {
    request.resume();
    throw new TapwireError("the console takes application/json only", ErrorCode.SchemaInvalid);
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request) {
    bytes += (chunk as Buffer).length;
    if (bytes > requestBodyBytesMax) throw new TapwireError(`request body over ${requestBodyBytesMax} bytes`, ErrorCode.SchemaInvalid);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new TapwireError("request body is not JSON", ErrorCode.SchemaInvalid);
  }
}
