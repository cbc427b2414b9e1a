/**
 * A value built once on first use (an SDK module and its client), shared by concurrent callers,
 * and forgotten when building it fails so the next use tries again instead of failing forever.
 */
export interface Lazy<T> {
  /** The value, building it on first use (concurrent callers share one build). */
  get(): Promise<T>;
  /** Forget the value (disposing it when it was built), so the next `get()` builds a new one. */
  reset(): Promise<void>;
}

/**
 * @example
 * const sdk = lazy(async () => new (await import('@aws-sdk/client-secrets-manager')).SecretsManagerClient({}), (c) => c.destroy());
 * const client = await sdk.get();
 */
export function lazy<T>(build: () => Promise<T>, dispose?: (value: T) => unknown): Lazy<T> {
  let current: Promise<T> | undefined;
  return {
    get() {
      current ??= build().catch((err: unknown) => {
        current = undefined;
        throw err;
      });
      return current;
    },
    async reset() {
      const was = current;
      current = undefined;
      const value = await was?.catch(() => undefined);
      if (value !== undefined && dispose) await dispose(value);
    },
  };
}
