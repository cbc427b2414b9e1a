/**
 * Agent mode: resolve and refresh only, for callers holding the host's agent token, on
 * 127.0.0.1, refusing anything that came through a proxy.
 */
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentToken } from '../../src/server/agent-token.js';
import { createServer } from '../../src/server/app.js';
import { fullPath } from '../../src/server/route.js';
import { createSesame } from '../../src/sesame.js';
import { startTestServer, type TestServer } from './helpers.js';

const AGENT_TOKEN = 'agent-token-for-tests-0123456789';
let t: TestServer;

const call = (p: string, body: unknown, headers: Record<string, string> = { 'x-sesame-agent-token': AGENT_TOKEN }) =>
  t.call('POST', p, { body, headers });

beforeAll(async () => {
  t = await startTestServer({ mode: 'agent', agent: { token: AGENT_TOKEN, namespace: 'acme' } });
  t.memory.set('db', 'agent-db-password');
  await t.server.services.stored.createStore({ name: 'mem', namespace: '', type: 'memory', settings: { backend: 'mem' } });
  await t.server.services.stored.createConnection({ name: 'app', namespace: 'acme', type: 'generic', fields: { pw: '{{ secret://mem/db }}' } });
});

afterAll(async () => {
  await t?.close();
});

describe('the agent', () => {
  it('serves resolve, refresh and health only', () => {
    expect(t.server.routes.map((r) => `${r.method} ${fullPath(r)}`).sort()).toEqual([
      'GET /healthz',
      'GET /readyz',
      'POST /api/v1/connections/{name}/refresh',
      'POST /api/v1/refresh',
      'POST /api/v1/resolve',
    ]);
  });

  it('resolves for a caller holding the agent token, in its namespace', async () => {
    const r = await call('/api/v1/resolve', { reference: 'secret://mem/db' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ value: 'agent-db-password', references: [{ store: 'mem' }] });
    const conn = await call('/api/v1/resolve', { connection: 'app' });
    expect(conn.body.value).toEqual({ pw: 'agent-db-password' });
    expect((await call('/api/v1/connections/app/refresh', undefined)).body).toEqual({ dropped: 1 });
    expect((await call('/api/v1/refresh', { namespace: 'acme.devops' })).status).toBe(200);
  });

  it('refuses a namespace outside the one it was started for', async () => {
    const r = await call('/api/v1/resolve', { reference: 'secret://mem/db', namespace: 'globex' });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('forbidden_namespace');
    expect((await call('/api/v1/refresh', { all: true })).status).toBe(403);
  });

  it('answers 401 without the agent token, with a wrong one, and to bearer tokens', async () => {
    const none = await call('/api/v1/resolve', { reference: 'secret://mem/db' }, {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('X-Sesame-Agent-Token');
    expect(none.body.error.message).toContain('X-Sesame-Agent-Token header');
    const wrong = await call('/api/v1/resolve', { reference: 'secret://mem/db' }, { 'x-sesame-agent-token': `${AGENT_TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe('the X-Sesame-Agent-Token header does not match the agent token file');
    const admin = (await t.token('admin', { reveal: true })).token;
    const bearer = await t.call('POST', '/api/v1/resolve', { token: admin, body: { reference: 'secret://mem/db' } });
    expect(bearer.status).toBe(401);
  });

  it('refuses requests that came through a proxy (X-Forwarded-For), even with the token', async () => {
    const r = await call('/api/v1/resolve', { reference: 'secret://mem/db' }, { 'x-sesame-agent-token': AGENT_TOKEN, 'x-forwarded-for': '10.0.0.1' });
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({
      code: 'forwarded_request',
      message: 'the agent serves this host only: a request carrying x-forwarded-for came through a proxy and is refused',
    });
    expect(r.text).not.toContain('agent-db-password');
    const health = await t.call('GET', '/healthz', { headers: { 'x-forwarded-for': '10.0.0.1' } });
    expect(health.status).toBe(403);
  });

  it('has no admin routes', async () => {
    const r = await t.call('GET', '/api/v1/stores', { headers: { 'x-sesame-agent-token': AGENT_TOKEN } });
    expect(r.status).toBe(404);
    expect(r.body.error.message).toBe('no route GET /api/v1/stores: the agent serves POST /api/v1/resolve and /api/v1/refresh only');
  });

  it('listens on 127.0.0.1 whatever host it is given', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-agent-'));
    const sesame = createSesame({ database: 'sqlite:./sesame.db', log: { level: 'silent' } }, { baseDir: dir });
    const agent = await createServer({ sesame, mode: 'agent', agent: { token: AGENT_TOKEN } });
    try {
      const url = await agent.listen({ host: '0.0.0.0', port: 0 });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(agent.app.server.address()).toMatchObject({ address: '127.0.0.1' });
    } finally {
      await agent.close();
      await sesame.close();
    }
  });

  it('records what it did with the actor "agent"', async () => {
    const page = await t.server.services.audit.list({ actor: 'agent', action: 'resolve', order: 'asc' });
    expect(page.items[0]).toMatchObject({ actor: 'agent', namespace: 'acme', target: 'secret://mem/db', outcome: 'ok' });
  });
});

describe('loadAgentToken', () => {
  it('generates a token file readable by its owner only, and reads it back', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-agent-'));
    const first = loadAgentToken('sub/agent.token', dir);
    expect(first).toMatchObject({ created: true, file: path.join(dir, 'sub/agent.token') });
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(first.file)).mode & 0o777).toBe(0o700);
    expect(readFileSync(first.file, 'utf8').trim()).toBe(first.token);
    const again = loadAgentToken('sub/agent.token', dir);
    expect(again).toMatchObject({ created: false, token: first.token });
    expect(again.warning).toBeUndefined();
  });

  it('warns about a file others can read and refuses one that holds no usable token', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-agent-'));
    const file = path.join(dir, 'agent.token');
    writeFileSync(file, 'a-long-enough-agent-token\n');
    chmodSync(file, 0o644);
    expect(loadAgentToken(file).warning).toBe(`the agent token file ${file} is readable by other users (mode 644): chmod go-rwx ${file}`);
    writeFileSync(file, 'short\n');
    expect(() => loadAgentToken(file)).toThrow(`the agent token file ${file} must hold one token of at least 16 characters`);
  });
});
