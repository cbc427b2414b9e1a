/**
 * Every endpoint with every role (with and without reveal): allowed calls succeed and return
 * what the route's response schema says; denied calls get 403 with a body that says what is
 * missing; no token or a bad one gets 401; a token scoped to `acme` gets 403 in `globex`.
 * Then expiry and revocation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullPath } from '../../src/server/route.js';
import { ROLES, type Role } from '../../src/tokens/index.js';
import { type Reply, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let root: string;
let clock = Date.now();
let counter = 0;
const unique = (prefix: string) => `${prefix}${++counter}`;

interface Case {
  /** `METHOD /path` exactly as the route declares it. */
  route: string;
  roles: Role[];
  revealRoles?: Role[];
  ok: number;
  /** Make the call with `token`; `ns` is the namespace to act in. */
  call(token: string, ns: string): Promise<Reply>;
  /** The call has no namespace to be outside of. */
  unscoped?: boolean;
}

const q = (ns: string) => `namespace=${encodeURIComponent(ns)}`;

/** Resources the admin creates so each call has something to act on. */
async function secretIn(ns: string): Promise<string> {
  const name = unique('fixtures/s');
  const r = await t.call('PUT', `/api/v1/secrets/${encodeURIComponent(name)}?${q(ns)}`, { token: root, body: { value: `value-of-${name}` } });
  expect(r.status).toBe(200);
  return name;
}

async function storeIn(ns: string): Promise<string> {
  const name = unique('st');
  const r = await t.call('POST', '/api/v1/stores', {
    token: root,
    body: { name, namespace: ns, type: 'builtin', settings: { tags: { team: 'x' } } },
  });
  expect(r.status).toBe(201);
  return name;
}

async function connectionIn(ns: string): Promise<string> {
  const name = unique('conn');
  const r = await t.call('POST', '/api/v1/connections', {
    token: root,
    body: { name, namespace: ns, type: 'generic', fields: { user: 'app', password: '{{ secret://builtin/fixtures/pw }}' } },
  });
  expect(r.status).toBe(201);
  return name;
}

async function namespaceUnder(ns: string): Promise<string> {
  const name = ns === '' ? unique('n') : `${ns}.${unique('n')}`;
  const r = await t.call('POST', '/api/v1/namespaces', { token: root, body: { name } });
  expect(r.status).toBe(201);
  return name;
}

const enc = encodeURIComponent;

