/** Settings of test/refs/fuzz.test.ts (a test file may not export). */

/** Generated inputs per property; 105,000 in total. */
export const FUZZ_RUNS = {
  references: 30_000,
  mutatedReferences: 15_000,
  templates: 25_000,
  mutatedTemplates: 10_000,
  pointers: 10_000,
  documents: 5_000,
  roundTrip: 10_000,
} as const;
export const FUZZ_TOTAL_RUNS = Object.values(FUZZ_RUNS).reduce((a, b) => a + b, 0);

/** Varies per run (coverage grows over CI runs); set FUZZ_SEED to replay a failure. */
export const FUZZ_SEED = Number(process.env['FUZZ_SEED']) || Date.now() % 2_147_483_647;
