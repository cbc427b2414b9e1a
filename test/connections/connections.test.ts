import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionEnvironment } from '../../src/cli/commands/run.js';
import {
  AuthenticationFailedError,
  ConnectionAuthError,
  ConnectionFieldsError,
} from '../../src/connections/service.js';
import { ConfigError } from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import { type ConfigFile, createSesame, type Sesame } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import { startTestServer } from '../server/helpers.js';
import { type PostgresHandle, startPostgres } from '../support/postgres.js';

/** Everything a test produced that a user could see: reports, errors, CLI output. */
const seen: string[] = [];
const record = <T>(x: T): T => {
  seen.push(typeof x === 'string' ? x : JSON.stringify(x, (_k, v) => (v instanceof Error ? v.message : v)));
  return x;
};
const SECRETS = ['tok-current-1111', 'tok-rotated-2222', 'pg-pass-one-3333', 'pg-pass-two-4444'];

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'sesame-conn-'));
}

function sesameWith(config: ConfigFile, dir = tmp()): Sesame {
  return createSesame(
    { database: `sqlite:${path.join(dir, 'sesame.db')}`, ...config },
    { baseDir: dir, redactor: new Redactor(), services: {} },
  );
}

async function writeSecret(sesame: Sesame, name: string, value: string, namespace = ''): Promise<void> {
  const client = await sesame.store('builtin').client();
  await client.write!(name, value, { namespace });
}

/** A local API that accepts exactly one bearer token at a time. */
function bearerServer(): Promise<{ server: Server; url: string; accept: { token: string } }> {
  const accept = { token: 'tok-current-1111' };
  const server = createServer((req, res) => {
    const ok = req.headers.authorization === `Bearer ${accept.token}`;
    res.writeHead(req.url === '/myself' ? (ok ? 200 : 401) : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { name: 'sesame-bot' } : { error: 'unauthorized' }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, accept }),
    ),
  );
}

describe('connection types: validation', () => {
  const config = (fields: Record<string, unknown>, type = 'http'): ConfigFile => ({
    connections: [{ name: 'c', type, fields }],
  });

  it('accepts references where literals are expected, and checks literals', () => {
    expect(() =>
      sesameWith(
        config({
          baseUrl: 'https://x.example.com',
          auth: { method: 'bearer', token: '{{ secret://env/T }}' },
        }),
      ),
    ).not.toThrow();
    expect(() => sesameWith(config({ baseUrl: 'ftp://x', auth: { method: 'none' } }))).toThrow(
      /connections\[0\]\.fields: invalid fields for a http connection: baseUrl: baseUrl is an http\(s\) URL/,
    );
  });

  it('names unknown and missing fields', () => {
    expect(() => sesameWith(config({ baseUrl: 'https://x', tokn: 'x' }))).toThrow(/unknown field "tokn"/);
    expect(() =>
      sesameWith(config({ host: 'db', port: 5432, database: 'app', user: 'app' }, 'postgres')),
    ).toThrow(/password/);
    expect(() => sesameWith(config({ url: 'mysql://x' }, 'postgres'))).toThrow(ConfigError);
  });

  it('takes postgres as one url or as parts, with a referenced port', () => {
    expect(() => sesameWith(config({ url: '{{ secret://env/DATABASE_URL }}' }, 'postgres'))).not.toThrow();
    expect(() =>
      sesameWith(
        config(
          { host: 'db', port: '{{ secret://env/P }}', database: 'a', user: 'u', password: 'secret://env/PW' },
          'postgres',
        ),
      ),
    ).not.toThrow();
  });

  it('rejects an unknown connection type and lets generic take anything', () => {
    expect(() => sesameWith(config({}, 'mainframe'))).toThrow(
      /unknown connection type "mainframe".*generic, http, postgres/,
    );
    expect(() => sesameWith(config({ anything: { nested: [1] } }, 'generic'))).not.toThrow();
  });

  it('checks resolved values against the type, naming the field but not the value', async () => {
    process.env.SESAME_T_BADPORT = 'not-a-port-9191';
    const sesame = sesameWith(
      config(
        { host: 'db', port: '{{ secret://env/SESAME_T_BADPORT }}', database: 'a', user: 'u', password: 'x' },
        'postgres',
      ),
    );
    const report = record(await sesame.testConnection('c'));
    expect(report.ok).toBe(false);
    expect(report.failedStep).toBe('resolve');
    expect(report.steps[0]?.detail).toContain('fields.port');
    expect(report.steps[0]?.detail).not.toContain('not-a-port-9191');
    await expect(sesame.useConnection('c', async () => 1)).rejects.toBeInstanceOf(ConnectionFieldsError);
    await sesame.close();
  });
});