const cases: Case[] = [
  { route: 'GET /api/v1/namespaces', roles: ['admin', 'operator'], ok: 200, unscoped: true, call: (token) => t.call('GET', '/api/v1/namespaces', { token }) },
  {
    route: 'GET /api/v1/namespaces/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('GET', `/api/v1/namespaces/${await namespaceUnder(ns)}`, { token }),
  },
  {
    route: 'POST /api/v1/namespaces',
    roles: ['admin'],
    ok: 201,
    call: (token, ns) => t.call('POST', '/api/v1/namespaces', { token, body: { name: ns === '' ? unique('n') : `${ns}.${unique('n')}`, isolated: true } }),
  },
  {
    route: 'PATCH /api/v1/namespaces/{name}',
    roles: ['admin'],
    ok: 200,
    call: async (token, ns) => t.call('PATCH', `/api/v1/namespaces/${await namespaceUnder(ns)}`, { token, body: { description: 'x' } }),
  },
  { route: 'GET /api/v1/stores', roles: ['admin', 'operator'], ok: 200, call: (token, ns) => t.call('GET', `/api/v1/stores?${q(ns)}`, { token }) },
  {
    route: 'GET /api/v1/stores/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('GET', `/api/v1/stores/${await storeIn(ns)}?${q(ns)}`, { token }),
  },
  {
    route: 'POST /api/v1/stores',
    roles: ['admin', 'operator'],
    ok: 201,
    call: (token, ns) => t.call('POST', '/api/v1/stores', { token, body: { name: unique('st'), namespace: ns, type: 'builtin' } }),
  },
  {
    route: 'PUT /api/v1/stores/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) =>
      t.call('PUT', `/api/v1/stores/${await storeIn(ns)}?${q(ns)}`, { token, body: { type: 'builtin', settings: { tags: { team: 'y' } } } }),
  },
  {
    route: 'DELETE /api/v1/stores/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('DELETE', `/api/v1/stores/${await storeIn(ns)}?${q(ns)}`, { token }),
  },
  {
    route: 'POST /api/v1/stores/{name}/test',
    roles: ['admin', 'operator'],
    ok: 200,
    call: (token, ns) => t.call('POST', `/api/v1/stores/builtin/test?${q(ns)}`, { token }),
  },
  { route: 'GET /api/v1/connections', roles: ['admin', 'operator'], ok: 200, call: (token, ns) => t.call('GET', `/api/v1/connections?${q(ns)}`, { token }) },
  {
    route: 'GET /api/v1/connections/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('GET', `/api/v1/connections/${await connectionIn(ns)}?${q(ns)}`, { token }),
  },
  {
    route: 'POST /api/v1/connections',
    roles: ['admin', 'operator'],
    ok: 201,
    call: (token, ns) =>
      t.call('POST', '/api/v1/connections', { token, body: { name: unique('conn'), namespace: ns, fields: { token: 'secret://builtin/fixtures/pw' } } }),
  },
  {
    route: 'PUT /api/v1/connections/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) =>
      t.call('PUT', `/api/v1/connections/${await connectionIn(ns)}?${q(ns)}`, { token, body: { fields: { user: 'other', password: '***' } } }),
  },
  {
    route: 'DELETE /api/v1/connections/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('DELETE', `/api/v1/connections/${await connectionIn(ns)}?${q(ns)}`, { token }),
  },
  {
    route: 'POST /api/v1/connections/{name}/refresh',
    roles: ['admin', 'operator', 'runtime'],
    ok: 200,
    call: async (token, ns) => t.call('POST', `/api/v1/connections/${await connectionIn(ns)}/refresh?${q(ns)}`, { token }),
  },
  {
    route: 'POST /api/v1/connections/{name}/test',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('POST', `/api/v1/connections/${await connectionIn(ns)}/test?${q(ns)}`, { token }),
  },
  { route: 'GET /api/v1/secrets', roles: ['admin', 'operator'], ok: 200, call: (token, ns) => t.call('GET', `/api/v1/secrets?${q(ns)}`, { token }) },
  {
    route: 'PUT /api/v1/secrets/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: (token, ns) => t.call('PUT', `/api/v1/secrets/${enc(unique('w/s'))}?${q(ns)}`, { token, body: { value: 'written-value-1' } }),
  },
  {
    route: 'GET /api/v1/secrets/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('GET', `/api/v1/secrets/${enc(await secretIn(ns))}?${q(ns)}`, { token }),
  },
  {
    route: 'GET /api/v1/secrets/{name}/versions',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('GET', `/api/v1/secrets/${enc(await secretIn(ns))}/versions?${q(ns)}`, { token }),
  },
  {
    route: 'GET /api/v1/secrets/{name}/keys',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('GET', `/api/v1/secrets/${enc(await secretIn(ns))}/keys?${q(ns)}`, { token }),
  },
  { route: 'GET /api/v1/store-types', roles: ['admin', 'operator'], ok: 200, unscoped: true, call: (token) => t.call('GET', '/api/v1/store-types', { token }) },
  {
    route: 'GET /api/v1/connection-types',
    roles: ['admin', 'operator'],
    ok: 200,
    unscoped: true,
    call: (token) => t.call('GET', '/api/v1/connection-types', { token }),
  },
  {
    route: 'GET /api/v1/secrets/{name}/value',
    roles: [],
    revealRoles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('GET', `/api/v1/secrets/${enc(await secretIn(ns))}/value?${q(ns)}`, { token }),
  },
  {
    route: 'DELETE /api/v1/secrets/{name}',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('DELETE', `/api/v1/secrets/${enc(await secretIn(ns))}?${q(ns)}`, { token }),
  },
  {
    route: 'POST /api/v1/secrets/{name}/restore',
    roles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => {
      const name = await secretIn(ns);
      expect((await t.call('DELETE', `/api/v1/secrets/${enc(name)}?${q(ns)}`, { token: root })).status).toBe(200);
      return t.call('POST', `/api/v1/secrets/${enc(name)}/restore?${q(ns)}`, { token });
    },
  },
  {
    route: 'POST /api/v1/resolve',
    roles: ['runtime'],
    revealRoles: ['admin', 'operator'],
    ok: 200,
    call: async (token, ns) => t.call('POST', '/api/v1/resolve', { token, body: { reference: `secret://builtin/${await secretIn(ns)}`, namespace: ns } }),
  },
  {
    route: 'POST /api/v1/refresh',
    roles: ['admin', 'operator', 'runtime'],
    ok: 200,
    call: (token, ns) => t.call('POST', '/api/v1/refresh', { token, body: { namespace: ns } }),
  },
  { route: 'GET /api/v1/cache', roles: ['admin', 'operator'], ok: 200, call: (token, ns) => t.call('GET', `/api/v1/cache?${q(ns)}`, { token }) },
  {
    route: 'POST /api/v1/tokens',
    roles: ['admin'],
    ok: 201,
    call: (token, ns) => t.call('POST', '/api/v1/tokens', { token, body: { role: 'runtime', namespace: ns, expiresIn: '1h' } }),
  },
  { route: 'GET /api/v1/tokens', roles: ['admin'], ok: 200, call: (token, ns) => t.call('GET', `/api/v1/tokens?${q(ns)}`, { token }) },
  {
    route: 'GET /api/v1/tokens/{id}',
    roles: ['admin'],
    ok: 200,
    call: async (token, ns) => t.call('GET', `/api/v1/tokens/${(await t.token('runtime', { namespace: ns })).info.id}`, { token }),
  },
  {
    route: 'DELETE /api/v1/tokens/{id}',
    roles: ['admin'],
    ok: 200,
    call: async (token, ns) => t.call('DELETE', `/api/v1/tokens/${(await t.token('runtime', { namespace: ns })).info.id}`, { token }),
  },
  { route: 'GET /api/v1/audit', roles: ['admin', 'auditor'], ok: 200, call: (token, ns) => t.call('GET', `/api/v1/audit?${q(ns)}&limit=5`, { token }) },
  { route: 'GET /api/v1/audit/verify', roles: ['admin', 'auditor'], ok: 200, unscoped: true, call: (token) => t.call('GET', '/api/v1/audit/verify', { token }) },
];

