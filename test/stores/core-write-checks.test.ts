/**
 * The core's check-then-write and metadata-after-write helpers: when the current version is
 * read, what a mismatch says, and how a failed metadata update reports the value already written.
 */
import { describe, expect, it } from 'vitest';
import { AccessDeniedError, SecretStateError } from '../../src/errors.js';
import { checkExpectedVersion, updateAfterWrite } from '../../src/stores/core/write-checks.js';

describe('checkExpectedVersion', () => {
  it('reads nothing when no version is expected', async () => {
    let reads = 0;
    await checkExpectedVersion('[s]', 'db/pass', undefined, async () => {
      reads += 1;
      return 'v1';
    });
    expect(reads).toBe(0);
  });

  it('lets the write go on when the current version is the expected one', async () => {
    await expect(checkExpectedVersion('[s]', 'db/pass', 'v2', async () => 'v2')).resolves.toBeUndefined();
  });

  it('refuses with a 409 naming both versions and what to do', async () => {
    const err = await checkExpectedVersion('[s]', 'db/pass', 'v1', async () => 'v2').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretStateError);
    expect((err as SecretStateError).status).toBe(409);
    expect((err as Error).message).toBe('[s] secret "db/pass" changed: its current version is v2, not v1');
    expect((err as SecretStateError).fix).toBe('read "db/pass" again and write with its current version');
  });

  it('says "none" when the secret has no current version', async () => {
    const err = await checkExpectedVersion('[s]', 'x', 'v1', async () => undefined).catch((e: unknown) => e);
    expect((err as Error).message).toContain('its current version is none, not v1');
  });
});

describe('updateAfterWrite', () => {
  it('runs the given updates in order and skips the falsy ones', async () => {
    const ran: string[] = [];
    await updateAfterWrite('v3', [
      ['description', async () => ran.push('description')],
      false,
      undefined,
      ['tags', async () => ran.push('tags')],
    ]);
    expect(ran).toEqual(['description', 'tags']);
  });

  it('says the value was written, with its version, keeps the error type and fix, and stops', async () => {
    const ran: string[] = [];
    const denied = new AccessDeniedError('access denied: grant TagResource');
    denied.fix = 'grant TagResource';
    const err = await updateAfterWrite('v3', [
      [
        'tags',
        async () => {
          throw denied;
        },
      ],
      ['description', async () => ran.push('description')],
    ]).catch((e: unknown) => e);
    expect(err).toBe(denied);
    expect(denied.message).toBe(
      'the value was written (version v3), but its tags could not be updated: access denied: grant TagResource',
    );
    expect(denied.fix).toBe('grant TagResource');
    expect(ran).toEqual([]);
  });

  it('passes a thrown non-Error through untouched', async () => {
    const err = await updateAfterWrite('v1', [
      [
        'tags',
        async () => {
          throw 'plain';
        },
      ],
    ]).catch((e: unknown) => e);
    expect(err).toBe('plain');
  });
});
