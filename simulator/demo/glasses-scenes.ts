import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import type { SettlementNode } from "../../broker/settlement-node.ts";
import type { PurchaseOutcome } from "../../device/glasses/outcome.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import type { GlassesLang } from "../../protocol/glasses.ts";
import type { ProductSighting } from "../glasses/virtual-glasses.ts";
import { SimulatedGlassesHub, type PurchaseScript } from "../scenarios/glasses/simulated-glasses-hub.ts";
import { codeText, money, type Narrator, type SceneResult } from "./narrator.ts";

export interface GlassesScenesInput {
  node: SettlementNode;
  hub: EnrolmentBundle;
  walletId: string;
  merchantId: string;
  narrator: Narrator;
}

/**
 * Smart glasses paired over (virtual) BLE to a glasses hub: the wearer looks at a product and says they'll take
 * it, confirms by voiceprint, and pays; then says "non" to another and nothing is paid.
 */
export async function runGlassesScenes(input: GlassesScenesInput): Promise<void> {
  const { narrator, node } = input;
  narrator.heading("Glasses hub: look, say \"I'll take it\", confirm by voiceprint (virtual BLE, real noble and machines)");
  const hub = new SimulatedGlassesHub({
    settlementUrl: node.url,
    hubBundle: input.hub,
    merchantId: input.merchantId,
    owner: { ownerId: "alice", walletId: input.walletId, lang: "en" },
    hub: { timing: { resultDisplayMs: 600 } },
  });
  hub.glasses.on("received", (message) => {
    if (message.type === "say") narrator.step(`   glasses say (${message.lang}): "${message.text}"`);
  });
  await hub.start();
  try {
    const binding = await hub.pair();
    node.enrollGlasses({ glassesId: hub.glasses.glassesId, walletId: input.walletId, publicKeyPem: hub.glassesPublicKeyPem, ownerId: "alice" });
    narrator.step(`glasses ${binding.glassesId} paired with a 6-digit code and bound to wallet ${input.walletId}`);

    const scarf: ProductSighting = { productId: "scarf-42", merchantId: input.merchantId, name: "Écharpe en laine", amountMinor: 1_900, currency: "EUR" };
    await purchase(hub, narrator, "glasses: \"I'll take it\" + voiceprint", { product: scarf, answer: "I'll take it", lang: "en" }, { status: "approved", code: 0 });
    const mug: ProductSighting = { productId: "mug-7", merchantId: input.merchantId, name: "Tasse", amountMinor: 850, currency: "EUR" };
    await purchase(hub, narrator, "glasses: \"non, merci\"", { product: mug, answer: "non, merci", lang: "fr" }, { status: "cancelled", code: ErrorCode.Cancelled });
  } finally {
    await hub.stop();
  }
}

async function purchase(hub: SimulatedGlassesHub, narrator: Narrator, scene: string, script: PurchaseScript, expected: SceneResult & { status: PurchaseOutcome["kind"] }): Promise<void> {
  narrator.step(`-- ${scene}: sees ${script.product.name}, ${money(script.product.amountMinor, script.product.currency)}; says "${script.answer}" (${script.lang satisfies GlassesLang})`);
  const outcome = await hub.purchase(script);
  narrator.record(scene, expected, { status: outcome.kind, code: outcome.code });
  narrator.step(`   outcome ${outcome.kind}${codeText(outcome.code)}${outcome.decision ? `; settlement ${outcome.decision.status}` : "; nothing sent to settlement"}`);
}