// The session routes take a token in the body or a cookie, not a bearer header: test/server/session.test.ts.
const PUBLIC = ['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/v1/openapi.json', 'POST /api/v1/session', 'GET /api/v1/session', 'DELETE /api/v1/session'];

beforeAll(async () => {
  t = await startTestServer({ now: () => clock });
  root = (await t.token('admin', { reveal: true })).token;
  for (const ns of ['', 'acme', 'acme.devops', 'globex']) {
    await t.call('PUT', `/api/v1/secrets/fixtures%2Fpw?${q(ns)}`, { token: root, body: { value: `pw-${ns}-0123456789` } });
  }
  for (const ns of ['acme', 'globex']) expect((await t.call('POST', '/api/v1/namespaces', { token: root, body: { name: ns } })).status).toBe(201);
});

afterAll(async () => {
  await t?.close();
});

describe('the access matrix', () => {
  it('covers every route the server registers', () => {
    const registered = t.server.routes.map((r) => `${r.method} ${fullPath(r)}`).sort();
    expect(registered).toEqual([...cases.map((c) => c.route), ...PUBLIC].sort());
  });

  // Reveal is a permission of admin and operator tokens only (runtime and auditor tokens with it are refused at creation).
  const mayReveal = (role: Role) => role === 'admin' || role === 'operator';
  const principals = ROLES.flatMap((role) => [
    { role, reveal: false },
    ...(mayReveal(role) ? [{ role, reveal: true }] : []),
  ]);

  for (const c of cases) {
    describe(c.route, () => {
      for (const p of principals) {
        const allowed = c.roles.includes(p.role) || (p.reveal && (c.revealRoles ?? []).includes(p.role));
        const label = `${p.role}${p.reveal ? '+reveal' : ''}`;
        it(`${allowed ? 'allows' : 'denies'} ${label}`, async () => {
          const token = (await t.token(p.role, { reveal: p.reveal })).token;
          const reply = await c.call(token, 'acme');
          if (allowed) {
            expect(reply.status, reply.text).toBe(c.ok);
            const spec = t.server.routes.find((r) => `${r.method} ${fullPath(r)}` === c.route);
            // The response is what the OpenAPI document says it is.
            expect(spec?.response.safeParse(reply.body).success, reply.text).toBe(true);
          } else {
            expect(reply.status, reply.text).toBe(403);
            const revealOnly = (c.revealRoles ?? []).includes(p.role);
            expect(reply.body.error.code).toBe(revealOnly ? 'reveal_required' : 'forbidden_role');
            expect(reply.body.error.message).toContain(revealOnly ? 'reveal permission' : `role ${p.role}`);
          }
        });
      }

      it('answers 401 without a token and with an unknown one', async () => {
        const none = await c.call(undefined as unknown as string, 'acme');
        expect(none.status).toBe(401);
        expect(none.headers.get('www-authenticate')).toBe('Bearer');
        expect(none.body.error).toMatchObject({ code: 'unauthorized', message: expect.stringContaining('Authorization: Bearer') });
        const bad = await c.call('sesame_not-a-real-token', 'acme');
        expect(bad.status).toBe(401);
        expect(bad.body.error.message).toContain('is not known');
      });

      if (!c.unscoped) {
        it('answers 403 outside the token\'s namespace and allows its children', async () => {
          const role = c.roles[0] ?? (c.revealRoles?.[0] as Role);
          const scoped = (await t.token(role, { namespace: 'acme', reveal: mayReveal(role) })).token;
          const outside = await c.call(scoped, 'globex');
          expect(outside.status, outside.text).toBe(403);
          expect(outside.body.error.code).toBe('forbidden_namespace');
          expect(outside.body.error.message).toMatch(
            /^this token is limited to namespace acme and its children; namespace globex(\.n\d+)? is outside it$/,
          );
          const child = await c.call(scoped, 'acme.devops');
          expect(child.status, child.text).toBe(c.ok);
        });
      }
    });
  }

  it('serves the public routes without a token', async () => {
    expect((await t.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await t.call('GET', '/readyz')).body).toMatchObject({ status: 'ready', checks: { database: { ok: true }, masterKey: { ok: true } } });
    expect((await t.call('GET', '/metrics')).text).toContain('sesame_resolve_duration_seconds');
    expect((await t.call('GET', '/api/v1/openapi.json')).body.openapi).toBe('3.1.0');
  });

  it('tells anonymous callers of /readyz whether it is ready, not where the database or the key file is', async () => {
    const r = await t.call('GET', '/readyz');
    expect(r.body).toEqual({ status: 'ready', checks: { database: { ok: true, detail: 'answers' }, masterKey: { ok: true, detail: 'seals and opens' } } });
    expect(r.text).not.toContain(t.dir);
    expect(r.text).not.toMatch(/sesame\.db|master\.key|\.sesame/);
  });

  it('tells a scoped auditor whether the audit chain verifies, not its size, head or checkpoint file', async () => {
    const scoped = (await t.token('auditor', { namespace: 'acme' })).token;
    const whole = await t.call('GET', '/api/v1/audit/verify', { token: root });
    expect(whole.body).toMatchObject({ ok: true, records: expect.any(Number), head: { seq: expect.any(Number) } });
    const mine = await t.call('GET', '/api/v1/audit/verify', { token: scoped });
    expect(mine.status).toBe(200);
    expect(mine.body).toEqual({ ok: true });
    const listed = await t.call('GET', '/api/v1/audit?verify=true&limit=1', { token: scoped });
    expect(listed.body.verification).toEqual({ ok: true });
  });

  it('records denials in the audit trail with what was missing', async () => {
    const runtime = await t.token('runtime', { namespace: 'acme' });
    await t.call('GET', '/api/v1/stores', { token: runtime.token });
    await t.call('POST', '/api/v1/resolve', { token: runtime.token, body: { reference: 'secret://builtin/x', namespace: 'globex' } });
    const audit = await t.call('GET', `/api/v1/audit?actor=${runtime.info.id}&outcome=denied&order=asc`, { token: root });
    expect(audit.body.items).toMatchObject([
      { action: 'access', namespace: 'acme', target: 'GET /api/v1/stores', outcome: 'denied', detail: 'forbidden_role' },
      { action: 'access', namespace: 'globex', target: 'POST /api/v1/resolve', outcome: 'denied', detail: 'forbidden_namespace' },
    ]);
  });
});

