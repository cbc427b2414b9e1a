/**
 * A document of many references where some fail: every error names the reference and the field
 * it sits in, whatever failed (a missing store, a pin the store cannot serve, a missing secret),
 * so an operator fixing a 20-field connection knows which field to fix.
 */
import { describe, expect, it } from 'vitest';
import { SesameError, StoreNotFoundError, UnsupportedOperationError } from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame, type Sesame } from '../../src/sesame.js';
import { StoreTypeRegistry } from '../../src/stores/registry.js';
import { type MemoryBackend, memoryBackend, memoryStoreType } from '../support/memory-store.js';

function setup(): { sesame: Sesame; mem: MemoryBackend } {
  const mem = memoryBackend();
  const sesame = createSesame(
    { stores: [{ name: 'mem', type: 'memory', backend: 'mem' }] },
    { registry: new StoreTypeRegistry().register(memoryStoreType({ mem })), redactor: new Redactor() },
  );
  for (let i = 1; i <= 20; i++) mem.set(`s${i}`, `value-${i}-never-shown`);
  return { sesame, mem };
}

/** A document of 20 fields, each a reference to s1…s20, with `bad` replacing some. */
function document(bad: Record<string, string>): Record<string, string> {
  const doc: Record<string, string> = {};
  for (let i = 1; i <= 20; i++) doc[`f${i}`] = `secret://mem/s${i}`;
  return { ...doc, ...bad };
}

async function rejection(p: Promise<unknown>): Promise<SesameError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof SesameError)) throw new Error(`expected a SesameError, got ${String(err)}`);
  return err;
}

describe('errors in a document of references', () => {
  it('name the reference and field of a store that does not exist', async () => {
    const { sesame } = setup();
    const err = await rejection(
      sesame.resolve(document({ f12: 'secret://nostore/x' }), { namespace: 'acme.devops' }),
    );
    expect(err).toBeInstanceOf(StoreNotFoundError);
    expect(err.code).toBe('store_not_found');
    expect(err.message).toBe(
      'secret://nostore/x (field f12): no store "nostore" in namespace acme.devops → acme → (root): declare it under stores:, or check the store name',
    );
  });

  it('name the reference and field of a pin the store cannot serve', async () => {
    const { sesame } = setup();
    const err = await rejection(sesame.resolve(document({ f12: 'secret://mem/s12?stage=AWSCURRENT' })));
    expect(err).toBeInstanceOf(UnsupportedOperationError);
    expect(err.code).toBe('unsupported');
    expect(err.message).toMatch(/^secret:\/\/mem\/s12\?stage=AWSCURRENT \(field f12\): \[mem\] \?stage= pins/);
  });

  it('name the field inside a template and inside nested fields', async () => {
    const { sesame } = setup();
    const err = await rejection(
      sesame.resolve({ conn: { dsn: 'postgres://app:{{ secret://gone/pw }}@db/app' } }),
    );
    expect(err.message).toMatch(/^secret:\/\/gone\/pw \(field conn\.dsn\): no store "gone"/);
    expect(err.message).not.toContain('never-shown');
  });
});

describe('several failing references in one document', () => {
  it('are all named in the error, after the first, with what failed, and the store is asked once', async () => {
    const { sesame, mem } = setup();
    const err = await rejection(
      sesame.resolve(
        document({ f7: 'secret://mem/missing7', f9: 'secret://mem/s9#k', f12: 'secret://nostore/x' }),
      ),
    );
    expect(err.code).toBe('not_found');
    expect(err.message).toBe(
      'secret://mem/missing7 (field f7): [mem] no secret missing7 — 2 more references failed: ' +
        'secret://mem/s9#k (field f9): key_not_found; secret://nostore/x (field f12): store_not_found',
    );
    expect(mem.calls.getMany).toBe(1);
    expect(err.message).not.toContain('never-shown');
  });

  it('name at most 5 of the others and count the rest', async () => {
    const { sesame } = setup();
    const bad: Record<string, string> = {};
    for (let i = 1; i <= 9; i++) bad[`f${i}`] = `secret://mem/gone${i}`;
    const err = await rejection(sesame.resolve(document(bad)));
    expect(err.message).toMatch(/^secret:\/\/mem\/gone1 \(field f1\): \[mem\] no secret gone1 — 8 more references failed: /);
    expect(err.message.match(/: not_found/g)).toHaveLength(5);
    expect(err.message).toMatch(/secret:\/\/mem\/gone6 \(field f6\): not_found; and 3 more$/);
  });

  it('leave the message of a lone failure as it was', async () => {
    const { sesame } = setup();
    const err = await rejection(sesame.resolve(document({ f3: 'secret://mem/nope' })));
    expect(err.message).toBe('secret://mem/nope (field f3): [mem] no secret nope');
  });
});
