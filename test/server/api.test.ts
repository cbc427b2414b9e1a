/**
 * What each resource does through the API, the operational behaviour (validation, limits,
 * metrics, logs, readiness, shutdown), and at the end a scan of everything the servers of this
 * file wrote — log lines, audit rows, metrics, error bodies, database files — for the secret
 * values and tokens used: none may appear.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullPath } from '../../src/server/route.js';
import { type Reply, startTestServer, type TestServer } from './helpers.js';

const rand = () => randomBytes(6).toString('hex');
/** Every secret value and token this file uses; the leak scan looks for each. */
const SECRETS = {
  dbPassword: `db-pass-${rand()}`,
  dbPassword2: `db-pass-two-${rand()}`,
  storeCredential: `mem-cred-${rand()}`,
  connectionLiteral: `conn-literal-${rand()}`,
  jiraToken: `jira-tok-${rand()}`,
  rootSecret: `root-only-${rand()}`,
  envValue: `env-value-${rand()}`,
};
const tokensUsed: string[] = [];
const servers: TestServer[] = [];

let t: TestServer;
let clock = Date.now();
let admin: string;
let operator: string;
let runtime: string;

const envName = `SESAME_TEST_API_${rand().toUpperCase()}`;

async function start(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const server = await startTestServer({ now: () => clock, ...options });
  servers.push(server);
  return server;
}

async function token(server: TestServer, role: 'admin' | 'operator' | 'runtime' | 'auditor', options: { namespace?: string; reveal?: boolean } = {}) {
  const created = await server.token(role, options);
  tokensUsed.push(created.token);
  return created.token;
}

const ok = (reply: Reply, status = 200) => {
  expect(reply.status, reply.text).toBe(status);
  return reply.body;
};

beforeAll(async () => {
  process.env[envName] = SECRETS.envValue;
  t = await start({
    config: {
      namespaces: { fixed: { isolated: false } },
      stores: [{ name: 'files', type: 'file', root: '/nonexistent' }],
      connections: [{ name: 'from-file', namespace: 'acme', type: 'generic', fields: { url: 'https://example.test' } }],
    },
  });
  admin = await token(t, 'admin', { reveal: true });
  operator = await token(t, 'operator');
  runtime = await token(t, 'runtime');
});

afterAll(async () => {
  delete process.env[envName];
  for (const s of servers) await s.close().catch(() => {});
});

const resolve = (body: Record<string, unknown>, as = runtime, server = t) => server.call('POST', '/api/v1/resolve', { token: as, body });

