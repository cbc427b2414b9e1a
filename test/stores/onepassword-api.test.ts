/**
 * A 1password-connect store configured through the API by an operator (not a root admin): what its
 * settings make the server do decides (the type's hostAccess), its address passes the outbound
 * policy, and its credentials never come back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../server/helpers.js';

let t: TestServer;
let operator: string;
const create = (name: string, settings: Record<string, unknown>) =>
  t.call('POST', '/api/v1/stores', {
    token: operator,
    body: { name, namespace: 'acme', type: '1password-connect', settings },
  });

beforeAll(async () => {
  t = await startTestServer();
  const root = (await t.token('admin')).token;
  expect((await t.call('POST', '/api/v1/namespaces', { token: root, body: { name: 'acme' } })).status).toBe(
    201,
  );
  operator = (await t.token('operator')).token;
});
afterAll(async () => {
  await t?.close();
});

describe('1password-connect through the API', () => {
  it('refuses a loopback url; at a public address it is created with the token masked', async () => {
    const loopback = await create('op-local', {
      url: 'http://127.0.0.1:8080',
      auth: { method: 'token', token: 'op-api-token-value-1' },
    });
    expect(loopback.status).toBe(403);
    expect(loopback.body.error.code).toBe('forbidden_destination');
    expect(loopback.text).not.toContain('op-api-token-value-1');
    const ok = await create('op', {
      url: 'https://203.0.113.20:8080',
      vault: 'Prod',
      auth: { method: 'token', token: 'op-api-token-value-1' },
    });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.settings).toEqual({
      url: 'https://203.0.113.20:8080',
      vault: 'Prod',
      auth: { method: 'token', token: '***' },
    });
  });
});
