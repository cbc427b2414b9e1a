/**
 * A infisical store configured through the API by an operator (not a root admin): what its
 * settings make the server do decides (the type's hostAccess), its address passes the outbound
 * policy, and its credentials never come back.
 */
import { describe, expect, it } from 'vitest';
import { operatorCreatesStores } from '../server/helpers.js';

const { create } = operatorCreatesStores('infisical');

describe('infisical through the API', () => {
  it('refuses a loopback siteUrl; at a public address the client secret is masked and the client id kept', async () => {
    const auth = {
      method: 'universal-auth',
      clientId: 'client-id-1',
      clientSecret: 'inf-api-client-secret-1',
    };
    const loopback = await create('inf-local', {
      siteUrl: 'http://127.0.0.1:8080',
      projectId: 'p',
      environment: 'prod',
      auth,
    });
    expect(loopback.status).toBe(403);
    expect(loopback.body.error.code).toBe('forbidden_destination');
    const ok = await create('inf', {
      siteUrl: 'https://203.0.113.22',
      projectId: 'p',
      environment: 'prod',
      auth,
    });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.settings.auth).toEqual({
      method: 'universal-auth',
      clientId: 'client-id-1',
      clientSecret: '***',
    });
    expect(ok.text).not.toContain('inf-api-client-secret-1');
  });
});