describe('stores', () => {
  it('creates a store whose credential is never returned and is sealed in the database', async () => {
    const created = ok(
      await t.call('POST', '/api/v1/stores', {
        token: admin,
        body: { name: 'mem', type: 'memory', description: 'test', cache: { ttl: '1s', staleIfError: '1h' }, settings: { backend: 'mem', token: SECRETS.storeCredential } },
      }),
      201,
    );
    expect(created).toMatchObject({
      name: 'mem',
      namespace: '',
      type: 'memory',
      source: 'api',
      settings: { backend: 'mem', token: '***' },
      cache: { ttl: '1s', staleIfError: '1h', maxEntries: 1000 },
      revision: 1,
    });
    expect(ok(await t.call('GET', '/api/v1/stores/mem', { token: operator })).settings.token).toBe('***');
    const row = await t.server.services.backend.database.kysely.selectFrom('config_stores').selectAll().where('name', '=', 'mem').executeTakeFirstOrThrow();
    expect(Buffer.concat([row.ciphertext, row.wrapped_key]).includes(SECRETS.storeCredential)).toBe(false);
    expect(JSON.stringify(row)).not.toContain(SECRETS.storeCredential);
  });

  it('resolves through a store created at run time', async () => {
    t.memory.set('jira', JSON.stringify({ token: SECRETS.jiraToken }));
    const body = ok(await resolve({ reference: 'secret://mem/jira#token' }));
    expect(body).toMatchObject({ value: SECRETS.jiraToken, stale: false, references: [{ store: 'mem', outcome: 'miss' }] });
  });

  it('keeps a credential sent back as *** on update', async () => {
    const updated = ok(
      await t.call('PUT', '/api/v1/stores/mem', {
        token: admin,
        body: { type: 'memory', description: 'changed', cache: { ttl: '1s', staleIfError: '1h' }, settings: { backend: 'mem', token: '***' } },
      }),
    );
    expect(updated).toMatchObject({ description: 'changed', revision: 2, settings: { token: '***' } });
    const config = t.sesame.config.stores.find((s) => s.name === 'mem');
    expect((config?.settings as { token?: string } | undefined)?.token).toBe(SECRETS.storeCredential);
  });

  it('lists config-file, implicit and API stores with filters and pages', async () => {
    const all = ok(await t.call('GET', '/api/v1/stores?limit=1000', { token: operator }));
    const bySource = Object.fromEntries(all.items.map((s: { name: string; source: string }) => [s.name, s.source]));
    expect(bySource).toMatchObject({ builtin: 'implicit', env: 'implicit', files: 'config', mem: 'api' });
    expect(ok(await t.call('GET', '/api/v1/stores?type=memory', { token: operator })).items.map((s: { name: string }) => s.name)).toEqual(['mem']);
    expect(ok(await t.call('GET', '/api/v1/stores?prefix=fi', { token: operator })).items.map((s: { name: string }) => s.name)).toEqual(['files']);
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = ok(await t.call('GET', `/api/v1/stores?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { token: operator }));
      expect(page.items.length).toBeLessThanOrEqual(1);
      names.push(...page.items.map((s: { name: string }) => s.name));
      cursor = page.cursor;
    } while (cursor);
    expect(names).toEqual(all.items.map((s: { name: string }) => s.name));
  });

  it('lists what a scoped namespace can use with visible=true', async () => {
    ok(await t.call('POST', '/api/v1/stores', { token: operator, body: { name: 'acme-only', namespace: 'acme', type: 'builtin' } }), 201);
    const scoped = await token(t, 'operator', { namespace: 'acme' });
    const subtree = ok(await t.call('GET', '/api/v1/stores', { token: scoped })).items.map((s: { name: string }) => s.name);
    expect(subtree).toEqual(['acme-only']);
    const visible = ok(await t.call('GET', '/api/v1/stores?visible=true', { token: scoped })).items.map((s: { name: string }) => s.name);
    expect(visible).toEqual(expect.arrayContaining(['acme-only', 'builtin', 'env', 'files', 'mem']));
  });

  it('refuses to change config-file stores, duplicates, unknown types and bad settings', async () => {
    const fromFile = await t.call('PUT', '/api/v1/stores/files', { token: admin, body: { type: 'file', settings: { root: '/tmp' } } });
    expect(fromFile.status).toBe(409);
    expect(fromFile.body.error.message).toBe('store "files" comes from the config file: change it there');
    expect((await t.call('DELETE', '/api/v1/stores/builtin', { token: admin })).status).toBe(409);
    const duplicate = await t.call('POST', '/api/v1/stores', { token: admin, body: { name: 'builtin', type: 'builtin' } });
    expect(duplicate.status).toBe(409);
    const unknown = await t.call('POST', '/api/v1/stores', { token: admin, body: { name: 'x', type: 'nope' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.issues).toEqual([{ path: 'body.type', message: expect.stringContaining('unknown store type "nope"') }]);
    const bad = await t.call('POST', '/api/v1/stores', {
      token: admin,
      body: { name: 'x', type: 'memory', cache: { ttl: 'soon' }, settings: { backend: 1, extra: true } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['body.cache.ttl', 'body.settings', 'body.settings.backend']);
    expect(bad.body.error.issues.find((i: { path: string }) => i.path === 'body.settings').message).toBe('unknown field "extra"');
  });

  it('says where a store\'s settings go when they are sent as sesame.yaml writes them', async () => {
    const flat = await t.call('POST', '/api/v1/stores', { token: admin, body: { name: 'flat', type: 'memory', backend: 'mem' } });
    expect(flat.status, flat.text).toBe(400);
    expect(flat.body.error.issues).toEqual([
      { path: 'body', message: 'unknown field "backend": a store\'s own settings go under "settings", e.g. {"name": "vault", "type": "vault", "settings": {"address": "https://vault.example.com", "auth": {…}}}' },
    ]);
    const update = await t.call('PUT', '/api/v1/stores/mem', { token: admin, body: { type: 'memory', backend: 'mem' } });
    expect(update.status, update.text).toBe(400);
    expect(update.body.error.message).toContain('go under "settings"');
  });

  it('tests a store and reports each step', async () => {
    const report = ok(await t.call('POST', '/api/v1/stores/builtin/test?sample=nope', { token: operator }));
    expect(report.store).toBe('builtin');
    expect(report.steps.map((s: { step: string }) => s.step)).toEqual(['database', 'master key', 'list', 'read']);
    expect(report.steps[3]).toMatchObject({ ok: false, fix: expect.stringContaining('sesame secrets set nope') });
  });

  it('keeps stores, connections and namespaces across a restart', async () => {
    ok(await t.call('POST', '/api/v1/namespaces', { token: admin, body: { name: 'persisted', isolated: true } }), 201);
    // `mem` lives in the root namespace, which an isolated namespace does not see.
    const cutOff = await t.call('POST', '/api/v1/connections', {
      token: admin,
      body: { name: 'kept', namespace: 'persisted', fields: { token: '{{ secret://mem/jira#token }}' } },
    });
    expect(cutOff.status).toBe(409);
    ok(await t.call('PUT', '/api/v1/secrets/kept%2Fpw?namespace=persisted', { token: admin, body: { value: SECRETS.rootSecret } }));
    ok(
      await t.call('POST', '/api/v1/connections', {
        token: admin,
        body: { name: 'kept', namespace: 'persisted', fields: { user: 'u', password: '{{ secret://builtin/kept/pw }}' } },
      }),
      201,
    );
    const again = await start({ dir: t.dir, memory: t.memory, config: { stores: [{ name: 'files', type: 'file', root: '/nonexistent' }] } });
    const runtime2 = await token(again, 'runtime');
    expect(ok(await resolve({ connection: 'kept', namespace: 'persisted' }, runtime2, again)).value).toEqual({
      user: 'u',
      password: SECRETS.rootSecret,
    });
    expect(ok(await resolve({ reference: 'secret://mem/jira#token' }, runtime2, again)).value).toBe(SECRETS.jiraToken);
    const admin2 = await token(again, 'admin');
    expect(ok(await again.call('GET', '/api/v1/namespaces/persisted', { token: admin2 }))).toMatchObject({ isolated: true, source: 'api' });
    expect(again.server.services.stored.unreadable).toEqual([]);
    await again.close();
    servers.splice(servers.indexOf(again), 1);
  });

  it('refuses to delete a store a connection references, naming the connection', async () => {
    ok(
      await t.call('POST', '/api/v1/connections', { token: operator, body: { name: 'uses-mem', fields: { token: 'secret://mem/jira#token' } } }),
      201,
    );
    const refused = await t.call('DELETE', '/api/v1/stores/mem', { token: admin });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('connection uses-mem (the root namespace) references store "mem"');
  });
});

describe('secrets', () => {
  const name = 'team/db password';
  const at = `/api/v1/secrets/${encodeURIComponent(name)}`;

  it('writes versions and never returns a value outside reveal', async () => {
    const v1 = ok(await t.call('PUT', at, { token: operator, body: { value: SECRETS.dbPassword, description: 'db', tags: { env: 'prod' } } }));
    expect(v1).toEqual({ store: 'builtin', name, namespace: '', version: '1' });
    const meta = ok(await t.call('GET', at, { token: operator }));
    expect(meta).toMatchObject({ name, version: '1', description: 'db', tags: { env: 'prod' } });
    expect(JSON.stringify(meta)).not.toContain(SECRETS.dbPassword);
    const list = ok(await t.call('GET', '/api/v1/secrets?prefix=team/', { token: operator }));
    expect(list.items.map((i: { name: string }) => i.name)).toEqual([name]);
  });

  it('serves the new version to the next resolve after a write', async () => {
    expect(ok(await resolve({ reference: `secret://builtin/${encodeURIComponent(name)}` })).value).toBe(SECRETS.dbPassword);
    ok(await t.call('PUT', at, { token: operator, body: { value: SECRETS.dbPassword2 } }));
    const after = ok(await resolve({ reference: `secret://builtin/${encodeURIComponent(name)}` }));
    expect(after).toMatchObject({ value: SECRETS.dbPassword2, references: [{ outcome: 'miss', version: '2' }] });
    expect(ok(await t.call('GET', `${at}/versions`, { token: operator })).items.map((v: { version: string }) => v.version)).toEqual(['2', '1']);
  });

  it('reveals a value or a pinned version to a reveal token only', async () => {
    expect(ok(await t.call('GET', `${at}/value`, { token: admin }))).toMatchObject({ value: SECRETS.dbPassword2, version: '2' });
    expect(ok(await t.call('GET', `${at}/value?version=1`, { token: admin })).value).toBe(SECRETS.dbPassword);
    const denied = await t.call('GET', `${at}/value`, { token: operator });
    expect(denied.status).toBe(403);
    expect(denied.text).not.toContain(SECRETS.dbPassword2);
  });

  it('tells browsers and proxies not to keep an answer that carries a value', async () => {
    const revealed = await t.call('GET', `${at}/value`, { token: admin });
    expect(revealed.status, revealed.text).toBe(200);
    expect(revealed.headers.get('cache-control')).toBe('no-store');
    const resolved = await resolve({ reference: `secret://builtin/${encodeURIComponent(name)}` });
    expect(resolved.status, resolved.text).toBe(200);
    expect(resolved.headers.get('cache-control')).toBe('no-store');
  });

  it('deletes softly, hides from resolve, and restores', async () => {
    expect(ok(await t.call('DELETE', at, { token: operator }))).toMatchObject({ deleted: true, purged: false });
    const gone = await resolve({ reference: `secret://builtin/${encodeURIComponent(name)}` });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
    const deleted = ok(await t.call('GET', '/api/v1/secrets?prefix=team/&includeDeleted=true', { token: operator }));
    expect(deleted.items[0]).toMatchObject({ name, deletedAt: expect.any(String) });
    ok(await t.call('POST', `${at}/restore`, { token: operator }));
    expect(ok(await resolve({ reference: `secret://builtin/${encodeURIComponent(name)}` })).value).toBe(SECRETS.dbPassword2);
  });

  it('writes in the caller\'s namespace, which children inherit', async () => {
    ok(await t.call('PUT', '/api/v1/secrets/shared?namespace=acme', { token: operator, body: { value: SECRETS.rootSecret } }));
    expect(ok(await resolve({ reference: 'secret://builtin/shared', namespace: 'acme.devops' })).value).toBe(SECRETS.rootSecret);
    expect((await resolve({ reference: 'secret://builtin/shared', namespace: 'globex' })).status).toBe(404);
  });

  it('refuses writes to read-only store types and unsupported operations', async () => {
    const env = await t.call('PUT', '/api/v1/secrets/FOO?store=env', { token: operator, body: { value: 'x-value' } });
    expect(env.status).toBe(405);
    expect(env.body.error).toMatchObject({ code: 'unsupported', message: expect.stringContaining('[env] a env store is read-only') });
    const missing = await t.call('GET', '/api/v1/secrets/x?store=nostore', { token: operator });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('store_not_found');
  });

  it('pages through secrets', async () => {
    for (const n of ['p/a', 'p/b', 'p/c']) ok(await t.call('PUT', `/api/v1/secrets/${encodeURIComponent(n)}`, { token: operator, body: { value: `v-${n}-long` } }));
    const first = ok(await t.call('GET', '/api/v1/secrets?prefix=p/&limit=2', { token: operator }));
    expect(first.items.map((i: { name: string }) => i.name)).toEqual(['p/a', 'p/b']);
    const second = ok(await t.call('GET', `/api/v1/secrets?prefix=p/&limit=2&cursor=${encodeURIComponent(first.cursor)}`, { token: operator }));
    expect(second.items.map((i: { name: string }) => i.name)).toEqual(['p/c']);
    expect(second.cursor).toBeUndefined();
  });
});

describe('connections', () => {
  it('masks literals, shows references, and seals the fields', async () => {
    const created = ok(
      await t.call('POST', '/api/v1/connections', {
        token: operator,
        body: {
          name: 'jira',
          namespace: 'acme',
          type: 'http',
          fields: { baseUrl: 'https://jira.example.test', auth: { type: 'bearer', token: '{{ secret://mem/jira#token }}' } },
        },
      }),
      201,
    );
    expect(created).toMatchObject({
      name: 'jira',
      namespace: 'acme',
      type: 'http',
      source: 'api',
      references: ['secret://mem/jira#token'],
      // Only secret fields are masked; a reference is shown as written.
      fields: { baseUrl: 'https://jira.example.test', auth: { type: 'bearer', token: '{{ secret://mem/jira#token }}' } },
    });
    ok(
      await t.call('POST', '/api/v1/connections', {
        token: operator,
        body: { name: 'db', namespace: 'acme', fields: { user: 'app', password: SECRETS.connectionLiteral } },
      }),
      201,
    );
    const rows = await t.server.services.backend.database.kysely.selectFrom('config_connections').selectAll().execute();
    for (const row of rows) expect(Buffer.concat([row.ciphertext, row.wrapped_key]).includes(SECRETS.connectionLiteral)).toBe(false);
    const listed = await t.call('GET', '/api/v1/connections?namespace=acme', { token: operator });
    expect(listed.text).not.toContain(SECRETS.connectionLiteral);
    expect(listed.body.items.map((c: { name: string; source: string }) => `${c.name}:${c.source}`).sort()).toEqual([
      'db:api',
      'from-file:config',
      'jira:api',
    ]);
  });

  it('resolves a connection for a runtime token', async () => {
    const body = ok(await resolve({ connection: 'jira', namespace: 'acme.devops' }));
    expect(body).toMatchObject({
      connection: { name: 'jira', namespace: 'acme', type: 'http' },
      value: { baseUrl: 'https://jira.example.test', auth: { type: 'bearer', token: SECRETS.jiraToken } },
      references: [{ reference: 'secret://mem/jira#token', field: 'fields.auth.token', store: 'mem' }],
    });
  });

  it('keeps a literal sent back as *** and checks fields by type', async () => {
    ok(await t.call('PUT', '/api/v1/connections/db?namespace=acme', { token: operator, body: { fields: { user: 'other', password: '***' } } }));
    expect(ok(await resolve({ connection: 'db', namespace: 'acme' })).value).toEqual({ user: 'other', password: SECRETS.connectionLiteral });
    const badType = await t.call('POST', '/api/v1/connections', { token: operator, body: { name: 'x', type: 'http', fields: { nope: 1 } } });
    expect(badType.status).toBe(400);
    expect(badType.body.error.issues[0].path).toBe('body.fields');
    const badRef = await t.call('POST', '/api/v1/connections', { token: operator, body: { name: 'x', fields: { t: '{{ secret:// }}' } } });
    expect(badRef.status).toBe(400);
    expect(badRef.body.error.message).toContain('malformed reference in field body.fields.t');
    const unknownStore = await t.call('POST', '/api/v1/connections', { token: operator, body: { name: 'x', fields: { t: 'secret://nowhere/x' } } });
    expect(unknownStore.status).toBe(409);
    expect(unknownStore.body.error.message).toContain('references store "nowhere"');
    const fromFile = await t.call('DELETE', '/api/v1/connections/from-file?namespace=acme', { token: operator });
    expect(fromFile.status).toBe(409);
  });

  it('refreshes a connection\'s references', async () => {
    ok(await resolve({ connection: 'jira', namespace: 'acme' }));
    const dropped = ok(await t.call('POST', '/api/v1/connections/jira/refresh?namespace=acme', { token: runtime }));
    expect(dropped.dropped).toBeGreaterThanOrEqual(1);
    expect(ok(await resolve({ connection: 'jira', namespace: 'acme' })).references[0].outcome).toBe('miss');
  });
});

describe('namespaces', () => {
  it('isolates a namespace from its parents and back', async () => {
    ok(await t.call('PUT', '/api/v1/secrets/iso%2Fx', { token: operator, body: { value: SECRETS.rootSecret } }));
    ok(await t.call('POST', '/api/v1/namespaces', { token: admin, body: { name: 'secure', isolated: true, description: 'no inheritance' } }), 201);
    expect((await resolve({ reference: 'secret://builtin/iso/x', namespace: 'secure' })).status).toBe(404);
    expect(ok(await resolve({ reference: 'secret://builtin/iso/x', namespace: 'open' })).value).toBe(SECRETS.rootSecret);
    ok(await t.call('PATCH', '/api/v1/namespaces/secure', { token: admin, body: { isolated: false } }));
    expect(ok(await resolve({ reference: 'secret://builtin/iso/x', namespace: 'secure' })).value).toBe(SECRETS.rootSecret);
  });

  it('refuses an isolation that would cut a connection off its store', async () => {
    const refused = await t.call('POST', '/api/v1/namespaces', { token: admin, body: { name: 'acme', isolated: true } });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('connection jira (namespace acme) references store "mem"');
  });

  it('lists namespaces by source and keeps config-file ones read-only', async () => {
    const list = ok(await t.call('GET', '/api/v1/namespaces?limit=1000', { token: operator }));
    const sources = Object.fromEntries(list.items.map((n: { name: string; source: string }) => [n.name, n.source]));
    expect(sources).toMatchObject({ fixed: 'config', secure: 'api', acme: 'implicit' });
    expect((await t.call('PATCH', '/api/v1/namespaces/fixed', { token: admin, body: { isolated: true } })).status).toBe(409);
    expect((await t.call('PATCH', '/api/v1/namespaces/never-made', { token: admin, body: { isolated: true } })).status).toBe(404);
  });
});

describe('resolve and refresh', () => {
  it('fills a template and a document, with JSON keys', async () => {
    t.memory.set('cfg', JSON.stringify({ a: { b: 'deep-value' }, 'dotted.key': 'dotted-value' }));
    expect(ok(await resolve({ template: 'x-{{ secret://mem/cfg#/a/b }}-{{secret://mem/cfg#dotted.key}}' })).value).toBe('x-deep-value-dotted-value');
    const doc = ok(await resolve({ document: { n: 1, list: ['secret://mem/cfg#/a/b', 'plain'], nested: { v: '{{ secret://mem/cfg#dotted.key }}' } } }));
    expect(doc.value).toEqual({ n: 1, list: ['deep-value', 'plain'], nested: { v: 'dotted-value' } });
    expect(ok(await resolve({ reference: `secret://env/${envName}` })).value).toBe(SECRETS.envValue);
    const notJson = await resolve({ reference: `secret://env/${envName}#key` });
    expect(notJson.status).toBe(404);
    expect(notJson.body.error.code).toBe('key_not_found');
  });

  it('says what is wrong with a resolve request', async () => {
    const two = await resolve({ reference: 'secret://mem/cfg', template: 'x' });
    expect(two.status).toBe(400);
    expect(two.body.error.message).toBe('body: give exactly one of reference, template, document or connection (got reference, template)');
    const none = await resolve({ template: 'no placeholders' });
    expect(none.body.error.issues).toEqual([{ path: 'body.template', message: 'nothing to resolve: put {{ secret://… }} in the template' }]);
    const missing = await resolve({ reference: 'secret://mem/absent' });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toEqual({ code: 'not_found', message: 'secret://mem/absent: [mem] no secret absent' });
    const missingKey = await resolve({ reference: 'secret://mem/cfg#nokey' });
    expect(missingKey.status).toBe(404);
    expect(missingKey.body.error.code).toBe('key_not_found');
  });

  it('carries what to do about a store\'s error as error.fix', async () => {
    const { createServer } = await import('node:http');
    const missing = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((done) => missing.listen(0, '127.0.0.1', done));
    const { port } = missing.address() as { port: number };
    const server = await start({ config: { stores: [{ name: 'web', type: 'http', url: `http://127.0.0.1:${port}/v1/{name}` }] } });
    try {
      const r = await resolve({ reference: 'secret://web/absent' }, await token(server, 'runtime'), server);
      expect(r.status, r.text).toBe(404);
      expect(r.body.error).toEqual({
        code: 'not_found',
        message: expect.stringContaining('answered 404'),
        // A runtime token is not shown the store's address (test/server/host-details.test.ts).
        fix: expect.stringMatching(/^create the secret, or check the url template \(.*hidden from this token/),
      });
      expect(r.text).not.toContain(`127.0.0.1:${port}`);
    } finally {
      missing.close();
    }
  });

  it('records each resolve with its references and outcome, never a value', async () => {
    const page = ok(await t.call('GET', '/api/v1/audit?action=resolve&limit=3', { token: admin }));
    expect(page.items[0]).toMatchObject({ action: 'resolve', target: 'secret://mem/cfg#nokey', outcome: 'error', detail: 'key_not_found' });
    expect(page.items[1]).toMatchObject({ target: 'secret://mem/absent', outcome: 'error', detail: 'not_found' });
  });

  it('refreshes a reference, a store, a namespace and everything', async () => {
    ok(await resolve({ reference: 'secret://mem/cfg#/a/b' }));
    expect(ok(await t.call('POST', '/api/v1/refresh', { token: runtime, body: { reference: 'secret://mem/cfg' } })).dropped).toBe(1);
    ok(await resolve({ reference: 'secret://mem/cfg#/a/b' }));
    expect(ok(await t.call('POST', '/api/v1/refresh', { token: runtime, body: { store: 'mem' } })).dropped).toBeGreaterThanOrEqual(1);
    expect(ok(await t.call('POST', '/api/v1/refresh', { token: runtime, body: { namespace: 'acme' } }))).toEqual({ dropped: expect.any(Number) });
    expect(ok(await t.call('POST', '/api/v1/refresh', { token: operator, body: { all: true } }))).toEqual({ dropped: expect.any(Number) });
    const scoped = await token(t, 'runtime', { namespace: 'acme' });
    expect((await t.call('POST', '/api/v1/refresh', { token: scoped, body: { all: true } })).status).toBe(403);
    const nothing = await t.call('POST', '/api/v1/refresh', { token: runtime, body: {} });
    expect(nothing.body.error.message).toBe('body: say what to refresh: one of reference, connection, store, namespace or all');
  });

  it('says how a scoped token refreshes what it may, and does not take "all" with a namespace for one namespace', async () => {
    const scoped = await token(t, 'runtime', { namespace: 'acme' });
    const all = await t.call('POST', '/api/v1/refresh', { token: scoped, body: { all: true } });
    expect(all.status, all.text).toBe(403);
    expect(all.body.error.message).toBe(
      'refreshing all needs a token for the root namespace; this token is limited to namespace acme: refresh that namespace instead ({"namespace": "acme"}), or a reference, connection or store',
    );
    // "all" with a namespace meant the namespace, and refreshed everything for a root token.
    const both = await t.call('POST', '/api/v1/refresh', { token: runtime, body: { all: true, namespace: 'acme' } });
    expect(both.status, both.text).toBe(400);
    expect(both.body.error.message).toBe('body.namespace: all refreshes every namespace: leave namespace out, or give namespace alone to refresh one');
  });

  it('serves the last good value while a store is down, and says so', async () => {
    t.memory.set('flaky', 'flaky-value-1234');
    ok(await resolve({ reference: 'secret://mem/flaky' }));
    clock += 2_000;
    t.memory.mode = 'unavailable';
    try {
      expect(ok(await resolve({ reference: 'secret://mem/flaky' }))).toMatchObject({ stale: true, references: [{ outcome: 'stale' }] });
    } finally {
      t.memory.mode = 'ok';
    }
  });

  it('reports cache statistics per store', async () => {
    const stats = ok(await t.call('GET', '/api/v1/cache', { token: operator }));
    const mem = stats.stores.find((s: { store: string }) => s.store === 'mem');
    expect(mem).toMatchObject({ namespace: '', staleServes: 1 });
    expect(mem.hits + mem.misses).toBeGreaterThan(0);
  });
});

describe('operations', () => {
  it('answers 400 with the path of every invalid field', async () => {
    const r = await t.call('POST', '/api/v1/tokens', { token: admin, body: { role: 'king', namespace: 'Bad Ns', extra: 1 } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('validation');
    expect(r.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['body', 'body.namespace', 'body.role']);
    expect(r.body.error.issues.find((i: { path: string }) => i.path === 'body').message).toBe('unknown field "extra"');
    const query = await t.call('GET', '/api/v1/audit?limit=0&order=sideways', { token: admin });
    expect(query.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['query.limit', 'query.order']);
  });

  it('answers 413 above the body limit (1 MiB by default) with the limit in the message', async () => {
    const r = await t.call('PUT', '/api/v1/secrets/big', { token: operator, body: { value: 'x'.repeat(1024 * 1024) } });
    expect(r.status).toBe(413);
    expect(r.body.error).toEqual({
      code: 'payload_too_large',
      message: 'request body is larger than the limit of 1048576 bytes: send less, or raise server.bodyLimit in the config',
    });
  });

  it('does not echo a body that is not JSON', async () => {
    const r = await t.call('POST', '/api/v1/resolve', { token: runtime, raw: `{"reference": ${SECRETS.dbPassword}` });
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({ code: 'invalid_json', message: 'request body is not valid JSON' });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const r = await t.call('GET', '/api/v1/nothing-here');
    expect(r.status).toBe(404);
    expect(r.body.error).toEqual({ code: 'route_not_found', message: 'no route GET /api/v1/nothing-here: see GET /api/v1/openapi.json' });
  });

  it('limits requests per token and says when to retry', async () => {
    const limited = await start({ rateLimit: { max: 3, windowMs: 60_000 } });
    const a = await token(limited, 'operator');
    const b = await token(limited, 'operator');
    for (let i = 0; i < 3; i++) expect((await limited.call('GET', '/api/v1/cache', { token: a })).status).toBe(200);
    const refused = await limited.call('GET', '/api/v1/cache', { token: a });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('20');
    expect(refused.body.error.message).toBe('too many requests for this token: at most 3 per 60s (server.rateLimit); retry after 20s');
    expect((await limited.call('GET', '/api/v1/cache', { token: b })).status).toBe(200);
    clock += 20_000;
    expect((await limited.call('GET', '/api/v1/cache', { token: a })).status).toBe(200);
    expect((await limited.call('GET', '/healthz')).status).toBe(200);
  });

  it('takes the limits from the config file', async () => {
    const configured = await start({ rateLimit: undefined, config: { server: { bodyLimit: 64, rateLimit: { max: 1, window: '1m' } } } });
    const op = await token(configured, 'operator');
    const big = await configured.call('PUT', '/api/v1/secrets/x', { token: op, body: { value: 'y'.repeat(100) } });
    expect(big.status).toBe(413);
    expect(big.body.error.message).toContain('limit of 64 bytes');
    expect((await configured.call('GET', '/api/v1/cache', { token: op })).status).toBe(429);
  });

  it('exposes resolve latency, cache outcomes and store calls by store type', async () => {
    t.memory.mode = 'unavailable';
    await resolve({ reference: 'secret://mem/never-cached' });
    t.memory.mode = 'ok';
    const text = (await t.call('GET', '/metrics')).text;
    expect(text).toMatch(/^sesame_resolve_duration_seconds_count\{outcome="ok"\} [1-9]\d*$/m);
    expect(text).toMatch(/^sesame_resolve_duration_seconds_count\{outcome="error"\} [1-9]\d*$/m);
    expect(text).toMatch(/^sesame_cache_lookups_total\{store_type="memory",outcome="hit"\} [1-9]\d*$/m);
    expect(text).toMatch(/^sesame_cache_lookups_total\{store_type="memory",outcome="miss"\} [1-9]\d*$/m);
    expect(text).toMatch(/^sesame_cache_lookups_total\{store_type="memory",outcome="stale"\} 1$/m);
    expect(text).toMatch(/^sesame_store_calls_total\{store_type="builtin",operation="get"\} [1-9]\d*$/m);
    expect(text).toMatch(/^sesame_store_errors_total\{store_type="memory",operation="get"\} [1-9]\d*$/m);
    expect(text).toMatch(/^sesame_http_requests_total\{method="POST",route="\/api\/v1\/resolve",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^sesame_audit_appends_total\{outcome="ok"\} [1-9]\d*$/m);
  });

  it('counts requests by method, route and status: unmatched paths, HEAD beside GET, each status of one route', async () => {
    const before = (await t.call('GET', '/metrics')).text;
    const count = (text: string, labels: string) =>
      Number(new RegExp(`^sesame_http_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const runtime = await token(t, 'runtime');
    expect((await t.call('GET', '/api/v1/no-such-route', { token: runtime })).status).toBe(404);
    expect((await t.call('HEAD', '/healthz')).status).toBe(200);
    expect((await t.call('GET', '/healthz')).status).toBe(200);
    expect((await t.call('POST', '/api/v1/resolve', { body: { reference: 'secret://mem/x' } })).status).toBe(401);
    const after = (await t.call('GET', '/metrics')).text;
    for (const labels of [
      'method="GET",route="unmatched",status="404"',
      'method="HEAD",route="/healthz",status="200"',
      'method="GET",route="/healthz",status="200"',
      'method="POST",route="/api/v1/resolve",status="401"',
    ]) {
      expect(count(after, labels), labels).toBe(count(before, labels) + 1);
    }
    expect(after).toMatch(/^sesame_http_request_duration_seconds_count\{method="HEAD",route="\/healthz"\} [1-9]\d*$/m);
  });

  it('logs one JSON line per request with the actor, never the Authorization header', async () => {
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l['msg'] === 'request');
    expect(requests.length).toBeGreaterThan(20);
    expect(requests.find((l) => l['route'] === '/api/v1/resolve')).toMatchObject({
      level: 30,
      service: 'sesame',
      method: 'POST',
      status: expect.any(Number),
      actor: expect.stringMatching(/^tok_/),
    });
    expect(t.logs.join('')).not.toMatch(/authorization/i);
  });

  it('describes every route in the OpenAPI document', async () => {
    const doc = ok(await t.call('GET', '/api/v1/openapi.json'));
    for (const r of t.server.routes) {
      const op = doc.paths[fullPath(r)]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${fullPath(r)}`).toBeDefined();
      expect(op.responses[String(r.status ?? 200)]).toBeDefined();
      expect(op.security).toEqual(r.access === 'public' ? [] : [{ bearer: [] }]);
    }
    const put = doc.paths['/api/v1/secrets/{name}'].put;
    expect(put.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(['path:name', 'query:store', 'query:namespace']);
    expect(put.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object',
      required: ['value'],
      additionalProperties: false,
    });
    expect(doc.components.schemas.Error.properties.error.required).toEqual(['code', 'message']);
  });

  it('reports not ready when the database is gone', async () => {
    const broken = await start();
    expect((await broken.call('GET', '/readyz')).status).toBe(200);
    await broken.server.services.backend.database.close();
    const r = await broken.call('GET', '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ status: 'not ready', checks: { database: { ok: false } } });
  });

  it('finishes requests in flight when closing, then refuses new connections', async () => {
    const closing = await start();
    const op = await token(closing, 'runtime');
    ok(await closing.call('POST', '/api/v1/stores', { token: await token(closing, 'admin'), body: { name: 'slow', type: 'memory', settings: { backend: 'mem' } } }), 201);
    closing.memory.set('slow-secret', 'slow-value-1234');
    closing.memory.delayMs = 300;
    const inFlight = closing.call('POST', '/api/v1/resolve', { token: op, body: { reference: 'secret://slow/slow-secret' } });
    await new Promise((r) => setTimeout(r, 50));
    const closed = closing.server.close();
    const reply = await inFlight;
    await closed;
    expect(reply.status).toBe(200);
    expect(reply.body.value).toBe('slow-value-1234');
    await expect(fetch(`${closing.url}/healthz`)).rejects.toThrow();
    // The in-flight resolve's audit record was committed before close() returned.
    const rows = await closing.server.services.audit.list({ action: 'resolve' });
    expect(rows.items[0]).toMatchObject({ target: 'secret://slow/slow-secret', outcome: 'ok' });
  });
});

describe('nothing the server writes holds a secret', () => {
  it('finds no secret value or token in logs, audit rows, metrics, error bodies or database files', async () => {
    const needles = [...Object.values(SECRETS), ...tokensUsed];
    for (const s of servers) {
      const haystacks: Array<[string, string]> = [
        ['logs', s.logs.join('\n')],
        ['error bodies', s.bodies.filter((b) => b.status >= 400).map((b) => b.text).join('\n')],
        ['metrics', (await s.metrics.text()).body],
      ];
      const rows = await s.server.services.backend.database.kysely
        .selectFrom('audit_log')
        .selectAll()
        .execute()
        // The server whose database was closed on purpose (readiness test): its files are read below.
        .catch(() => []);
      haystacks.push(['audit rows', JSON.stringify(rows)]);
      for (const file of ['sesame.db', 'sesame.db-wal']) {
        const p = path.join(s.dir, file);
        if (existsSync(p)) haystacks.push([file, readFileSync(p).toString('latin1')]);
      }
      for (const [where, text] of haystacks) {
        for (const needle of needles) expect(text.includes(needle), `${needle} in ${where} of ${s.dir}`).toBe(false);
      }
    }
    // The scan had something to look at: the values were used, errors were answered, records kept.
    expect(t.bodies.filter((b) => b.status >= 400).length).toBeGreaterThan(20);
    expect(t.bodies.some((b) => b.status === 200 && b.text.includes(SECRETS.jiraToken))).toBe(true);
    expect(await t.server.services.audit.verify()).toMatchObject({ ok: true, records: expect.any(Number) });
    expect(t.logs.length).toBeGreaterThan(20);
  });
});
