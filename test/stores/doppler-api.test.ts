/**
 * A doppler store configured through the API by an operator (not a root admin): what its
 * settings make the server do decides (the type's hostAccess), its address passes the outbound
 * policy, and its credentials never come back.
 */
import { describe, expect, it } from 'vitest';
import { operatorCreatesStores } from '../server/helpers.js';

const { create } = operatorCreatesStores('doppler');

describe('doppler through the API', () => {
  it('refuses a link-local apiUrl; the default public API is created with the token masked', async () => {
    const metadata = await create('dp-meta', {
      apiUrl: 'http://169.254.169.254',
      auth: { method: 'service-token', token: 'dp.st.prd.apitokenvalue1' },
    });
    expect(metadata.status).toBe(403);
    expect(metadata.body.error.code).toBe('forbidden_destination');
    expect(metadata.text).not.toContain('apitokenvalue1');
    const ok = await create('dp', {
      project: 'backend',
      config: 'prd',
      apiUrl: 'https://203.0.113.21',
      auth: { method: 'service-token', token: 'dp.st.prd.apitokenvalue1' },
    });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.settings.auth).toEqual({ method: 'service-token', token: '***' });
  });
});
