/**
 * Admin UI sessions and serving: a token exchanged for an HttpOnly SameSite=Strict cookie, the
 * token never sent back, CSRF on every change, sign out and expiry and revocation ending the
 * session, security headers on the UI, nothing of it in agent mode.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallOptions, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let clock = Date.now();
let admin: string;
const webRoot = mkdtempSync(path.join(tmpdir(), 'sesame-web-'));

beforeAll(async () => {
  mkdirSync(path.join(webRoot, 'assets'));
  writeFileSync(path.join(webRoot, 'index.html'), '<!doctype html><title>Sesame</title><div id="root"></div><script type="module" src="/assets/app.js"></script>');
  writeFileSync(path.join(webRoot, 'assets', 'app.js'), 'console.log("ui")');
  t = await startTestServer({ now: () => clock, webRoot });
  admin = (await t.token('admin', { reveal: true })).token;
});

afterAll(async () => {
  await t?.close();
});

/** Sign in and return the cookie header and the CSRF token. */
async function signIn(token: string): Promise<{ cookie: string; csrf: string; setCookie: string; body: Record<string, unknown> }> {
  const r = await t.call('POST', '/api/v1/session', { body: { token } });
  expect(r.status, r.text).toBe(200);
  const setCookie = r.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0] as string;
  return { cookie, csrf: r.body.csrfToken, setCookie, body: r.body };
}

const withCookie = (cookie: string, extra: CallOptions = {}): CallOptions => ({ ...extra, headers: { cookie, ...extra.headers } });

describe('sign in', () => {
  it('exchanges a token for an HttpOnly, SameSite=Strict session cookie that is not the token', async () => {
    const { setCookie, cookie, body } = await signIn(admin);
    // Max-Age: the absolute limit (12 h); the server ends an idle session sooner.
    expect(setCookie).toMatch(/^sesame_session=[A-Za-z0-9_-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(admin);
    expect(JSON.stringify(body)).not.toContain(admin);
    expect(body).toMatchObject({ principal: { role: 'admin', namespace: '', reveal: true }, csrfToken: expect.any(String) });
    const me = await t.call('GET', '/api/v1/session', withCookie(cookie));
    expect(me.body.principal.role).toBe('admin');
    expect(me.body.csrfToken).toBe(body.csrfToken);
  });

  it('refuses an unknown token without setting a cookie, and says what to do', async () => {
    const r = await t.call('POST', '/api/v1/session', { body: { token: 'sesame_not-a-real-token-0123456789' } });
    expect(r.status).toBe(401);
    expect(r.headers.get('set-cookie')).toBeNull();
    expect(r.body.error.message).toBe('this token is not known: check it, or ask an admin for a new one (sesame tokens create)');
    expect((await t.call('GET', '/api/v1/session')).status).toBe(401);
  });

  it('records sign in and sign out in the audit trail', async () => {
    const { info, token } = await t.token('operator', { namespace: 'acme' });
    const { cookie, csrf } = await signIn(token);
    expect((await t.call('DELETE', '/api/v1/session', withCookie(cookie, { headers: { 'x-sesame-csrf': csrf } }))).status).toBe(200);
    const audit = await t.call('GET', `/api/v1/audit?actor=${info.id}&order=asc`, { token: admin });
    expect(audit.body.items.map((r: { action: string }) => r.action)).toEqual(['session.create', 'session.delete']);
  });
});

describe('the session cookie', () => {
  it('authenticates reads, and changes only with the session\'s CSRF token', async () => {
    const { cookie, csrf } = await signIn(admin);
    expect((await t.call('GET', '/api/v1/namespaces', withCookie(cookie))).status).toBe(200);
    const body = { value: 'session-written-value-0123' };
    const noCsrf = await t.call('PUT', '/api/v1/secrets/ui%2Fone?namespace=acme', withCookie(cookie, { body }));
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body.error).toEqual({
      code: 'csrf_required',
      message: 'a change made with the session cookie needs the X-Sesame-CSRF header of the session',
    });
    const wrong = await t.call('PUT', '/api/v1/secrets/ui%2Fone?namespace=acme', withCookie(cookie, { body, headers: { 'x-sesame-csrf': `${csrf}x` } }));
    expect(wrong.status).toBe(403);
    const ok = await t.call('PUT', '/api/v1/secrets/ui%2Fone?namespace=acme', withCookie(cookie, { body, headers: { 'x-sesame-csrf': csrf } }));
    expect(ok.status, ok.text).toBe(200);
    const versions = await t.call('GET', '/api/v1/secrets/ui%2Fone/versions?namespace=acme', { token: admin });
    expect(versions.body.items).toHaveLength(1);
  });

  it('gives the token\'s own rights, no more: a scoped operator stays in its namespace and cannot reveal', async () => {
    const { token } = await t.token('operator', { namespace: 'acme' });
    const { cookie } = await signIn(token);
    expect((await t.call('GET', '/api/v1/secrets?namespace=globex', withCookie(cookie))).status).toBe(403);
    expect((await t.call('GET', '/api/v1/secrets/ui%2Fone/value?namespace=acme', withCookie(cookie))).status).toBe(403);
    expect((await t.call('GET', '/api/v1/secrets?namespace=acme', withCookie(cookie))).status).toBe(200);
  });

  it('ends at sign out: the cookie is cleared and no longer works', async () => {
    const { cookie, csrf } = await signIn(admin);
    const refused = await t.call('DELETE', '/api/v1/session', withCookie(cookie));
    expect(refused.status).toBe(403);
    const out = await t.call('DELETE', '/api/v1/session', withCookie(cookie, { headers: { 'x-sesame-csrf': csrf } }));
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/^sesame_session=; Max-Age=0;/);
    const after = await t.call('GET', '/api/v1/namespaces', withCookie(cookie));
    expect(after.status).toBe(401);
    expect(after.body.error.message).toBe('the session has ended (signed out, idle or too old): sign in again with your token');
  });

  it('ends when its token is revoked (the token is checked again at every request)', async () => {
    const { token, info } = await t.token('operator');
    const { cookie } = await signIn(token);
    expect((await t.call('GET', '/api/v1/namespaces', withCookie(cookie))).status).toBe(200);
    expect((await t.call('DELETE', `/api/v1/tokens/${info.id}`, { token: admin })).status).toBe(200);
    expect((await t.call('GET', '/api/v1/namespaces', withCookie(cookie))).status).toBe(401);
    expect((await t.call('GET', '/api/v1/session', withCookie(cookie))).status).toBe(401);
  });

  it('ends after 30 minutes without a request', async () => {
    const { cookie } = await signIn(admin);
    clock += 29 * 60_000;
    expect((await t.call('GET', '/api/v1/namespaces', withCookie(cookie))).status).toBe(200);
    clock += 29 * 60_000;
    expect((await t.call('GET', '/api/v1/namespaces', withCookie(cookie))).status).toBe(200);
    clock += 31 * 60_000;
    expect((await t.call('GET', '/api/v1/namespaces', withCookie(cookie))).status).toBe(401);
  });

  it('ends 12 hours after sign in, however busy', async () => {
    const { cookie } = await signIn(admin);
    for (let i = 0; i < 26; i++) {
      clock += 29 * 60_000;
      await t.call('GET', '/api/v1/namespaces', withCookie(cookie));
    }
    expect((await t.call('GET', '/api/v1/namespaces', withCookie(cookie))).status).toBe(401);
  });
});