describe('http connections', () => {
  let api: Awaited<ReturnType<typeof bearerServer>>;
  beforeAll(async () => {
    api = await bearerServer();
  });
  afterAll(() => new Promise<void>((r) => api.server.close(() => r())));

  const jira = (url: string): ConfigFile => ({
    connections: [
      {
        name: 'jira',
        namespace: 'acme',
        type: 'http',
        fields: {
          baseUrl: url,
          auth: { method: 'bearer', token: '{{ secret://builtin/jira/token }}' },
          test: { path: '/myself', expectStatus: 200 },
        },
      },
    ],
  });

  it('passes when the reference resolves and the target accepts the token', async () => {
    const sesame = sesameWith(jira(api.url));
    await writeSecret(sesame, 'jira/token', 'tok-current-1111', 'acme');
    const report = record(await sesame.testConnection('jira', { namespace: 'acme.devops' }));
    expect(report).toMatchObject({ ok: true, retried: false, type: 'http' });
    expect(report.steps.map((s) => s.step)).toEqual(['resolve', 'authenticate']);
    expect(report.steps[1]?.detail).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/myself answered 200/);
    await sesame.close();
  });

  it("takes PRODUCT.md's shape (baseUrl and a top-level token) as bearer auth, and refuses token with another auth", async () => {
    const sesame = sesameWith({
      connections: [
        {
          name: 'jira',
          namespace: 'acme.devops',
          type: 'http',
          fields: { baseUrl: api.url, token: '{{ secret://builtin/jira/token }}', test: { path: '/myself' } },
        },
      ],
    });
    await writeSecret(sesame, 'jira/token', 'tok-current-1111', 'acme');
    const report = record(await sesame.testConnection('jira', { namespace: 'acme.devops' }));
    expect(report).toMatchObject({ ok: true, type: 'http' });
    expect(sesame.connections('acme.devops')[0]?.fields).toMatchObject({
      token: '{{ secret://builtin/jira/token }}',
    });
    await sesame.close();
    const both = {
      baseUrl: 'https://x.example.com',
      token: 't0k3n-literal',
      auth: { method: 'basic', username: 'u', password: 'p' },
    };
    expect(() => sesameWith({ connections: [{ name: 'c', type: 'http', fields: both }] })).toThrow(
      /auth: give either token \(bearer\) or auth, not both/,
    );
    expect(() => sesameWith({ connections: [{ name: 'c', type: 'http', fields: both }] })).not.toThrow(
      /t0k3n-literal/,
    );
  });

  it('reports the resolve step with the reference when the secret is missing', async () => {
    const sesame = sesameWith(jira(api.url));
    const report = record(await sesame.testConnection('jira', { namespace: 'acme' }));
    expect(report.ok).toBe(false);
    expect(report.failedStep).toBe('resolve');
    expect(report.steps[0]).toMatchObject({
      step: 'resolve',
      ok: false,
      reference: 'secret://builtin/jira/token',
      field: 'fields.auth.token',
      fix: 'create it with `sesame secrets set jira/token --namespace acme`, or check the name and the namespace',
    });
    await sesame.close();
  });

  it("carries the store's fix into the failing step: an http store that answers 404, through the library and the API", async () => {
    const store = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => store.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(store.address() as AddressInfo).port}`;
    const config: ConfigFile = {
      stores: [{ name: 'web', type: 'http', url: `${base}/s/{name}`, valuePath: '/value' }],
      connections: [
        {
          name: 'api',
          type: 'http',
          fields: { baseUrl: api.url, token: '{{ secret://web/api-token }}', test: { path: '/myself' } },
        },
      ],
    };
    try {
      const sesame = sesameWith(config);
      const report = record(await sesame.testConnection('api'));
      expect(report).toMatchObject({ ok: false, failedStep: 'resolve' });
      expect(report.steps[0]?.detail).toContain('404');
      expect(report.steps[0]?.fix).toBe('create the secret, or check the url template');
      await sesame.close();
      const t = await startTestServer({ config });
      try {
        const { token } = await t.token('admin');
        const tested = await t.call('POST', '/api/v1/connections/api/test', { token });
        expect(tested.status).toBe(200);
        expect(tested.body.steps[0]).toMatchObject({
          step: 'resolve',
          ok: false,
          fix: 'create the secret, or check the url template',
        });
      } finally {
        await t.close();
      }
    } finally {
      await new Promise<void>((resolve) => store.close(() => resolve()));
    }
  });

  it('reports the authenticate step with the status when the token is refused', async () => {
    const sesame = sesameWith(jira(api.url));
    await writeSecret(sesame, 'jira/token', 'tok-rotated-2222', 'acme');
    const report = record(await sesame.testConnection('jira', { namespace: 'acme' }));
    expect(report).toMatchObject({ ok: false, failedStep: 'authenticate' });
    expect(report.steps[1]?.detail).toContain(
      'answered 401, expected 200: the target refused the credentials',
    );
    await sesame.close();
  });

  it('reports an unreachable target as an authenticate failure that names the origin', async () => {
    const sesame = sesameWith(jira('http://127.0.0.1:9'));
    await writeSecret(sesame, 'jira/token', 'tok-current-1111', 'acme');
    const report = record(await sesame.testConnection('jira', { namespace: 'acme', timeoutMs: 2000 }));
    expect(report.failedStep).toBe('authenticate');
    expect(report.steps[1]?.detail).toContain('is http://127.0.0.1:9 reachable');
    await sesame.close();
  });

  it('refreshes the references and retries once when the token was rotated', async () => {
    const sesame = sesameWith(jira(api.url));
    await writeSecret(sesame, 'jira/token', 'tok-current-1111', 'acme');
    expect((await sesame.testConnection('jira', { namespace: 'acme' })).ok).toBe(true);
    // Rotation: the target now wants the new token, the store has it, the cache still has the old one.
    api.accept.token = 'tok-rotated-2222';
    await writeSecret(sesame, 'jira/token', 'tok-rotated-2222', 'acme');
    const stale = record(await sesame.testConnection('jira', { namespace: 'acme' }));
    expect(stale.ok).toBe(false);
    const refreshed = record(
      await sesame.testConnection('jira', { namespace: 'acme', refreshOnAuthFailure: true }),
    );
    expect(refreshed).toMatchObject({ ok: true, retried: true });
    expect(refreshed.steps.map((s) => `${s.step}:${s.ok}`)).toEqual([
      'resolve:true',
      'authenticate:false',
      'refresh:true',
      'resolve:true',
      'authenticate:true',
    ]);
    api.accept.token = 'tok-current-1111';
    await sesame.close();
  });
});

describe('refresh on rotation with PostgreSQL', () => {
  let pgh: PostgresHandle;
  let port: number;
  beforeAll(async () => {
    pgh = await startPostgres();
    port = Number(new URL(pgh.url).port);
    const admin = new pg.Client({ connectionString: pgh.url });
    await admin.connect();
    await admin.query(`create role rotate_user login password 'pg-pass-one-3333'`);
    await admin.query('create database rotate_db owner rotate_user');
    // Make the test role authenticate by password (the throwaway cluster trusts everyone else).
    const { rows } = await admin.query<{ hba_file: string }>('show hba_file');
    const lines = [
      'local all all trust',
      'host all rotate_user 127.0.0.1/32 scram-sha-256',
      'host all all 127.0.0.1/32 trust',
    ];
    const values = lines.map((l, i) => `(${i}, '${l}')`).join(', ');
    await admin.query(
      `copy (select line from (values ${values}) v(n, line) order by n) to '${rows[0]?.hba_file}'`,
    );
    await admin.query('select pg_reload_conf()');
    await admin.end();
  });
  afterAll(async () => {
    await pgh?.stop();
  });

  async function rotate(sesame: Sesame, password: string): Promise<void> {
    const admin = new pg.Client({ connectionString: pgh.url });
    await admin.connect();
    await admin.query(`alter role rotate_user password '${password}'`);
    await admin.end();
    await writeSecret(sesame, 'db/app', JSON.stringify({ password }), 'acme');
  }

  function warehouse(): Sesame {
    return sesameWith({
      connections: [
        {
          name: 'warehouse',
          namespace: 'acme',
          type: 'postgres',
          fields: {
            host: '127.0.0.1',
            port,
            database: 'rotate_db',
            user: 'rotate_user',
            password: '{{ secret://builtin/db/app#password }}',
          },
        },
      ],
    });
  }

  it('tests the connection with select 1, and names the driver error on a bad password', async () => {
    const sesame = warehouse();
    await writeSecret(sesame, 'db/app', JSON.stringify({ password: 'pg-pass-one-3333' }), 'acme');
    const ok = record(await sesame.testConnection('warehouse', { namespace: 'acme' }));
    expect(ok.ok).toBe(true);
    expect(ok.steps[1]?.detail).toBe(`connected to rotate_user@127.0.0.1:${port}/rotate_db and ran select 1`);
    await writeSecret(sesame, 'db/app', JSON.stringify({ password: 'pg-pass-two-4444' }), 'acme');
    await sesame.refresh({ connection: 'warehouse' }, { namespace: 'acme' });
    const bad = record(
      await sesame.testConnection('warehouse', { namespace: 'acme', refreshOnAuthFailure: true }),
    );
    expect(bad).toMatchObject({ ok: false, failedStep: 'authenticate', retried: true });
    expect(bad.steps.at(-1)?.detail).toContain('28P01');
    await sesame.close();
  });

  it('a running job picks up a rotated password on its next attempt without a restart', async () => {
    const sesame = warehouse();
    await rotate(sesame, 'pg-pass-one-3333');
    const job = (fields: Record<string, unknown>) => async () => {
      const client = new pg.Client({
        host: String(fields.host),
        port: Number(fields.port),
        database: String(fields.database),
        user: String(fields.user),
        password: String(fields.password),
      });
      await client.connect();
      try {
        return (await client.query<{ n: number }>('select 41 + 1 as n')).rows[0]?.n;
      } finally {
        await client.end();
      }
    };
    const isAuthFailure = (err: unknown) => (err as { code?: string }).code === '28P01';
    const attempts: number[] = [];
    const run = () =>
      sesame.useConnection(
        'warehouse',
        async (fields, attempt) => {
          attempts.push(attempt);
          return job(fields)();
        },
        { namespace: 'acme', isAuthFailure },
      );
    expect(await run()).toBe(42);
    // Rotate in the middle of the job's life: ALTER ROLE + write the new secret.
    await rotate(sesame, 'pg-pass-two-4444');
    expect(await run()).toBe(42);
    expect(attempts).toEqual([1, 1, 2]);
    // A second refusal after the refresh is reported as such.
    const admin = new pg.Client({ connectionString: pgh.url });
    await admin.connect();
    await admin.query(`alter role rotate_user password 'not-in-any-store-5555'`);
    await admin.end();
    const err = record(await run().catch((e: unknown) => e));
    expect(err).toBeInstanceOf(ConnectionAuthError);
    expect((err as Error).message).toContain('refused the credentials again after they were refreshed');
    await sesame.close();
  });

  it('retries a consumer that throws AuthenticationFailedError', async () => {
    const sesame = warehouse();
    await rotate(sesame, 'pg-pass-one-3333');
    let calls = 0;
    const result = await sesame.useConnection(
      'warehouse',
      async () => {
        calls++;
        if (calls === 1) throw new AuthenticationFailedError();
        return 'second try';
      },
      { namespace: 'acme' },
    );
    expect(result).toBe('second try');
    await sesame.close();
  });
});

/**
 * A PostgreSQL impostor: it accepts the startup message, says the login succeeded and is ready,
 * then does what `onQuery` says when the client sends its first query.
 */
function fakePostgres(onQuery: (socket: Socket) => void): Promise<{ server: NetServer; port: number }> {
  const message = (type: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const server = createNetServer((socket) => {
    let started = false;
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      if (!started) {
        started = true;
        // AuthenticationOk, then ReadyForQuery (idle).
        socket.write(Buffer.concat([message('R', Buffer.from([0, 0, 0, 0])), message('Z', Buffer.from('I'))]));
      } else if (chunk[0] === 0x51 /* Q */) {
        onQuery(socket);
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })),
  );
}

describe('postgres connection test against a server that goes away', () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  async function testAgainst(onQuery: (socket: Socket) => void) {
    const { server, port } = await fakePostgres(onQuery);
    const sesame = sesameWith({
      connections: [
        {
          name: 'flaky',
          type: 'postgres',
          fields: {
            host: '127.0.0.1',
            port,
            database: 'app',
            user: 'app',
            password: '{{ secret://builtin/db/flaky }}',
          },
        },
      ],
    });
    await writeSecret(sesame, 'db/flaky', 'pg-pass-one-3333');
    process.on('uncaughtException', onUncaught);
    try {
      const report = record(await sesame.testConnection('flaky', {}));
      // Let the driver deliver anything it still has to say.
      await new Promise((r) => setTimeout(r, 100));
      return report;
    } finally {
      process.off('uncaughtException', onUncaught);
      await sesame.close();
      server.close();
    }
  }

  it('reports a connection closed during select 1 as a failed step, not an uncaught error', async () => {
    uncaught.length = 0;
    const report = await testAgainst((socket) => socket.destroy());
    expect(uncaught).toEqual([]);
    expect(report).toMatchObject({ ok: false, failedStep: 'authenticate' });
    expect(report.steps.at(-1)?.detail).toMatch(/^connecting to app@127\.0\.0\.1:\d+\/app failed: .*terminated/i);
  });

  it('reports a connection reset during select 1 the same way', async () => {
    uncaught.length = 0;
    const report = await testAgainst((socket) => socket.resetAndDestroy());
    expect(uncaught).toEqual([]);
    expect(report).toMatchObject({ ok: false, failedStep: 'authenticate' });
    expect(report.steps.at(-1)?.detail).toMatch(/^connecting to app@127\.0\.0\.1:\d+\/app failed: /);
  });
});

describe('connection tests are bounded by their time limit', () => {
  async function timed(fields: Record<string, unknown>, type: string) {
    const sesame = sesameWith({ connections: [{ name: 'slow', type, fields }] });
    const started = Date.now();
    try {
      const report = record(await sesame.testConnection('slow', { timeoutMs: 1_000 }));
      return { report, elapsed: Date.now() - started };
    } finally {
      await sesame.close();
    }
  }

  it('a postgres target that logs in and never answers select 1 fails the step after the limit', async () => {
    const { server, port } = await fakePostgres(() => {});
    try {
      const { report, elapsed } = await timed(
        { host: '127.0.0.1', port, database: 'app', user: 'app', password: 'pg-pass-one-3333' },
        'postgres',
      );
      expect(report).toMatchObject({ ok: false, failedStep: 'authenticate' });
      expect(report.steps.at(-1)?.detail).toMatch(/no answer within 1 s/);
      expect(elapsed).toBeLessThan(8_000);
    } finally {
      server.close();
    }
  }, 20_000);

  it('an http target that sends its answer a byte at a time fails the step after the limit', async () => {
    const sockets = new Set<Socket>();
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () => {
        // Never idle for long enough to trip a socket timeout, never done.
        const reply = 'HTTP/1.1 200 OK\r\nx-slow: ' + 'a'.repeat(10_000);
        let i = 0;
        const drip = setInterval(() => {
          if (socket.destroyed || i >= reply.length) return clearInterval(drip);
          socket.write(reply[i++] as string);
        }, 200);
        socket.on('close', () => clearInterval(drip));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const { report, elapsed } = await timed(
        { baseUrl: `http://127.0.0.1:${port}`, auth: { method: 'bearer', token: 'tok-current-1111' } },
        'http',
      );
      expect(report).toMatchObject({ ok: false, failedStep: 'authenticate' });
      expect(report.steps.at(-1)?.detail).toBe(
        `no answer within 1 s from 127.0.0.1:${port}: check that the target is up, not overloaded, and the service this connection's type expects`,
      );
      expect(elapsed).toBeLessThan(8_000);
      // A URL's user and password (a secret, when the URL holds a reference) stay out of it.
      const withUser = await timed(
        { baseUrl: `http://svc:pg-pass-two-4444@127.0.0.1:${port}/api?key=x`, auth: { method: 'none' } },
        'http',
      );
      expect(withUser.report.steps.at(-1)?.detail).toMatch(new RegExp(`^no answer within 1 s from 127\\.0\\.0\\.1:${port}: `));
      expect(JSON.stringify(withUser.report)).not.toContain('pg-pass-two-4444');
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  }, 20_000);
});

