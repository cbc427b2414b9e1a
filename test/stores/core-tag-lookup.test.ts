/**
 * The core's tag lookup on its own, over a fake provider that serves pages of tagged secrets:
 * exact matches on every tag, exactly one, every page read, listing by namespace, refusals.
 */
import { describe, expect, it } from 'vitest';
import { SecretNotFoundError, SecretStateError, UnsupportedOperationError } from '../../src/errors.js';
import { type TaggedSecret, TagLookup, type TagLookupOptions } from '../../src/stores/core/index.js';

const secret = (label: string, tags: Record<string, string>, id = `id:${label}`): TaggedSecret => ({
  id,
  label,
  tags,
  metadata: { description: `about ${label}`, version: 'v1' },
});

const SECRETS: TaggedSecret[] = [
  secret('team-key', { namespace: 'company.team', key: 'MY_KEY', prefix: 'kestra' }),
  secret('other-key', { namespace: 'company.other', key: 'MY_KEY', prefix: 'kestra' }),
  secret('parent-key', { namespace: 'company', key: 'PARENT_KEY', prefix: 'kestra' }),
  secret('dup-two', { namespace: 'company.team', key: 'DUP', prefix: 'kestra' }),
  secret('dup-one', { namespace: 'company.team', key: 'DUP', prefix: 'kestra' }),
  secret('staging', { namespace: 'company.team', key: 'STAGED', prefix: 'staging' }),
  secret('prefix-only', { namespace: 'company.team', key: 'MY_KEY_LONGER', prefix: 'kestra' }),
  secret('empty-key', { namespace: 'company.team', key: '', prefix: 'kestra' }),
  secret('no-id', { namespace: 'company.team', key: 'NO_ID', prefix: 'kestra' }, ''),
  secret('owner-tagged', { namespace: 'company.team', key: 'OWNED', prefix: 'kestra', owner: 'ops' }),
];

/** A provider that narrows by tag-value prefix (as loose as AWS) and serves two secrets a page. */
function lookup(overrides: Partial<TagLookupOptions> = {}) {
  const calls: Array<{ narrow: { tag: string; value: string }; token: string | undefined; limit?: number }> =
    [];
  const l = new TagLookup({
    tag: '[aws]',
    mode: 'lookup: kestra-tags',
    otherMode: 'lookup: name',
    platform: 'Kestra',
    provider: 'AWS',
    namespaceTag: 'namespace',
    keyTag: 'key',
    required: { prefix: 'kestra' },
    async page(narrow, token, options) {
      calls.push({ narrow, token, ...(options.limit !== undefined ? { limit: options.limit } : {}) });
      const hits = SECRETS.filter((s) => (s.tags[narrow.tag] ?? '').startsWith(narrow.value));
      const at = token === undefined ? 0 : Number(token);
      const next = at + 2 < hits.length ? String(at + 2) : undefined;
      return { items: hits.slice(at, at + 2), next };
    },
    ...overrides,
  });
  return { l, calls };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a failure, got a value');
    },
    (e: unknown) => e as Error,
  );
}

