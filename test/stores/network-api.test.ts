/**
 * The API says what the CLI says about a store at a broken address: `POST /stores/{name}/test`
 * reports the failed step with the core's reason and fix, and a resolve answers 503
 * `store_unavailable` with the same words — never a page, a parse error or "not found".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../server/helpers.js';
import { answer, httpListener, httpsListener, type Listener, LOGIN_PAGE } from './network-faults.js';
import { SELF_SIGNED_CERT } from './network-tls-fixture.js';

let t: TestServer;
let admin: string;
const listeners: Listener[] = [];

beforeAll(async () => {
  const tls = await httpsListener(answer(200, '{}'), { cert: SELF_SIGNED_CERT });
  const page = await httpListener(LOGIN_PAGE);
  listeners.push(tls, page);
  t = await startTestServer({
    config: {
      stores: [
        {
          name: 'doppler',
          type: 'doppler',
          apiUrl: tls.url,
          project: 'backend',
          config: 'prd',
          auth: { method: 'service-token', token: 'dp.st.api-test-token' },
        },
        {
          name: 'vault',
          type: 'vault',
          address: page.url,
          kvVersion: 2,
          auth: { method: 'token', token: 'hvs.api-test-token' },
        },
      ],
    } as never,
  });
  admin = (await t.token('admin', { reveal: true })).token;
});

afterAll(async () => {
  await t?.close();
  for (const l of listeners) await l.close();
});

describe('network failures through the API', () => {
  it('a store test reports the untrusted certificate and NODE_EXTRA_CA_CERTS', async () => {
    const r = await t.call('POST', '/api/v1/stores/doppler/test', { token: admin });
    expect(r.status, r.text).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(r.body.steps[0]).toMatchObject({
      ok: false,
      detail: expect.stringContaining(
        'is not signed by a CA this process trusts (DEPTH_ZERO_SELF_SIGNED_CERT)',
      ),
      fix: expect.stringContaining('NODE_EXTRA_CA_CERTS'),
    });
  });

  it('a resolve through a sign-in page is 503 store_unavailable saying the address does not answer like Vault', async () => {
    const r = await t.call('POST', '/api/v1/resolve', {
      token: admin,
      body: { reference: 'secret://vault/db' },
    });
    expect(r.status, r.text).toBe(503);
    expect(r.body.error.code).toBe('store_unavailable');
    expect(r.body.error.message).toContain('does not answer like Vault: HTTP 200 text/html');
    expect(r.text).not.toMatch(/Sign in|DOCTYPE/);
  });
});
