/**
 * The store core's metadata helpers: provider fields to SecretMetadata, provider times to ISO
 * text, and the prefix/tag filters of a listing.
 */
import { describe, expect, it } from 'vitest';
import { isoTime, listingMatches, secretMetadata } from '../../src/stores/core/index.js';

describe('isoTime', () => {
  it('reads Dates, ISO text and protobuf Timestamps (seconds as a number, text or Long)', () => {
    const iso = '2026-01-02T03:04:05.678Z';
    expect(isoTime(new Date(iso))).toBe(iso);
    expect(isoTime('2026-01-02T03:04:05.678+00:00')).toBe(iso);
    expect(isoTime({ seconds: 1767323045, nanos: 678_000_000 })).toBe(iso);
    expect(isoTime({ seconds: '1767323045', nanos: 678_999_999 })).toBe(iso);
    expect(isoTime({ seconds: { toString: () => '1767323045' } })).toBe('2026-01-02T03:04:05.000Z');
  });

  it('gives undefined for what is absent or not a time', () => {
    for (const t of [
      undefined,
      null,
      '',
      'yesterday',
      new Date('nope'),
      {},
      { seconds: null },
      { seconds: 'x' },
    ])
      expect(isoTime(t)).toBeUndefined();
  });
});

describe('secretMetadata', () => {
  it('keeps the fields given, in the contract order, with dates as ISO text and tags copied', () => {
    const tags = { team: 'core' };
    const meta = secretMetadata('db/pass', {
      purgeAt: new Date('2026-03-01T00:00:00Z'),
      tags,
      createdAt: { seconds: 0 },
      description: 'the billing database',
      version: 'v1',
      updatedAt: '2026-02-01T00:00:00Z',
      deletedAt: new Date('2026-02-15T00:00:00Z'),
    });
    expect(meta).toEqual({
      name: 'db/pass',
      version: 'v1',
      description: 'the billing database',
      tags: { team: 'core' },
      createdAt: '1970-01-01T00:00:00.000Z',
      updatedAt: '2026-02-01T00:00:00.000Z',
      deletedAt: '2026-02-15T00:00:00.000Z',
      purgeAt: '2026-03-01T00:00:00.000Z',
    });
    expect(Object.keys(meta)).toEqual([
      'name',
      'version',
      'description',
      'tags',
      'createdAt',
      'updatedAt',
      'deletedAt',
      'purgeAt',
    ]);
    expect(meta.tags).not.toBe(tags);
  });

  it('leaves out empty tags, an empty version and missing dates', () => {
    const empty = { version: '', description: '', tags: {}, createdAt: undefined, updatedAt: null };
    expect(secretMetadata('a', empty)).toEqual({ name: 'a' });
    expect(Object.keys(secretMetadata('a', { tags: null }))).toEqual(['name']);
  });
});

describe('listingMatches', () => {
  it('refuses names the adapter could not map', () => {
    expect(listingMatches(undefined, {}, {})).toBe(false);
    expect(listingMatches('a', undefined, {})).toBe(true);
  });

  it('applies the prefix', () => {
    expect(listingMatches('prod/db', {}, { prefix: 'prod/' })).toBe(true);
    expect(listingMatches('dev/db', {}, { prefix: 'prod/' })).toBe(false);
    expect(listingMatches('dev/db', {}, { prefix: '' })).toBe(true);
  });

  it('needs every tag asked for, with the same value', () => {
    const tags = { team: 'core', env: 'prod' };
    expect(listingMatches('a', tags, { tags: { team: 'core' } })).toBe(true);
    expect(listingMatches('a', tags, { tags: { team: 'core', env: 'prod' } })).toBe(true);
    expect(listingMatches('a', tags, { tags: { team: 'web' } })).toBe(false);
    expect(listingMatches('a', tags, { tags: { owner: 'x' } })).toBe(false);
    expect(listingMatches('a', null, { tags: { team: 'core' } })).toBe(false);
  });
});
