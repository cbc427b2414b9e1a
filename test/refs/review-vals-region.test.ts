/**
 * vals' `ref+awssecrets://NAME?region=R` reads NAME in region R. Sesame checked R against the
 * store's `region:` only when the store set one; a store that takes its region from the
 * environment (AWS_REGION, the profile) read NAME in whatever region that was, silently: with
 * per-region copies of a secret, another region's value. It must be refused, saying what to set.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { type DialectStore, DialectSet, dialectsSchema } from '../../src/refs/dialects/index.js';

const set = (settings: Record<string, unknown>) =>
  new DialectSet(dialectsSchema.parse({ vals: {} }), [
    { name: 'aws', namespace: '', type: 'aws-secrets-manager', settings } satisfies DialectStore,
  ]);

describe('ref+awssecrets ?region=', () => {
  it('is refused when the store names no region (it would read the environment region)', () => {
    let err: unknown;
    try {
      set({ prefix: '' }).parseVals('ref+awssecrets://myapp/db?region=eu-west-1#/password');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('eu-west-1');
    expect(`${(err as Error).message} ${(err as ConfigError).fix ?? ''}`).toMatch(/region: eu-west-1/);
  });

  it('is read when the store names that region, and refused for another', () => {
    expect(set({ region: 'eu-west-1', prefix: '' }).parseVals('ref+awssecrets://myapp/db?region=eu-west-1#/pw')).toMatchObject({
      store: 'aws',
      name: 'myapp/db',
      key: '/pw',
    });
    expect(() => set({ region: 'us-east-1', prefix: '' }).parseVals('ref+awssecrets://myapp/db?region=eu-west-1')).toThrow(
      ConfigError,
    );
  });

  it('without ?region= the store is read as configured', () => {
    expect(set({ prefix: '' }).parseVals('ref+awssecrets://myapp/db')).toMatchObject({ name: 'myapp/db' });
  });
});
