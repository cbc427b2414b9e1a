/** The 1Password Connect emulator answers with the Connect API reference's paths, statuses and bodies (plain fetch). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OnePasswordEmulator, startOnePasswordEmulator } from './index.js';

describe('1Password Connect emulator wire format', () => {
  let op: OnePasswordEmulator;
  let token: string;
  let prod: string;
  let other: string;
  const get = async (path: string, auth: string | null = token) => {
    const res = await fetch(`${op.url}${path}`, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });
    const text = await res.text();
    return {
      status: res.status,
      body: text && res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as unknown) : text,
    };
  };

  beforeAll(async () => {
    op = await startOnePasswordEmulator();
    prod = op.addVault('Prod');
    other = op.addVault('Other');
    op.putItem('Prod', 'db', { username: 'u', password: 'p' });
    token = op.issueToken(['Prod']);
  });
  afterAll(async () => {
    await op.stop();
  });

  it('a Document item lists its file with content_path; the content endpoint answers its bytes, 404 for another id', async () => {
    const bytes = Buffer.from([0x30, 0x82, 0x00, 0xff, 0x0a]);
    const itemId = op.putDocument('Prod', 'tls-key', 'key.der', bytes);
    const item = (await get(`/v1/vaults/${prod}/items/${itemId}`)).body as {
      category: string;
      files: Array<{ id: string; name: string; size: number; content_path: string }>;
    };
    expect(item.category).toBe('DOCUMENT');
    expect(item.files).toEqual([
      {
        id: expect.stringMatching(/^[a-z0-9]{26}$/),
        name: 'key.der',
        size: 5,
        content_path: `v1/vaults/${prod}/items/${itemId}/files/${item.files[0]?.id}/content`,
      },
    ]);
    const res = await fetch(`${op.url}/${item.files[0]?.content_path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="key.der"');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
    expect(await get(`/v1/vaults/${prod}/items/${itemId}/files/nope/content`)).toEqual({
      status: 404,
      body: { status: 404, message: 'file nope not found' },
    });
  });

  it('401 ErrorResponse for a missing or unknown bearer token; /heartbeat needs none', async () => {
    expect(await get('/v1/vaults', null)).toEqual({
      status: 401,
      body: { status: 401, message: 'Invalid token signature' },
    });
    expect(await get('/v1/vaults', 'nope')).toEqual({
      status: 401,
      body: { status: 401, message: 'Invalid token signature' },
    });
    expect(await get('/heartbeat', null)).toEqual({ status: 200, body: '.' });
  });

  it('lists only vaults in scope, filters by SCIM name eq, refuses other filters with 400', async () => {
    const all = (await get('/v1/vaults')).body as Array<{ id: string; name: string }>;
    expect(all.map((v) => v.name)).toEqual(['Prod']);
    expect(all[0]?.id).toMatch(/^[a-z0-9]{26}$/);
    expect(
      ((await get(`/v1/vaults?filter=${encodeURIComponent('name eq "Prod"')}`)).body as unknown[]).length,
    ).toBe(1);
    expect(
      ((await get(`/v1/vaults?filter=${encodeURIComponent('name eq "Nope"')}`)).body as unknown[]).length,
    ).toBe(0);
    expect((await get(`/v1/vaults?filter=${encodeURIComponent('name co "Pro"')}`)).status).toBe(400);
  });

  it('403 "vault … is not in scope" and 404 "vault … not found" / "item … not found"', async () => {
    expect(await get(`/v1/vaults/${other}`)).toEqual({
      status: 403,
      body: { status: 403, message: `vault ${other} is not in scope` },
    });
    expect(await get('/v1/vaults/aaaaaaaaaaaaaaaaaaaaaaaaaa')).toEqual({
      status: 404,
      body: { status: 404, message: 'vault aaaaaaaaaaaaaaaaaaaaaaaaaa not found' },
    });
    expect(await get(`/v1/vaults/${prod}/items/bbbbbbbbbbbbbbbbbbbbbbbbbb`)).toEqual({
      status: 404,
      body: { status: 404, message: 'item bbbbbbbbbbbbbbbbbbbbbbbbbb not found' },
    });
  });

  it('items by title eq are summaries without fields; the full item has fields with purpose and type', async () => {
    const [summary] = (await get(`/v1/vaults/${prod}/items?filter=${encodeURIComponent('title eq "db"')}`))
      .body as Array<Record<string, unknown>>;
    expect(summary).toMatchObject({ title: 'db', vault: { id: prod }, category: 'LOGIN', version: 1 });
    expect(summary).not.toHaveProperty('fields');
    const full = (await get(`/v1/vaults/${prod}/items/${summary?.id}`)).body as { fields: unknown[] };
    expect(full.fields).toEqual([
      { id: 'username', type: 'STRING', purpose: 'USERNAME', label: 'username', value: 'u' },
      { id: 'password', type: 'CONCEALED', purpose: 'PASSWORD', label: 'password', value: 'p' },
    ]);
  });
});
