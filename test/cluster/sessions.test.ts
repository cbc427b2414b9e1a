/**
 * Admin UI sessions in distributed mode, with real `sesame serve` processes (run `npx tsc -p
 * tsconfig.build.json` first): two nodes on one SQLite file, and two on a throwaway PostgreSQL.
 * A session opened on one node is served by the other (reads and CSRF-protected changes), a sign
 * out or a revocation on one node ends it on the other at the next request (no feed delay: the
 * session is read from the database every time), a restarted node keeps serving it, the
 * database holds no token, cookie or CSRF token in clear, and a session table that cannot be read
 * refuses the cookie with 503 on every node (and so does a PostgreSQL outage).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVITY_INTERVAL_MS, MAX_SESSIONS_PER_TOKEN } from '../../src/server/sessions.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';
import { api, killAll, type Node, startNode, within } from './support.js';

const ADMIN = `sessions-admin-token-${randomBytes(16).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('base64');

afterAll(() => killAll());

interface Ui {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field
  body: any;
  setCookie: string | null;
}

/** A request as the admin UI's page makes it: the session cookie, and the CSRF header for changes. */
async function ui(node: Node, method: string, p: string, session?: { cookie: string; csrf?: string }, body?: unknown): Promise<Ui> {
  const headers: Record<string, string> = {};
  if (session) headers['cookie'] = `sesame_session=${session.cookie}`;
  if (session?.csrf !== undefined) headers['x-sesame-csrf'] = session.csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${node.url}/api/v1${p}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, setCookie: response.headers.get('set-cookie') };
}

async function signIn(node: Node, token: string): Promise<{ cookie: string; csrf: string }> {
  const r = await ui(node, 'POST', '/session', undefined, { token });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const cookie = /^sesame_session=([^;]+);/.exec(r.setCookie ?? '')?.[1];
  expect(cookie).toBeDefined();
  return { cookie: cookie as string, csrf: r.body.csrfToken };
}

interface Setup {
  /** The database URL for the config file. */
  database: string;
  /** Everything the database holds, as text and bytes to search. */
  contents(): Promise<Buffer>;
  /** Run one SQL statement on a connection of the test's own. */
  exec(statement: string): Promise<void>;
  /** Stop the database server and start it again (PostgreSQL). */
  halt?: () => Promise<void>;
  resume?: () => Promise<void>;
  close(): Promise<void>;
}

