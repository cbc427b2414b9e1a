/**
 * The two halves around a write that providers without a conditional, all-in-one write share
 * (AWS Secrets Manager, Google Secret Manager):
 *
 * - {@link checkExpectedVersion}: `expectedVersion` as check-then-write. The current version is
 *   read and compared before writing; this is a check, not a lock: two writers racing between
 *   the check and the write both succeed.
 * - {@link updateAfterWrite}: metadata (a description, tags) applied by calls of their own after
 *   the value was written. When one fails, the value is in already: the error says so, with the
 *   version written, so the caller does not write it again blindly.
 *
 * @example
 * await checkExpectedVersion(core.tag, name, options.expectedVersion, async () => (await this.describe(name)).version);
 * const { version } = await putValue();
 * await updateAfterWrite(version, [
 *   options.description !== undefined && ['description', () => setDescription(options.description)],
 *   tags.length > 0 && ['tags', () => setTags(tags)],
 * ]);
 */
import { SecretStateError } from '../../errors.js';

/**
 * Refuse the write (a {@link SecretStateError}, 409) when `expected` is set and `current()`
 * reads another version; `current()` is not called when nothing is expected.
 */
export async function checkExpectedVersion(
  tag: string,
  name: string,
  expected: string | undefined,
  current: () => Promise<string | undefined>,
): Promise<void> {
  if (expected === undefined) return;
  const now = await current();
  if (now === expected) return;
  const err = new SecretStateError(
    `${tag} secret "${name}" changed: its current version is ${now ?? 'none'}, not ${expected}`,
  );
  err.fix = `read "${name}" again and write with its current version`;
  throw err;
}

/** One metadata update after a write: what it updates (for the message), and the call. */
export type UpdateStep = readonly [what: string, run: () => Promise<unknown>];

/**
 * Run the updates in order (falsy entries are skipped, for metadata the write was not given).
 * A failure keeps its type and fix; its message gets "the value was written (version …), but
 * its <what> could not be updated: " in front, and later updates are not tried.
 */
export async function updateAfterWrite(
  version: string,
  steps: ReadonlyArray<UpdateStep | false | undefined>,
): Promise<void> {
  for (const step of steps) {
    if (!step) continue;
    try {
      await step[1]();
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      err.message = `the value was written (version ${version}), but its ${step[0]} could not be updated: ${err.message}`;
      throw err;
    }
  }
}
