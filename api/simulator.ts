/**
 * `tapwire/simulator`: virtual hardware at each driver's seam, for tests of your own: a whole tap hub on a virtual
 * PN532, Firmata board and QR scanner, phones, and devices served over TCP for a hub in another process.
 * @packageDocumentation
 */
export { SimulatedTapHub, simulatedPanelPins, type SimulatedTapHubOptions } from "../simulator/scenarios/tap/simulated-tap-hub.ts";
export { VirtualPn532 } from "../simulator/pn532/virtual-pn532.ts";
export { VirtualScanner } from "../simulator/hid/virtual-scanner.ts";
export { HceWallet } from "../simulator/phones/hce-wallet.ts";
export { TagReadingWallet } from "../simulator/phones/tag-reading-wallet.ts";
export { serveOverTcp, type TcpDeviceServer } from "../simulator/serial/serve-over-tcp.ts";