describe('the session table', () => {
  it('refuses a session cookie with 503 while the table cannot be read, never as signed in or out', async () => {
    const { cookie, csrf } = await signIn(admin);
    const db = t.server.services.backend.database.kysely;
    await sql`alter table admin_sessions rename to admin_sessions_away`.execute(db);
    try {
      for (const r of [
        await t.call('GET', '/api/v1/namespaces', withCookie(cookie)),
        await t.call('GET', '/api/v1/session', withCookie(cookie)),
        await t.call('POST', '/api/v1/namespaces', withCookie(cookie, { body: { name: 'away' }, headers: { 'x-sesame-csrf': csrf } })),
      ]) {
        expect(r.status, r.text).toBe(503);
        expect(r.body.error.code).toBe('database_unavailable');
        expect(r.body.error.message).toBe('the admin UI sessions could not be read in the SQLite database: the request is refused until it answers');
        expect(r.body.error.fix).toContain('GET /readyz');
      }
      // Bearer tokens do not depend on the table.
      expect((await t.call('GET', '/api/v1/namespaces', { token: admin })).status).toBe(200);
    } finally {
      await sql`alter table admin_sessions_away rename to admin_sessions`.execute(db);
    }
    expect((await t.call('GET', '/api/v1/namespaces', withCookie(cookie))).status).toBe(200);
    for (const line of t.logs) {
      expect(line).not.toContain(cookie.split('=')[1]);
      expect(line).not.toContain(csrf);
    }
  });
});

describe('server.session', () => {
  it('refuses an idle timeout of 0 at start, naming the setting (exit 2)', async () => {
    const err = await startTestServer({ config: { server: { session: { idleTimeout: '0s' } } } }).then(
      async (started) => {
        await started.close();
        return undefined;
      },
      (e: unknown) => e as { message: string; exitCode: number },
    );
    expect(err?.message).toBe('config server.session.idleTimeout: must be a duration longer than 0, e.g. 30m');
    expect(err?.exitCode).toBe(2);
  });
});

describe('the admin UI', () => {
  it('serves index.html at / with a CSP without inline scripts, no framing, nosniff and no referrer', async () => {
    const r = await t.call('GET', '/');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.text).toContain('<div id="root">');
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    expect(r.headers.get('cache-control')).toBe('no-store');
  });

  it('serves its assets with the same headers, and index.html for its own paths opened in the browser', async () => {
    const asset = await t.call('GET', '/assets/app.js');
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(asset.headers.get('cache-control')).toContain('immutable');
    const page = await t.call('GET', '/secrets', { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<div id="root">');
    // API paths and non-browser requests keep their JSON 404.
    expect((await t.call('GET', '/api/v1/nothing-here', { headers: { accept: 'text/html' } })).body.error.code).toBe('route_not_found');
    expect((await t.call('GET', '/secrets')).body.error.code).toBe('route_not_found');
    expect((await t.call('GET', '/assets/missing.js', { headers: { accept: 'text/html' } })).status).toBe(404);
  });

  it('is not served by the agent, which has no sessions either', async () => {
    const agent = await startTestServer({ mode: 'agent', agent: { token: 'agent-token-for-tests-0123456789' }, webRoot });
    try {
      expect((await agent.call('GET', '/', { headers: { 'x-sesame-agent-token': 'agent-token-for-tests-0123456789', accept: 'text/html' } })).status).toBe(404);
      expect((await agent.call('GET', '/assets/app.js', { headers: { 'x-sesame-agent-token': 'agent-token-for-tests-0123456789' } })).status).toBe(404);
      expect((await agent.call('POST', '/api/v1/session', { body: { token: 'x' }, headers: { 'x-sesame-agent-token': 'agent-token-for-tests-0123456789' } })).status).toBe(404);
    } finally {
      await agent.close();
    }
  });
});
