/**
 * POST /resolve: the request's shape is checked before the permission to receive values. A
 * malformed reference is bad input (400) whoever sends it — parsing a reference reveals nothing
 * about any value — and a well-formed request still needs reveal (403) before anything resolves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    config: {
      connections: [{ name: 'lit', type: 'generic', fields: { token: 'literal-conn-value-7q' } }],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

describe('POST /api/v1/resolve checks the request before the reveal permission', () => {
  it('an admin without reveal gets 400 for a malformed reference, 403 reveal_required for a good one', async () => {
    for (const role of ['admin', 'operator'] as const) {
      const { token } = await t.token(role);
      for (const body of [
        { reference: 'secret://Bad/x' },
        { reference: 'secret://' },
        { template: 'no refs' },
        { bogus: 1 },
      ]) {
        const bad = await t.call('POST', '/api/v1/resolve', { token, body });
        expect(bad.status, `${role} ${JSON.stringify(body)}: ${bad.text}`).toBe(400);
      }
      const good = await t.call('POST', '/api/v1/resolve', {
        token,
        body: { reference: 'secret://env/HOME' },
      });
      expect(good.status, good.text).toBe(403);
      expect(good.body.error.code).toBe('reveal_required');
      // A connection with a literal field is refused before anything resolves.
      const conn = await t.call('POST', '/api/v1/resolve', { token, body: { connection: 'lit' } });
      expect(conn.status, conn.text).toBe(403);
      expect(conn.body.error.code).toBe('reveal_required');
      expect(conn.text).not.toContain('literal-conn-value-7q');
    }
    const { token: viewer } = await t.token('auditor');
    const notAllowed = await t.call('POST', '/api/v1/resolve', {
      token: viewer,
      body: { reference: 'secret://Bad/x' },
    });
    expect(notAllowed.status, notAllowed.text).toBe(403);
    expect(notAllowed.body.error.code).toBe('forbidden_role');
  });
});
