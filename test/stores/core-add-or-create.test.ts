/**
 * The core's add-or-create write over a fake provider: which steps run, in which order, and
 * which errors pass through.
 */
import { describe, expect, it } from 'vitest';
import { addOrCreate } from '../../src/stores/core/index.js';

class Missing extends Error {}
class Taken extends Error {}

/** A provider holding one secret's versions, or none; `race` creates it just before our create. */
function provider(options: { exists?: boolean; race?: boolean; createStores?: boolean; fail?: Error } = {}) {
  let exists = options.exists ?? false;
  const versions: string[] = [];
  const calls: string[] = [];
  const steps = {
    add: async () => {
      calls.push('add');
      if (options.fail) throw options.fail;
      if (!exists) throw new Missing('no such secret');
      versions.push(`v${versions.length + 1}`);
      return versions[versions.length - 1] as string;
    },
    missing: (err: unknown) => err instanceof Missing,
    create: async () => {
      calls.push('create');
      if (options.race) exists = true;
      if (exists) throw new Taken('exists');
      exists = true;
      if (!options.createStores) return undefined;
      versions.push('v1');
      return 'v1';
    },
    taken: (err: unknown) => err instanceof Taken,
  };
  return { steps, calls, versions: () => versions };
}

describe('addOrCreate', () => {
  it('adds a version to an existing secret without creating it', async () => {
    const p = provider({ exists: true });
    expect(await addOrCreate(p.steps)).toEqual({ result: 'v1', created: false });
    expect(p.calls).toEqual(['add']);
  });

  it('creates a missing secret, then adds the value when creating did not store it', async () => {
    const p = provider();
    expect(await addOrCreate(p.steps)).toEqual({ result: 'v1', created: true });
    expect(p.calls).toEqual(['add', 'create', 'add']);
  });

  it("takes create's result when creating stored the value", async () => {
    const p = provider({ createStores: true });
    expect(await addOrCreate(p.steps)).toEqual({ result: 'v1', created: true });
    expect(p.calls).toEqual(['add', 'create']);
    expect(p.versions()).toEqual(['v1']);
  });

  it('adds to the secret another writer created in between', async () => {
    const p = provider({ race: true, createStores: true });
    expect(await addOrCreate(p.steps)).toEqual({ result: 'v1', created: true });
    expect(p.calls).toEqual(['add', 'create', 'add']);
  });

  it('any other failure of add or create fails the write', async () => {
    const denied = new Error('denied');
    const p = provider({ fail: denied });
    await expect(addOrCreate(p.steps)).rejects.toBe(denied);
    expect(p.calls).toEqual(['add']);
    const q = provider();
    const refused = new Error('quota');
    await expect(
      addOrCreate({
        ...q.steps,
        create: async () => {
          throw refused;
        },
      }),
    ).rejects.toBe(refused);
  });
});