describe('TagLookup.find', () => {
  it('finds the one secret tagged with the key in the caller namespace, reading every page', async () => {
    const { l, calls } = lookup();
    expect((await l.find('MY_KEY', ['company.team', 'company'])).id).toBe('id:team-key');
    expect((await l.find('MY_KEY', ['company.other'])).id).toBe('id:other-key');
    // MY_KEY, MY_KEY_LONGER and the other namespace's MY_KEY: two pages.
    expect(calls.filter((c) => c.narrow.value === 'MY_KEY').map((c) => c.token)).toEqual([
      undefined,
      '2',
      undefined,
      '2',
    ]);
    expect(calls.every((c) => c.narrow.tag === 'key')).toBe(true);
  });

  it('is not found in a parent or another namespace, naming the tags it looked for', async () => {
    const { l } = lookup();
    const err = await failure(l.find('PARENT_KEY', ['company.team', 'company']));
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect(err.message).toBe(
      '[aws] no secret is tagged namespace=company.team, key=PARENT_KEY, prefix=kestra (lookup: kestra-tags)',
    );
    expect((err as SecretNotFoundError).fix).toBe(
      'tag the secret in AWS with namespace=company.team, key=PARENT_KEY, prefix=kestra, as Kestra does; or resolve from the namespace it is tagged with (--namespace)',
    );
  });

  it('matches exactly: not a key prefix, not another required tag value, not an empty key or a secret without id', async () => {
    const { l } = lookup();
    expect(await failure(l.find('MY_KE', ['company.team']))).toBeInstanceOf(SecretNotFoundError);
    expect(await failure(l.find('STAGED', ['company.team']))).toBeInstanceOf(SecretNotFoundError);
    expect(await failure(l.find('', ['company.team']))).toBeInstanceOf(SecretNotFoundError);
    expect(await failure(l.find('NO_ID', ['company.team']))).toBeInstanceOf(SecretNotFoundError);
    expect((await l.find('OWNED', ['company.team'])).id).toBe('id:owner-tagged');
  });

  it('without required tags any value of them matches', async () => {
    const { l } = lookup({ required: undefined });
    expect((await l.find('STAGED', ['company.team'])).id).toBe('id:staging');
    expect(l.tagsText('company.team', 'STAGED')).toBe('namespace=company.team, key=STAGED');
  });

  it('several matches are a conflict naming them all, sorted', async () => {
    const { l } = lookup();
    const err = await failure(l.find('DUP', ['company.team']));
    expect(err).toBeInstanceOf(SecretStateError);
    expect(err.message).toBe(
      '[aws] 2 secrets are tagged namespace=company.team, key=DUP, prefix=kestra (dup-one, dup-two): lookup: kestra-tags needs exactly one; remove the tags from all but one of them',
    );
  });

  it('from the root namespace it is not found without asking the provider', async () => {
    const { l, calls } = lookup();
    const err = await failure(l.find('MY_KEY', ['']));
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect(err.message).toContain('finds a secret in a Kestra namespace');
    expect((err as SecretNotFoundError).fix).toBe(
      'resolve it from the Kestra namespace, e.g. --namespace company.team',
    );
    expect(await failure(l.find('MY_KEY', []))).toBeInstanceOf(SecretNotFoundError);
    expect(calls).toHaveLength(0);
  });
});

describe('TagLookup.list', () => {
  it('lists the keys tagged for the namespace, one provider page per call, with the cursor', async () => {
    const { l, calls } = lookup();
    const names: string[] = [];
    const descriptions: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await l.list({ namespaces: ['company.team'], limit: 7, ...(cursor ? { cursor } : {}) });
      for (const item of page.items) {
        expect(item.namespace).toBe('company.team');
        descriptions.push(item.description ?? '');
        names.push(item.name);
      }
      cursor = page.cursor;
      pages++;
    } while (cursor);
    expect(names.sort()).toEqual(['DUP', 'DUP', 'MY_KEY', 'MY_KEY_LONGER', 'NO_ID', 'OWNED']);
    expect(descriptions.sort()).toEqual([
      'about dup-one',
      'about dup-two',
      'about no-id',
      'about owner-tagged',
      'about prefix-only',
      'about team-key',
    ]);
    expect(pages).toBe(4);
    expect(calls.every((c) => c.narrow.tag === 'namespace' && c.limit === 7)).toBe(true);
  });

  it('filters by key prefix and by tags; the root namespace lists nothing', async () => {
    const { l, calls } = lookup();
    const all = async (options: { prefix?: string; tags?: Record<string, string> }) => {
      const out: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await l.list({
          namespaces: ['company.team'],
          ...options,
          ...(cursor ? { cursor } : {}),
        });
        out.push(...page.items.map((i) => i.name));
        cursor = page.cursor;
      } while (cursor);
      return out.sort();
    };
    expect(await all({ prefix: 'MY_' })).toEqual(['MY_KEY', 'MY_KEY_LONGER']);
    expect(await all({ tags: { owner: 'ops' } })).toEqual(['OWNED']);
    const before = calls.length;
    expect(await l.list({ namespaces: [''] })).toEqual({ items: [] });
    expect(calls).toHaveLength(before);
  });
});

describe('TagLookup.refuse', () => {
  it('refuses changes with what to do instead', () => {
    const { l } = lookup();
    let err: unknown;
    try {
      l.refuse('write');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedOperationError);
    expect((err as Error).message).toBe(
      "[aws] lookup: kestra-tags is read-only: Sesame does not write secrets found by Kestra's tags",
    );
    expect((err as UnsupportedOperationError).fix).toBe(
      'change the secret in Kestra or in AWS itself, or use a store with lookup: name',
    );
  });
});
