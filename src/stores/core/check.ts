/**
 * The steps runner behind `sesame stores test`: an adapter lists what to try (authenticate,
 * list, read a sample…), the runner runs them in order and reports each with what to fix. A
 * failed step's fix is the error's own `fix` (set by the core's classification), else the
 * step's; a failed `required` step ends the run (nothing after it can work).
 */
import { describeUnexpected, SesameError, safeErrorText } from '../../errors.js';
import type { CheckOptions, CheckReport, CheckStep, StoreClient } from '../contract.js';

export interface CheckPlanStep {
  step: string;
  /** The detail of a success, or finished steps (one check that reports several lines). */
  run(): Promise<string | CheckStep[]>;
  /** What to fix when the error says nothing itself. */
  fix?: string | ((err: unknown) => string | undefined);
  /** Later steps are skipped when this one fails. */
  required?: boolean;
}

/** Run the steps (falsy entries are skipped, for steps that depend on options). */
export async function runChecks(
  plan: ReadonlyArray<CheckPlanStep | false | undefined>,
): Promise<CheckReport> {
  const steps: CheckStep[] = [];
  for (const entry of plan) {
    if (!entry) continue;
    try {
      const done = await entry.run();
      if (typeof done === 'string') steps.push({ step: entry.step, ok: true, detail: done });
      else steps.push(...done);
    } catch (err) {
      const own = err instanceof SesameError ? err.fix : undefined;
      const fallback = typeof entry.fix === 'function' ? entry.fix(err) : entry.fix;
      steps.push({
        step: entry.step,
        ok: false,
        detail: detailOf(err),
        ...((own ?? fallback) ? { fix: own ?? fallback } : {}),
      });
      if (entry.required) break;
    }
  }
  return { ok: steps.length > 0 && steps.every((s) => s.ok), steps };
}

/**
 * A failed step's detail. An error that is not ours may quote what the step was reading (see
 * describeUnexpected): its quotes go; a plain `Error` (an adapter's own words) needs no name.
 */
function detailOf(err: unknown): string {
  if (err instanceof SesameError) return err.message;
  if (err instanceof Error && err.name === 'Error') return safeErrorText(err.message) || 'failed';
  return describeUnexpected(err);
}

/** The usual last step: read the sample secret, if one was given, and say its size and version. */
export function readSampleStep(
  client: Pick<StoreClient, 'get'>,
  options: CheckOptions,
  fix?: CheckPlanStep['fix'],
): CheckPlanStep | undefined {
  const sample = options.sample;
  if (sample === undefined) return undefined;
  return {
    step: 'read',
    fix,
    async run() {
      const got = await client.get({ name: sample, namespaces: options.namespaces });
      const size = typeof got.value === 'string' ? Buffer.byteLength(got.value) : got.value.byteLength;
      return `read "${sample}" (${size} bytes${got.version ? `, version ${got.version}` : ''})`;
    },
  };
}
