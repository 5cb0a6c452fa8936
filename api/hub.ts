/**
 * `tapwire/hub`: a tap hub from its drivers (PN532 over serial, Firmata panel, optional USB HID payment-code
 * scanner, MQTT link) or from a hub.json, as `tapwire hub` runs it.
 * @packageDocumentation
 */
export { TapHubAssembly, type TapHubAssemblyOptions } from "../firmware-bridge/adapters/tap-hub-assembly.ts";
export { GlassesHubAssembly, type GlassesHubAssemblyOptions } from "../firmware-bridge/adapters/glasses-hub-assembly.ts";
export { KeyFileHubSigner } from "../firmware-bridge/adapters/key-file-signer.ts";
export { openSerialPort, type SerialPortConfig } from "../firmware-bridge/serial/open-serial-port.ts";
export { openHidDevice, type HidDeviceConfig, type ScannerMode } from "../firmware-bridge/hid/open-hid-device.ts";
export { HubJournal } from "../device/journal/hub-journal.ts";
export type { TapHub, TapHubView } from "../device/tap-hub.ts";
export type { TapMode } from "../device/tap/tap-machine.ts";
export { loadHubConfig, parseHubConfig, readHubSecrets, type HubFileConfig } from "../cli/hub-config.ts";
export { startHub, type RunningHub } from "../cli/hub.ts";
