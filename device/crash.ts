/** The steps of a sale where a test may cut the power (TapHubOptions.crashPoint). */
export const crashSteps = ["reading", "sealed", "sent", "decided", "reversing"] as const;
export type CrashStep = (typeof crashSteps)[number];

/**
 * Testing hook, explicit as zwave-js's testingHooks: called as a sale passes each step (card read; payment
 * journaled; payment handed to the broker; decision journaled; reversal journaled). Production leaves it unset;
 * the crash-matrix test sets one that SIGKILLs the hub at the step it is testing.
 */
export type CrashPoint = (step: CrashStep) => void;