describe('sesame run --connection with every type', () => {
  it('flattens nested fields and adds libpq variables for postgres', () => {
    expect(connectionEnvironment('generic', { apiKey: 'k', nested: { a: 1 } })).toEqual({
      API_KEY: 'k',
      NESTED_A: '1',
    });
    expect(
      connectionEnvironment('http', {
        baseUrl: 'https://x',
        auth: { method: 'bearer', token: 't' },
        headers: {},
      }),
    ).toEqual({ BASE_URL: 'https://x', AUTH_METHOD: 'bearer', AUTH_TOKEN: 't' });
    expect(
      connectionEnvironment('postgres', {
        host: 'db',
        port: 5432,
        database: 'app',
        user: 'u',
        password: 'p',
        ssl: false,
      }),
    ).toMatchObject({
      HOST: 'db',
      PGHOST: 'db',
      PGPORT: '5432',
      PGDATABASE: 'app',
      PGUSER: 'u',
      PGPASSWORD: 'p',
    });
  });

  it('runs a command with a postgres connection from the CLI and masks the password', async () => {
    const cwd = tmp();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      [
        'connections:',
        '  - name: db',
        '    type: postgres',
        '    fields: { host: db.internal, port: 5432, database: app, user: app, password: "{{ secret://env/PGPW }}" }',
        '  - name: api',
        '    type: http',
        '    fields: { baseUrl: "https://api.example.com", auth: { method: basic, username: bot, password: secret://env/PGPW } }',
      ].join('\n'),
    );
    const db = record(
      await runCli(
        [
          'run',
          '--connection',
          'db',
          '--',
          'sh',
          '-c',
          'echo "$PGUSER@$PGHOST:$PGPORT/$PGDATABASE $PGPASSWORD"',
        ],
        {
          cwd,
          env: { PGPW: 'pg-pass-one-3333' },
        },
      ),
    );
    expect(db).toMatchObject({ code: 0, stdout: 'app@db.internal:5432/app ***\n' });
    const api = record(
      await runCli(
        ['run', '--connection', 'api', '--', 'sh', '-c', 'echo "$BASE_URL $AUTH_USERNAME $AUTH_PASSWORD"'],
        {
          cwd,
          env: { PGPW: 'pg-pass-one-3333' },
        },
      ),
    );
    expect(api.stdout).toBe('https://api.example.com bot ***\n');
  });

  it('connections test from the CLI exits 1 and says which step failed', async () => {
    const cwd = tmp();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      'connections:\n  - name: api\n    type: http\n    fields: { baseUrl: "http://127.0.0.1:9", auth: { method: bearer, token: secret://env/NOPE_TOKEN_Z } }\n',
    );
    const r = record(await runCli(['connections', 'test', 'api'], { cwd }));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL resolve: secret://env/NOPE_TOKEN_Z (field fields.auth.token)');
    expect(r.stdout).toContain(
      '\n     fix: set NOPE_TOKEN_Z in the environment of the process that runs sesame, or check the name\n',
    );
    expect(r.stdout).toContain('connection api failed at resolve');
  });
});

describe('no secret value in any report', () => {
  it('scans everything the connection tests produced', () => {
    expect(seen.length).toBeGreaterThan(10);
    for (const text of seen) for (const secret of SECRETS) expect(text).not.toContain(secret);
  });
});
