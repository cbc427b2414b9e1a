/**
 * Server-side request forgery through an `http` store created through the API (security review).
 *
 * An operator scoped to `acme.devops` creates `{"url": "http://{+name}@8.8.8.8/"}`: the host
 * checked at creation is 8.8.8.8, but `{+name}` keeps `/`, so the reference
 * `secret://hx/127.0.0.1/internal-admin` becomes `http://127.0.0.1/internal-admin@8.8.8.8/`
 * — a request to this host's loopback, whose answer a runtime token then reads as the "secret".
 * The store must be refused at creation, and the loopback server never reached.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../server/helpers.js';

const BODY = 'internal-admin-canary-7f3e';

let t: TestServer;
let loopback: Server;
/** The loopback address the server listens on, port 80 (the port `http://127.0.0.1/…` reaches). */
let address = '';
let requests = 0;

async function listenOn80(): Promise<string> {
  // 127.0.0.1:80 as in the report; another loopback address when something else holds it.
  for (let i = 1; i < 10; i++) {
    const host = `127.0.0.${i}`;
    const code = await new Promise<string | undefined>((resolve) => {
      loopback.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      loopback.listen(80, host, () => resolve(undefined));
    });
    if (code === undefined) return host;
    // Not allowed to listen on port 80 (not root): the address is still the target; the refusal at
    // creation and the failed resolve are checked all the same, without a listener to count.
    if (code === 'EACCES') return '127.0.0.1';
  }
  throw new Error('no loopback address with port 80 free (the test listens there)');
}

beforeAll(async () => {
  loopback = createServer((_req, res) => {
    requests += 1;
    res.end(BODY);
  });
  address = await listenOn80();
  // `x` (what a placeholder became when the host was checked) resolves to a public-looking address.
  t = await startTestServer({
    resolveHost: async (host) => {
      if (host === 'x') return ['203.0.113.10'];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    },
  });
  const root = (await t.token('admin')).token;
  for (const name of ['acme', 'acme.devops'])
    expect((await t.call('POST', '/api/v1/namespaces', { token: root, body: { name } })).status).toBe(201);
});

afterAll(async () => {
  await t?.close();
  await new Promise<void>((r) => (loopback.listening ? loopback.close(() => r()) : r()));
});

describe('http store: the name cannot choose the host', () => {
  it('refuses {+name} in the user info at creation; a runtime token never reaches the loopback server', async () => {
    const operator = (await t.token('operator', { namespace: 'acme.devops' })).token;
    const runtime = (await t.token('runtime', { namespace: 'acme.devops' })).token;
    const created = await t.call('POST', '/api/v1/stores', {
      token: operator,
      body: { name: 'hx', type: 'http', settings: { url: 'http://{+name}@8.8.8.8/' } },
    });
    expect(created.status, created.text).toBe(400);
    expect(created.body?.error?.code).toBe('validation');
    expect(created.text).toMatch(/only in the path and the query/);
    expect(created.text).toMatch(/not in the scheme, user info, host or port/);

    const resolved = await t.call('POST', '/api/v1/resolve', {
      token: runtime,
      body: { reference: `secret://hx/${address}/internal-admin` },
    });
    expect(resolved.status, resolved.text).not.toBe(200);
    expect(resolved.text).not.toContain(BODY);
    expect(requests, 'requests reaching the loopback server').toBe(0);
  });

  it('refuses {name} in the host, even when the stand-in host resolves', async () => {
    const operator = (await t.token('operator', { namespace: 'acme.devops' })).token;
    const created = await t.call('POST', '/api/v1/stores', {
      token: operator,
      body: { name: 'hy', type: 'http', settings: { url: 'http://{name}/v1' } },
    });
    expect(created.status, created.text).toBe(400);
    expect(created.text).toMatch(/not in the scheme, user info, host or port/);
    expect(requests).toBe(0);
  });

  it('checks listUrl against the outbound policy too: a loopback listUrl is refused, the listing never reaches it', async () => {
    const operator = (await t.token('operator', { namespace: 'acme.devops' })).token;
    const created = await t.call('POST', '/api/v1/stores', {
      token: operator,
      body: {
        name: 'hl',
        type: 'http',
        settings: { url: 'http://8.8.8.8/v1/{name}', listUrl: `http://${address}/internal-admin` },
      },
    });
    const listed =
      created.status === 201
        ? await t.call('GET', '/api/v1/secrets?namespace=acme.devops&store=hl', { token: operator })
        : undefined;
    expect(created.status, created.text).toBe(403);
    expect(created.body?.error?.code).toBe('forbidden_destination');
    expect(created.text).toMatch(/listUrl/);
    expect(listed?.text ?? '').not.toContain(BODY);
    expect(requests).toBe(0);
  });

  it('still takes {+name} in the path for the same operator', async () => {
    const operator = (await t.token('operator', { namespace: 'acme.devops' })).token;
    const created = await t.call('POST', '/api/v1/stores', {
      token: operator,
      body: { name: 'hz', type: 'http', settings: { url: 'http://8.8.8.8/v1/{+name}' } },
    });
    expect(created.status, created.text).toBe(201);
  });
});
