/**
 * A 1password-connect store configured through the API by an operator (not a root admin): what its
 * settings make the server do decides (the type's hostAccess), its address passes the outbound
 * policy, and its credentials never come back.
 */
import { describe, expect, it } from 'vitest';
import { operatorCreatesStores } from '../server/helpers.js';

const { create } = operatorCreatesStores('1password-connect');

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
