/**
 * A write to a provider that keeps values as versions of a secret which must exist first
 * (AWS Secrets Manager's PutSecretValue, Google Secret Manager's addSecretVersion): add the
 * version; when the secret does not exist yet, create it; when another writer created it
 * between the two calls, add the version to theirs. The steps are the adapter's calls, and the
 * adapter says which errors mean "no such secret" and "it exists now"; anything else fails the
 * write as it is.
 *
 * @example
 * const { result, created } = await addOrCreate({
 *   add: () => client.addSecretVersion({ parent, payload }),
 *   missing: (err) => status(err) === 'NOT_FOUND',
 *   create: async () => void (await client.createSecret({ parent: project, secretId })),
 *   taken: (err) => status(err) === 'ALREADY_EXISTS',
 * });
 */
export interface AddOrCreateSteps<T> {
  /** Add a version to the existing secret. */
  add(): Promise<T>;
  /** Whether the add failed because the secret does not exist (and may be created). */
  missing(err: unknown): boolean;
  /**
   * Create the secret. Its result when creating stored the value too (AWS CreateSecret takes
   * one); `undefined` when the value still has to be added.
   */
  create(): Promise<T | undefined>;
  /** Whether the create failed because the secret exists now. */
  taken(err: unknown): boolean;
}

/** The write's result, and whether this write went through `create` (the secret was missing). */
export async function addOrCreate<T>(steps: AddOrCreateSteps<T>): Promise<{ result: T; created: boolean }> {
  try {
    return { result: await steps.add(), created: false };
  } catch (err) {
    if (!steps.missing(err)) throw err;
  }
  let made: T | undefined;
  try {
    made = await steps.create();
  } catch (err) {
    if (!steps.taken(err)) throw err;
  }
  return { result: made ?? (await steps.add()), created: true };
}
