/**
 * A token cannot mint a token with more rights than itself, and lifetime is one of them: an
 * admin token given for an hour could create an admin token that never expires, so a short-lived
 * (or leaked, soon-to-expire) token became a permanent one. A token with an expiry may only
 * create tokens that expire no later than itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

describe('a token with an expiry creating tokens', () => {
  let t: TestServer;
  let shortLived: string;
  let expiresAt: string;
  beforeAll(async () => {
    t = await startTestServer();
    expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    shortLived = (await t.token('admin', { reveal: true, expiresAt })).token;
  });
  afterAll(async () => {
    await t.close();
  });

  it('cannot create a token that never expires or expires after it', async () => {
    const never = await t.call('POST', '/api/v1/tokens', { token: shortLived, body: { role: 'admin' } });
    expect(never.status).toBe(403);
    const message = (never.body as { error: { message: string; fix?: string } }).error;
    expect(message.message).toContain('expires');
    const later = await t.call('POST', '/api/v1/tokens', { token: shortLived, body: { role: 'operator', expiresIn: '30d' } });
    expect(later.status).toBe(403);
    const listed = await t.call('GET', '/api/v1/tokens', { token: shortLived });
    expect((listed.body as { items: unknown[] }).items).toHaveLength(1);
  });

  it('can create one that expires no later than itself', async () => {
    const ok = await t.call('POST', '/api/v1/tokens', { token: shortLived, body: { role: 'operator', expiresIn: '10m' } });
    expect(ok.status).toBe(201);
    const same = await t.call('POST', '/api/v1/tokens', { token: shortLived, body: { role: 'operator', expiresAt } });
    expect(same.status).toBe(201);
  });
});