describe('token lifetime', () => {
  it('refuses an expired token from the moment it expires', async () => {
    const { token } = await t.token('runtime', { expiresAt: new Date(clock + 60_000).toISOString() });
    const call = () => t.call('POST', '/api/v1/resolve', { token, body: { reference: 'secret://builtin/fixtures/pw' } });
    expect((await call()).status).toBe(200);
    clock += 59_000;
    expect((await call()).status).toBe(200);
    clock += 1_000;
    const expired = await call();
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toBe('the bearer token has expired: ask an admin for a new one (sesame tokens create)');
  });

  it('sets expiry from expiresIn when created through the API', async () => {
    const created = await t.call('POST', '/api/v1/tokens', { token: root, body: { role: 'auditor', expiresIn: '2h' } });
    expect(created.status).toBe(201);
    expect(Date.parse(created.body.expiresAt)).toBe(clock + 2 * 3_600_000);
    const auditor = created.body.token as string;
    expect((await t.call('GET', '/api/v1/audit/verify', { token: auditor })).status).toBe(200);
    clock += 2 * 3_600_000;
    expect((await t.call('GET', '/api/v1/audit/verify', { token: auditor })).status).toBe(401);
  });

  it('refuses a revoked token on its next request', async () => {
    const created = await t.call('POST', '/api/v1/tokens', { token: root, body: { role: 'operator', namespace: 'acme', name: 'ci' } });
    const operator = created.body.token as string;
    expect((await t.call('GET', '/api/v1/stores', { token: operator })).status).toBe(200);
    const revoked = await t.call('DELETE', `/api/v1/tokens/${created.body.id}`, { token: root });
    expect(revoked.body).toMatchObject({ id: created.body.id, revokedBy: expect.stringMatching(/^tok_/) });
    const after = await t.call('GET', '/api/v1/stores', { token: operator });
    expect(after.status).toBe(401);
    expect(after.body.error.message).toContain('was revoked');
  });

  it('takes a revocation made directly in the database (another process) on the next request', async () => {
    const { token, info } = await t.token('runtime');
    expect((await t.call('POST', '/api/v1/refresh', { token, body: { all: true } })).status).toBe(200);
    await t.server.services.tokens.revoke(info.id, 'cli');
    expect((await t.call('POST', '/api/v1/refresh', { token, body: { all: true } })).status).toBe(401);
  });
});

