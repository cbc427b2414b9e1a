/** The store core's not-found fixes: one wording per thing asked of a missing name, in every store. */
import { describe, expect, it } from 'vitest';
import { notFoundFix } from '../../src/stores/core/index.js';

describe('notFoundFix', () => {
  it('tells a read to create the secret or check where it was looked for', () => {
    expect(notFoundFix('read')).toBe('create the secret, or check the name and the store prefix');
    expect(notFoundFix('read', { check: 'the name, the region and the store prefix' })).toBe(
      'create the secret, or check the name, the region and the store prefix',
    );
  });

  it('does not tell a missing version or label to create the secret: it names the listing command', () => {
    expect(notFoundFix('version', { name: 'db/password' })).toBe(
      'pin a version the secret has (`sesame secrets versions db/password` lists them), or leave ?version= out for the latest',
    );
    expect(notFoundFix('version')).toBe(
      'pin a version the secret has (`sesame secrets versions` lists them), or leave ?version= out for the latest',
    );
    expect(notFoundFix('stage', { name: 'api' })).toBe(
      'pin a label the secret has (`sesame secrets versions api` lists them), or leave ?stage= out for the current value',
    );
  });

  it('says there is nothing to delete or restore, with why a restore found nothing', () => {
    expect(notFoundFix('delete')).toBe('nothing to delete: check the name and the store prefix');
    expect(notFoundFix('delete', { check: 'the name, the region and the store prefix' })).toBe(
      'nothing to delete: check the name, the region and the store prefix',
    );
    expect(notFoundFix('restore')).toBe(
      'nothing to restore: no deleted secret has this name (deleted for good, or never created); check the name and the store prefix',
    );
    expect(notFoundFix('restore', { gone: 'purged, or never created' })).toBe(
      'nothing to restore: no deleted secret has this name (purged, or never created); check the name and the store prefix',
    );
  });

  it("tells a deleted secret to be restored, with the provider's own way after Sesame's command", () => {
    expect(notFoundFix('deleted', { name: 'db/password' })).toBe(
      'restore it with `sesame secrets restore db/password`',
    );
    expect(notFoundFix('deleted', { alternative: 'write it again (a write recovers it first)' })).toBe(
      'restore it with `sesame secrets restore <name>`, or write it again (a write recovers it first)',
    );
  });

  it('never advises creating the secret except for a read', () => {
    for (const asked of ['version', 'stage', 'delete', 'restore', 'deleted'] as const)
      expect(notFoundFix(asked, { name: 'x' })).not.toMatch(/create the secret/);
  });
});
