import { createRequire } from "node:module";
import type { Noble } from "@stoprocent/noble";
import type { VirtualBleBindings } from "./virtual-ble-bindings.ts";

/**
 * Real noble on virtual bindings. `withBindings()` only takes a binding *type* ("hci", "mac", …), so custom
 * bindings go through noble's own Noble class. It is loaded from lib/noble.js and not from the package
 * index, because the index builds noble on the platform's default bindings as soon as it is imported (HCI on
 * Linux), which a machine without a radio cannot start.
 */
const require = createRequire(import.meta.url);
const NobleClass = require("@stoprocent/noble/lib/noble.js") as new (bindings: unknown) => Noble;

export function createVirtualNoble(bindings: VirtualBleBindings): Noble {
  return new NobleClass(bindings);
}