describe('what tokens may grant', () => {
  it('gives a runtime token (which receives values) only from a token that may read them: reveal, or the root admin', async () => {
    t.memory.set('grant/value', 'grant-canary-value');
    const scoped = (await t.token('admin', { namespace: 'acme' })).token;
    const minted = await t.call('POST', '/api/v1/tokens', { token: scoped, body: { role: 'runtime', namespace: 'acme' } });
    expect(minted.status, minted.text).toBe(403);
    expect(minted.body.error).toEqual({
      code: 'reveal_required',
      message:
        'a runtime token receives secret values (through resolve): only a token holding the reveal permission, or an admin token for the root namespace, can create one',
    });
    // What the refusal prevents: a value the scoped admin could not read itself.
    expect((await t.call('POST', '/api/v1/resolve', { token: scoped, body: { reference: 'secret://mem/grant/value' } })).status).toBe(403);
    const other = await t.call('POST', '/api/v1/tokens', { token: scoped, body: { role: 'auditor' } });
    expect(other.status, other.text).toBe(201);
    const revealer = (await t.token('admin', { namespace: 'acme', reveal: true })).token;
    expect((await t.call('POST', '/api/v1/tokens', { token: revealer, body: { role: 'runtime' } })).status).toBe(201);
    const root = (await t.token('admin')).token;
    expect((await t.call('POST', '/api/v1/tokens', { token: root, body: { role: 'runtime', namespace: 'acme' } })).status).toBe(201);
  });

  it('keeps a scoped admin\'s new tokens inside its scope', async () => {
    const admin = (await t.token('admin', { namespace: 'acme', reveal: true })).token;
    const inside = await t.call('POST', '/api/v1/tokens', { token: admin, body: { role: 'runtime', namespace: 'acme.devops' } });
    expect(inside.status).toBe(201);
    expect(inside.body).toMatchObject({ role: 'runtime', namespace: 'acme.devops', reveal: false });
    expect(inside.body.token).toMatch(/^sesame_[A-Za-z0-9_-]{43}$/);
    const defaulted = await t.call('POST', '/api/v1/tokens', { token: admin, body: { role: 'operator' } });
    expect(defaulted.body.namespace).toBe('acme');
    const outside = await t.call('POST', '/api/v1/tokens', { token: admin, body: { role: 'runtime', namespace: '' } });
    expect(outside.status).toBe(403);
    expect(outside.body.error.code).toBe('forbidden_namespace');
  });

  it('lets only a token holding reveal grant reveal', async () => {
    const admin = (await t.token('admin')).token;
    const denied = await t.call('POST', '/api/v1/tokens', { token: admin, body: { role: 'operator', reveal: true } });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toEqual({
      code: 'reveal_required',
      message: 'only a token holding the reveal permission can create a token with it',
    });
    const granted = await t.call('POST', '/api/v1/tokens', { token: root, body: { role: 'operator', reveal: true } });
    expect(granted.body.reveal).toBe(true);
  });

  it('lists tokens within the scope and never shows a token or its hash', async () => {
    const admin = (await t.token('admin', { namespace: 'globex' })).token;
    await t.token('runtime', { namespace: 'globex.team' });
    const list = await t.call('GET', '/api/v1/tokens?limit=1000', { token: admin });
    expect(list.status).toBe(200);
    expect(list.body.items.length).toBeGreaterThanOrEqual(2);
    for (const item of list.body.items) {
      expect(item.namespace === 'globex' || item.namespace.startsWith('globex.')).toBe(true);
      expect(Object.keys(item)).not.toContain('token');
      expect(Object.keys(item)).not.toContain('token_hash');
    }
    expect(list.text).not.toContain(admin);
  });

  it('keeps stores that would borrow the server\'s identity or host to root admins', async () => {
    const operator = (await t.token('operator')).token;
    const scopedAdmin = (await t.token('admin', { namespace: 'acme' })).token;
    const create = (token: string, name: string, type: string, settings: Record<string, unknown>, namespace = 'acme') =>
      t.call('POST', '/api/v1/stores', { token, body: { name, namespace, type, settings } });

    const env = await create(operator, 'host-env', 'env', {});
    expect(env.status).toBe(403);
    expect(env.body.error.message).toBe(
      "a store of type env reads this server's environment: creating or changing one needs an admin token for the root namespace",
    );
    expect((await create(scopedAdmin, 'host-files', 'file', { root: '/' })).status).toBe(403);
    expect((await create(scopedAdmin, 'fetch-any', 'http', { url: 'http://169.254.169.254/{name}' })).status).toBe(403);
    const ambient = await create(operator, 'aws-ambient', 'aws-secrets-manager', { region: 'us-east-1' });
    expect(ambient.status).toBe(403);
    expect(ambient.body.error.message).toContain("uses this server's own AWS credentials");
    expect((await create(operator, 'gcp-file', 'gcp-secret-manager', { project: 'acme-prod', auth: { method: 'service-account-json', file: '/etc/key.json' } })).status).toBe(403);

    // Stores whose settings carry every credential they use are fine for any operator.
    const staticAws = await create(operator, 'aws-static', 'aws-secrets-manager', {
      region: 'us-east-1',
      auth: { method: 'static', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'static-secret-access-key' },
    });
    expect(staticAws.status, staticAws.text).toBe(201);
    expect(staticAws.body.settings.auth).toEqual({ method: 'static', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: '***' });
    // Its address is checked by the outbound policy: not this host, nor the metadata service.
    const loopback = await create(operator, 'vault-local', 'vault', { address: 'http://127.0.0.1:8200', auth: { method: 'token', token: 'vault-token-value' } });
    expect(loopback.status).toBe(403);
    expect(loopback.body.error.code).toBe('forbidden_destination');
    expect(loopback.body.error.message).toContain('store vault-local setting address: 127.0.0.1 is a loopback, link-local or cloud metadata address');
    const vault = await create(operator, 'vault-token', 'vault', { address: 'https://203.0.113.10:8200', auth: { method: 'token', token: 'vault-token-value' } });
    expect(vault.status, vault.text).toBe(201);

    expect((await create(root, 'host-env', 'env', { prefix: 'APP_' }, '')).status).toBe(201);
    // Deleting or changing one needs the same.
    expect((await t.call('DELETE', '/api/v1/stores/host-env?namespace=', { token: operator })).status).toBe(403);
  });
});

