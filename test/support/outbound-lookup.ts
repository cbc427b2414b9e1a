/**
 * The outbound-policy check every HTTP store type proves: host names are resolved through the
 * store context's `lookup` (the server's outbound policy), and a refused destination fails
 * closed as unavailable, without a request.
 *
 * @example
 * await expectOutboundLookup((host, lookup) => new DopplerStore(settingsAt(host), { ...context, lookup }), {
 *   name: 'DB_USER', namespaces: [''],
 * });
 */
import { expect } from 'vitest';
import { StoreUnavailableError } from '../../src/errors.js';
import type { SecretRequest, StoreClient, StoreContext } from '../../src/stores/contract.js';

type Lookup = NonNullable<StoreContext['lookup']>;

/** A lookup that answers 127.0.0.1, refuses `refused.localhost` as the policy would, and records what it was asked. */
function policyLookup(asked: string[]): Lookup {
  return ((hostname: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    asked.push(hostname);
    if (hostname === 'refused.localhost')
      return cb(Object.assign(new Error('destination refused by server.outbound'), { code: 'EACCES' }));
    return options.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
  }) as unknown as Lookup;
}

/** `make(host, lookup)`: a client of the store at `host` (the emulator's port) with that lookup in its context. */
export async function expectOutboundLookup(
  make: (host: string, lookup: Lookup) => StoreClient,
  request: SecretRequest,
): Promise<void> {
  const asked: string[] = [];
  const lookup = policyLookup(asked);
  const ok = make('localhost', lookup);
  const refused = make('refused.localhost', lookup);
  try {
    expect((await ok.get(request)).value).toBeDefined();
    expect(asked).toContain('localhost');
    const err = await refused.get(request).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err?.message).toMatch(/cannot reach refused\.localhost:\d+ \(EACCES\)/);
  } finally {
    await ok.close?.();
    await refused.close?.();
  }
}
