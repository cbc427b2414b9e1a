/**
 * A conjur store configured through the API by an operator (not a root admin): what its
 * settings make the server do decides (the type's hostAccess), its address passes the outbound
 * policy, and its credentials never come back.
 */
import { describe, expect, it } from 'vitest';
import { operatorCreatesStores } from '../server/helpers.js';

const { create } = operatorCreatesStores('conjur');

describe('conjur through the API', () => {
  it('authn-jwt from a host file or the host environment is for root admins only', async () => {
    const file = await create('cj-file', {
      url: 'https://203.0.113.23',
      account: 'acme',
      auth: {
        method: 'authn-jwt',
        serviceId: 'k8s',
        jwtFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      },
    });
    expect(file.status).toBe(403);
    expect(file.body.error.message).toContain('root namespace');
    const env = await create('cj-env', {
      url: 'https://203.0.113.23',
      account: 'acme',
      auth: { method: 'authn-jwt', serviceId: 'k8s', jwtEnv: 'CI_JOB_JWT' },
    });
    expect(env.status).toBe(403);
  });

  it('refuses a loopback url; api-key at a public address is created with the key masked', async () => {
    const auth = { method: 'api-key', login: 'host/apps/sesame', apiKey: 'conjur-api-key-value-1' };
    const loopback = await create('cj-local', { url: 'http://127.0.0.1:443', account: 'acme', auth });
    expect(loopback.status).toBe(403);
    expect(loopback.body.error.code).toBe('forbidden_destination');
    const ok = await create('cj', { url: 'https://203.0.113.23', account: 'acme', auth });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.settings.auth).toEqual({ method: 'api-key', login: 'host/apps/sesame', apiKey: '***' });
    expect(ok.text).not.toContain('conjur-api-key-value-1');
  });
});