describe('stores that read the server host', () => {
  it('serve a token limited to a namespace only when declared inside it', async () => {
    process.env['SESAME_TEST_HOST_VAR'] = 'host-variable-value';
    try {
      const scoped = (await t.token('runtime', { namespace: 'acme' })).token;
      const denied = await t.call('POST', '/api/v1/resolve', { token: scoped, body: { reference: 'secret://env/SESAME_TEST_HOST_VAR' } });
      expect(denied.status).toBe(403);
      expect(denied.body.error).toEqual({
        code: 'forbidden_host_access',
        message:
          "store env reads this server's environment and is declared in the root namespace: this token, limited to namespace acme, may use such a store only when it is declared inside it",
      });
      expect(denied.text).not.toContain('host-variable-value');
      const template = await t.call('POST', '/api/v1/resolve', { token: scoped, body: { template: 'x{{ secret://env/SESAME_TEST_HOST_VAR }}' } });
      expect(template.status).toBe(403);
      const operator = (await t.token('operator', { namespace: 'acme' })).token;
      const conn = await t.call('POST', '/api/v1/connections', {
        token: operator,
        body: { name: 'host-conn', namespace: 'acme', fields: { v: '{{ secret://env/SESAME_TEST_HOST_VAR }}' } },
      });
      expect(conn.status).toBe(201);
      expect((await t.call('POST', '/api/v1/resolve', { token: scoped, body: { connection: 'host-conn' } })).status).toBe(403);
      expect((await t.call('GET', '/api/v1/secrets?store=env', { token: operator })).status).toBe(403);
      expect((await t.call('POST', '/api/v1/stores/env/test?sample=PATH', { token: operator })).status).toBe(403);
      // Nor through a store whose credential would come from the host.
      const borrowed = await t.call('POST', '/api/v1/stores', {
        token: operator,
        body: { name: 'vault-borrow', namespace: 'acme', type: 'vault', settings: { address: 'http://127.0.0.1:8200', auth: { method: 'token', token: '{{ secret://env/SESAME_TEST_HOST_VAR }}' } } },
      });
      expect(borrowed.status).toBe(403);
      expect(borrowed.body.error.message).toContain("store env reads this server's environment");

      const unscoped = (await t.token('runtime')).token;
      const allowed = await t.call('POST', '/api/v1/resolve', { token: unscoped, body: { reference: 'secret://env/SESAME_TEST_HOST_VAR' } });
      expect(allowed.body.value).toBe('host-variable-value');
      // Declared inside the namespace by a root admin, the same kind of store serves it.
      expect(
        (await t.call('POST', '/api/v1/stores', { token: root, body: { name: 'acme-env', namespace: 'acme', type: 'env', settings: { prefix: 'SESAME_TEST_' } } }))
          .status,
      ).toBe(201);
      const inside = await t.call('POST', '/api/v1/resolve', { token: scoped, body: { reference: 'secret://acme-env/HOST_VAR' } });
      expect(inside.body.value).toBe('host-variable-value');
    } finally {
      delete process.env['SESAME_TEST_HOST_VAR'];
    }
  });
});