async function sqliteSetup(): Promise<Setup> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'sesame-sessions-db-')), 'sesame.db');
  return {
    database: `sqlite:${file}`,
    async contents() {
      return Buffer.concat([file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    },
    async exec(statement) {
      const db = new BetterSqlite3(file);
      try {
        db.pragma('busy_timeout = 5000');
        db.exec(statement);
      } finally {
        db.close();
      }
    },
    async close() {},
  };
}

async function postgresSetup(): Promise<Setup> {
  const postgres: PostgresHandle = await startPostgres();
  const url = await postgres.createDatabase('sesame_sessions');
  const withClient = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  return {
    database: url,
    contents: () =>
      withClient(async (client) => {
        const tables = await client.query<{ name: string }>(
          `select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
        );
        expect(tables.rows.map((r) => r.name)).toContain('admin_sessions');
        const parts: string[] = [];
        for (const { name } of tables.rows) {
          // bytea comes out as \x… hex: the secrets are searched in hex too.
          const rows = await client.query<{ row: string }>(`select row_to_json(x)::text as row from "${name}" x`);
          parts.push(...rows.rows.map((r) => r.row));
        }
        return Buffer.from(parts.join('\n'));
      }),
    exec: (statement) => withClient(async (client) => void (await client.query(statement))),
    halt: () => postgres.halt(),
    resume: () => postgres.resume(),
    close: () => postgres.stop(),
  };
}

for (const [dialect, setUp] of [
  ['one SQLite file', sqliteSetup],
  ['one PostgreSQL', postgresSetup],
] as const) {
  describe(`admin UI sessions on two servers on ${dialect}`, () => {
    let setup: Setup;
    let a: Node;
    let b: Node;
    /** Node A's folder and config, to start it again. */
    let startA: () => Promise<Node>;
    const seen: string[] = [];

    beforeAll(async () => {
      setup = await setUp();
      // One folder per node, as on separate hosts (each keeps its own audit checkpoint).
      const starter = () => {
        const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-sessions-node-'));
        const config = path.join(cwd, 'sesame.yaml');
        writeFileSync(config, `database: ${setup.database}\nmasterKey: { env: SESAME_MASTER_KEY }\n`);
        return () => startNode({ cwd, config, env: { SESAME_MASTER_KEY: MASTER_KEY, SESAME_ADMIN_TOKEN: ADMIN } });
      };
      startA = starter();
      a = await startA();
      b = await starter()();
    }, 120_000);

    afterAll(async () => {
      await Promise.all([a, b].map((n) => n?.stop('SIGKILL')));
      await setup?.close();
    });

    it('serves on B a session opened on A (a read and a CSRF-protected change); a sign out on B ends it on A at once', async () => {
      const session = await signIn(a, ADMIN);
      seen.push(session.cookie, session.csrf);
      const me = await ui(b, 'GET', '/session', session);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ principal: { role: 'admin', namespace: '' }, csrfToken: session.csrf });
      expect((await ui(b, 'GET', '/namespaces', session)).status).toBe(200);
      const name = `ui-${randomBytes(3).toString('hex')}`;
      const noCsrf = await ui(b, 'POST', '/namespaces', { cookie: session.cookie }, { name });
      expect(noCsrf.status).toBe(403);
      expect(noCsrf.body.error.code).toBe('csrf_required');
      const created = await ui(b, 'POST', '/namespaces', session, { name });
      expect(created.status, JSON.stringify(created.body)).toBe(201);

      const out = await ui(b, 'DELETE', '/session', session);
      expect(out.status).toBe(200);
      expect(out.setCookie).toMatch(/^sesame_session=; Max-Age=0;/);
      // The very next request on A: no delay to wait for.
      const after = await ui(a, 'GET', '/namespaces', session);
      expect(after.status).toBe(401);
      expect(after.body.error.message).toBe('the session has ended (signed out, idle or too old): sign in again with your token');
      expect((await ui(a, 'GET', '/session', session)).status).toBe(401);
    });

    it('ends on A, at the next request, a session whose token was revoked on B', async () => {
      const created = await api(a.url, 'POST', '/tokens', ADMIN, { role: 'operator', name: 'ui operator' });
      expect(created.status).toBe(201);
      const session = await signIn(a, created.body.token);
      seen.push(created.body.token, session.cookie, session.csrf);
      expect((await ui(a, 'GET', '/namespaces', session)).status).toBe(200);
      expect((await ui(b, 'GET', '/namespaces', session)).status).toBe(200);
      expect((await api(b.url, 'DELETE', `/tokens/${created.body.id}`, ADMIN)).status).toBe(200);
      const refused = await ui(a, 'GET', '/namespaces', session);
      expect(refused.status).toBe(401);
      expect(refused.body.error.message).toBe('the bearer token was revoked: ask an admin for a new one (sesame tokens create)');
      expect((await ui(b, 'GET', '/namespaces', session)).status).toBe(401);
    });

    it('keeps the session across a restart of the node that opened it', async () => {
      const session = await signIn(a, ADMIN);
      seen.push(session.cookie, session.csrf);
      expect(await a.stop('SIGTERM')).toBe(0);
      // Served by the other node meanwhile.
      expect((await ui(b, 'GET', '/namespaces', session)).status).toBe(200);
      a = await startA();
      const me = await ui(a, 'GET', '/session', session);
      expect(me.status).toBe(200);
      expect(me.body.csrfToken).toBe(session.csrf);
      const name = `restart-${randomBytes(3).toString('hex')}`;
      expect((await ui(a, 'POST', '/namespaces', session, { name })).status).toBe(201);
    }, 60_000);

    it('keeps no token, cookie or CSRF token in clear in the database or the nodes\' output', async () => {
      const session = await signIn(b, ADMIN);
      seen.push(ADMIN, session.cookie, session.csrf);
      const contents = await setup.contents();
      // The scan reads the session rows: their hashes are there.
      expect(contents.includes(Buffer.from(createHashHex(session.cookie)))).toBe(true);
      for (const secret of seen) {
        expect(contents.includes(Buffer.from(secret)), 'a secret in clear in the database').toBe(false);
        expect(contents.includes(Buffer.from(Buffer.from(secret).toString('hex'))), 'a secret as hex in the database').toBe(false);
        expect(a.output() + b.output()).not.toContain(secret);
      }
    });

    it('refuses the cookie with 503 on both nodes while the session table cannot be read, then serves it again', async () => {
      const session = await signIn(a, ADMIN);
      await setup.exec('alter table admin_sessions rename to admin_sessions_away');
      try {
        for (const node of [a, b]) {
          const r = await ui(node, 'GET', '/namespaces', session);
          expect(r.status, JSON.stringify(r.body)).toBe(503);
          expect(r.body.error.code).toBe('database_unavailable');
          expect(r.body.error.message).toMatch(/^the admin UI sessions could not be read in the (SQLite|PostgreSQL) database/);
          expect(r.body.error.fix).toContain('GET /readyz');
        }
      } finally {
        await setup.exec('alter table admin_sessions_away rename to admin_sessions');
      }
      expect((await ui(b, 'GET', '/namespaces', session)).status).toBe(200);
    });

    if (dialect === 'one PostgreSQL') {
      it('refuses the cookie with 503 while PostgreSQL is down, and serves the same session when it is back', async () => {
        const session = await signIn(a, ADMIN);
        await setup.halt?.();
        try {
          const r = await ui(b, 'GET', '/namespaces', session);
          expect(r.status, JSON.stringify(r.body)).toBe(503);
          expect(r.body.error.code).toBe('database_unavailable');
          expect(r.body.error.message).toBe(
            'the admin UI sessions could not be read in the PostgreSQL database: the request is refused until it answers',
          );
        } finally {
          await setup.resume?.();
        }
        // The node reconnects by itself (throws if not within 15 s).
        await within(15_000, async () => (await ui(b, 'GET', '/namespaces', session)).status === 200);
        expect((await ui(a, 'GET', '/session', session)).status).toBe(200);
      }, 60_000);
    }
  });
}

describe('docs/deploy.md on admin UI sessions', () => {
  const page = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');

  it('no longer asks for sticky sessions, in words or in the manifest', () => {
    expect(page).toContain('**no sticky sessions are needed**');
    expect(page).not.toMatch(/sessionAffinity:/);
    expect(page).not.toMatch(/configure \*\*sticky sessions\*\*/i);
  });

  it('states the figures the code uses', () => {
    expect(page).toContain(`at most\n  once a minute per session`);
    expect(ACTIVITY_INTERVAL_MS).toBe(60_000);
    expect(page).toContain(`A token holds at most ${MAX_SESSIONS_PER_TOKEN} sessions`);
  });
});

function createHashHex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
