/**
 * The `stores test` plan most stores share — authenticate, list, read the sample — over
 * {@link runChecks}. The adapter says how it authenticates and lists and what each success
 * means; a failed authentication ends the run (nothing after it can work), a failed listing
 * does not stop the read unless `listRequired` says so (an identity may be refused listing and
 * still read), and the sample is read through the client's own `get`
 * ({@link readSampleStep}).
 *
 * @example
 * check(options: CheckOptions) {
 *   return standardChecks(this, options, {
 *     authenticate: async () => `logged in as ${(await this.#session.token()).identity}`,
 *     list: async () => `${(await this.list({ namespaces: options.namespaces, limit: 1 })).items.length} secret(s)`,
 *     fix: { list: 'give the token read access to the folder' },
 *   });
 * }
 */
import type { CheckOptions, CheckReport, StoreClient } from '../contract.js';
import { type CheckPlanStep, readSampleStep, runChecks } from './check.js';

export interface StandardCheckSteps {
  /** Get a token, sign a request…: the detail of a success. */
  authenticate(): Promise<string>;
  /** List one page: the detail of a success. */
  list(): Promise<string>;
  /** What to fix when a failed step's error says nothing itself. */
  fix?: { authenticate?: string; list?: string; read?: string };
  /** A failed listing ends the run too (stores whose reads go through their listing). */
  listRequired?: boolean;
  /** Steps of the store's own after these (falsy entries skipped), e.g. whether it may batch reads. */
  more?: ReadonlyArray<CheckPlanStep | false | undefined>;
}

export function standardChecks(
  client: Pick<StoreClient, 'get'>,
  options: CheckOptions,
  steps: StandardCheckSteps,
): Promise<CheckReport> {
  const { fix = {} } = steps;
  return runChecks([
    { step: 'authenticate', required: true, run: () => steps.authenticate(), fix: fix.authenticate },
    { step: 'list', required: steps.listRequired, run: () => steps.list(), fix: fix.list },
    readSampleStep(client, options, fix.read),
    ...(steps.more ?? []),
  ]);
}
