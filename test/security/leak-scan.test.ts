/**
 * The leak scan: canary secrets pushed through every CLI, library and API path — failures
 * included — then a scan of everything Sesame wrote (CLI stdout/stderr, log lines, HTTP reply
 * bodies and headers, /metrics, audit records, raw SQLite files, library errors) for each
 * canary in plain, base64, base64url, hex, URL-encoded and JSON-escaped form.
 *
 * Only the outputs that print a value on purpose are left out, and only exactly the value that
 * was asked for (`sesame resolve`, `sesame secrets get`, POST /api/v1/resolve for a runtime
 * token): anything else they print is scanned.
 *
 * The CLI runs from dist/: `npm run build` first (npm test does).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createServer, type SesameServer } from '../../src/server/app.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { createSesame, type Sesame } from '../../src/sesame.js';
import { runCli } from '../support/cli.js';
import { type Canaries, type Canary, CHANNELS, type Channel, describeLeaks, makeCanaries, type Output, scan, scrub } from './canary.js';

const C: Canaries = makeCanaries();
const ALL: Canary[] = Object.values(C);

/** Everything Sesame wrote, by channel. */
const outputs: Output[] = [];
/** Outputs left out because they are exactly the value that was asked for. */
const excluded: string[] = [];
/** Paths the harness could not run (the scan would be incomplete). */
const harness: string[] = [];

function collect(channel: Channel, where: string, text: string | undefined): void {
  if (text === undefined || text === '') return;
  outputs.push({ channel, where, text });
}

/** Run one path; a harness failure is recorded (scrubbed of canaries) instead of aborting the scan. */
async function step(where: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    harness.push(`${where}: ${scrub(err instanceof Error ? `${err.name}: ${err.message}` : String(err), ALL)}`);
    // What a failing path threw is output too.
    collect('library', `${where} (harness caught)`, errorTexts(err));
  }
}

/** Every way an error is usually turned into text: message, String(), stack, JSON, inspect. */
function errorTexts(err: unknown): string {
  const parts: string[] = [];
  if (err instanceof Error) {
    parts.push(`message: ${err.message}`, `stack: ${err.stack ?? ''}`);
  }
  parts.push(`String: ${String(err)}`);
  try {
    parts.push(`JSON: ${JSON.stringify(err)}`);
  } catch (e) {
    parts.push(`JSON threw: ${(e as Error).message}`);
  }
  parts.push(`inspect: ${inspect(err, { depth: 6, maxStringLength: Number.POSITIVE_INFINITY })}`);
  return parts.join('\n');
}

/** A pino destination that collects each line, named by its message (scrubbed). */
function logSink(label: string): { write(line: string): void } {
  let n = 0;
  return {
    write(line: string) {
      n++;
      let msg = '?';
      try {
        msg = String((JSON.parse(line) as { msg?: unknown }).msg);
      } catch {
        msg = 'unparsable line';
      }
      collect('logs', `${label}: log line #${n} "${scrub(msg, ALL)}"`, line);
    },
  };
}

function walk(dir: string, skip: (p: string) => boolean = () => false): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((f) => {
    const p = path.join(dir, f);
    if (skip(p)) return [];
    return statSync(p).isDirectory() ? walk(p, skip) : [p];
  });
}

/** The raw bytes of every file Sesame keeps (SQLite main, -wal, -shm, checkpoints…), one byte per char. */
function collectFiles(label: string, dir: string, skip: (p: string) => boolean): number {
  let n = 0;
  for (const file of walk(dir, skip)) {
    collect('db-files', `${label}: ${path.relative(dir, file)} (raw bytes)`, readFileSync(file).toString('latin1'));
    n++;
  }
  return n;
}

/** Every row of `audit_log` in a SQLite file, as JSON text. */
function collectAuditTable(label: string, file: string): void {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('select * from audit_log order by seq').all();
    collect('audit', `${label}: audit_log table (${rows.length} rows)`, JSON.stringify(rows));
    if (rows.length === 0) harness.push(`${label}: audit_log table is empty`);
  } finally {
    db.close();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const ENV: Record<string, string> = {
  LEAK_SHORT: C.short.value,
  LEAK_JSON: C.json.value,
  LEAK_PEM: C.pem.value,
  LEAK_LONG: C.long.value,
  LEAK_CONN: C.connRef.value,
};

// ---------------------------------------------------------------------------------------------
// CLI

async function cliPaths(closedPort: number): Promise<void> {
  const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-leak-cli-'));
  mkdirSync(path.join(cwd, 'files', 'app'), { recursive: true });
  writeFileSync(path.join(cwd, 'files', 'app', 'pem'), C.pem.value);
  writeFileSync(path.join(cwd, 'files', 'app', 'json'), C.json.value);
  writeFileSync(
    path.join(cwd, 'sesame.yaml'),
    [
      'stores:',
      '  - name: files',
      '    type: file',
      '    root: ./files',
      '  - name: gone',
      '    type: file',
      '    root: ./no-such-directory',
      'database: sqlite:./.sesame/sesame.db',
      'masterKey: { env: LEAK_MASTER_KEY }',
      'connections:',
      '  - name: leaky',
      '    type: http',
      '    fields:',
      `      baseUrl: http://127.0.0.1:${closedPort}`,
      '      auth: { method: bearer, token: "{{ secret://env/LEAK_CONN }}" }',
      '      test: { path: /check, expectStatus: 200 }',
      '  - name: literal',
      '    type: http',
      '    fields:',
      `      baseUrl: http://127.0.0.1:${closedPort}`,
      `      auth: { method: bearer, token: "${C.connLiteral.value}" }`,
      '',
    ].join('\n'),
  );
  const env = { ...ENV, SESAME_LOG_LEVEL: 'debug', LEAK_MASTER_KEY: randomBytes(32).toString('base64') };

  /** `expectedStdout`: the command prints a value on purpose; exactly that stdout is not scanned. */
  async function cli(args: string[], options: { input?: string; expectedStdout?: string; exit?: number } = {}): Promise<void> {
    const shown = args.map((a) => (a.length > 80 ? `${a.slice(0, 40)}…` : a)).join(' ');
    const where = `cli: sesame ${scrub(shown, ALL)}`;
    await step(where, async () => {
      const r = await runCli(args, { cwd, env, input: options.input, timeoutMs: 30_000 });
      collect('cli-stderr', `${where} (stderr, exit ${r.code ?? r.signal})`, r.stderr);
      const exit = options.exit ?? (options.expectedStdout !== undefined ? 0 : undefined);
      if (exit !== undefined && r.code !== exit) harness.push(`${where}: exit ${r.code ?? r.signal}, expected ${exit}`);
      if (options.expectedStdout !== undefined && r.stdout === options.expectedStdout) {
        excluded.push(`${where} (stdout: exactly the value asked for)`);
      } else {
        collect('cli-stdout', `${where} (stdout, exit ${r.code ?? r.signal})`, r.stdout);
      }
    });
  }

  // secrets: set (value on stdin), get (prints the value: that is its job), list, versions
  await cli(['secrets', 'set', 'app/short'], { input: `${C.short.value}\n`, exit: 0 });
  await cli(['secrets', 'set', 'app/json'], { input: C.json.value, exit: 0 });
  await cli(['secrets', 'set', 'app/pem'], { input: C.pem.value, exit: 0 });
  await cli(['secrets', 'set', 'app/long'], { input: C.long.value, exit: 0 });
  await cli(['secrets', 'set', 'app/short', '--namespace', 'acme', '--json'], { input: C.short.value, exit: 0 });
  // After the writes: a few commands at a time (each is a process of its own).
  const pending: Array<() => Promise<void>> = [];
  const later = (args: string[], options: { input?: string; expectedStdout?: string; exit?: number } = {}) => {
    pending.push(() => cli(args, options));
  };
  later(['secrets', 'get', 'app/short'], { expectedStdout: C.short.value });
  later(['secrets', 'get', 'app/long'], { expectedStdout: C.long.value });
  later(['secrets', 'get', 'app/missing']);
  later(['secrets', 'list'], { exit: 0 });
  later(['secrets', 'list', '--json'], { exit: 0 });
  later(['secrets', 'versions', 'app/short'], { exit: 0 });
  later(['secrets', 'versions', 'app/pem', '--json'], { exit: 0 });

  // resolve: successes print the value (excluded exactly), failures must not
  later(['resolve', 'secret://env/LEAK_SHORT'], { expectedStdout: `${C.short.value}\n` });
  later(['resolve', 'secret://builtin/app/json#password'], { expectedStdout: `${C.json.cores[0]}\n` });
  later(['resolve', 'secret://files/app/pem'], { expectedStdout: `${C.pem.value}\n` });
  later(['resolve', 'secret://env/LEAK_LONG'], { expectedStdout: `${C.long.value}\n` });
  later(['resolve', 'secret://env/LEAK_JSON#nokey']);
  later(['resolve', 'secret://builtin/app/json#nokey']);
  later(['resolve', 'secret://env/LEAK_JSON#/nested/list/7']);
  later(['resolve', 'secret://env/LEAK_JSON#/password/deeper']);
  later(['resolve', 'secret://env/LEAK_SHORT#key']);
  later(['resolve', 'secret://files/app/pem#key']);
  later(['resolve', 'secret://builtin/app/missing']);
  later(['resolve', 'secret://gone/app/pem']);
  later(['resolve', 'a={{ secret://env/LEAK_SHORT }} b={{ secret://env/LEAK_NOT_SET_1 }}']);
  later(['resolve', 'a={{ secret://env/LEAK_SHORT }} b={{ secret:// }}']);
  later(['resolve', 'secret://env/LEAK_PEM#/x']);
  // The long value known to the process, then a failure: the error is masked with it known.
  later(['resolve', 'a={{ secret://env/LEAK_LONG }} b={{ secret://env/LEAK_NOT_SET_2 }}']);
  later(['resolve', 'secret://builtin/app/long#key']);
  later(['resolve', 'a={{ secret://env/LEAK_LONG }} b={{ secret://env/LEAK_JSON#nokey }}']);

  // run: the child's output is masked, in plain, base64 and hex — the contiguous forms the
  // redactor promises (README "Masking", docs/security.md): base64 not wrapped into lines
  // (`base64 -w0`), hex as one run (`xxd -p` wraps, so od with the spaces removed), hex only for
  // values up to MAX_HEX_BYTES (4 KiB). A child that wraps or spaces what it prints is outside
  // what masking can promise.
  const shellAll = 'echo $T; printf "%s\\n" "$T" | base64 -w0; echo; printf %s "$T" | base64 -w0; echo; printf %s "$T" | od -An -v -tx1 | tr -d " \\n"; echo';
  const shellNoHex = 'echo $T; printf "%s\\n" "$T" | base64 -w0; echo; printf %s "$T" | base64 -w0; echo';
  for (const [label, ref] of [
    ['short', 'secret://env/LEAK_SHORT'],
    ['json', 'secret://env/LEAK_JSON'],
    ['pem', 'secret://env/LEAK_PEM'],
    ['long', 'secret://env/LEAK_LONG'],
  ] as const) {
    const shell = label === 'long' ? shellNoHex : shellAll;
    const where = `cli: sesame run --env T=<${label}> -- sh -c '${shell}'`;
    pending.push(() =>
      step(where, async () => {
        const r = await runCli(['run', '--env', `T=${ref}`, '--', 'sh', '-c', shell], { cwd, env, timeoutMs: 30_000 });
        if (r.code !== 0) harness.push(`${where}: exit ${r.code ?? r.signal}, expected 0`);
        collect('cli-stdout', `${where} (stdout, exit ${r.code ?? r.signal})`, r.stdout);
        collect('cli-stderr', `${where} (stderr, exit ${r.code ?? r.signal})`, r.stderr);
      }),
    );
  }
  later(['run', '--env', 'T=secret://env/LEAK_SHORT', '--', 'sh', '-c', 'echo "$T" >&2; exit 3']);
  later(['run', '--connection', 'leaky', '--', 'sh', '-c', 'echo "token=$AUTH_TOKEN"']);

  // connections: list (masked), test against a closed port (the failure path)
  later(['connections', 'list']);
  later(['connections', 'list', '--json']);
  later(['connections', 'test', 'leaky', '--timeout', '3']);
  later(['connections', 'test', 'literal', '--timeout', '3', '--json']);
  later(['connections', 'test', 'leaky', '--refresh', '--timeout', '3']);

  // cache refresh, stores list/test
  later(['cache', 'refresh', '--all']);
  later(['cache', 'refresh', '--reference', 'secret://env/LEAK_SHORT']);
  later(['cache', 'refresh', '--connection', 'leaky', '--json']);
  later(['stores', 'list']);
  later(['stores', 'test', 'files', '--sample', 'app/pem']);
  later(['stores', 'test', 'builtin', '--sample', 'app/long', '--json']);
  later(['stores', 'test', 'gone']);

  const workers = Array.from({ length: 6 }, async () => {
    for (let job = pending.shift(); job; job = pending.shift()) await job();
  });
  await Promise.all(workers);

  await step('cli: database files', async () => {
    const skip = (p: string) => p.startsWith(path.join(cwd, 'files')) || p === path.join(cwd, 'sesame.yaml');
    if (collectFiles('cli working directory', cwd, skip) === 0) throw new Error('the CLI wrote no database file');
    const db = walk(cwd, skip).find((f) => f.endsWith('.db'));
    if (!db) throw new Error('no SQLite file under the CLI working directory');
    collectAuditTableIfAny('cli', db);
  });
}

/** The CLI without a server may write no audit record; read the table when it has one. */
function collectAuditTableIfAny(label: string, file: string): void {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const has = db.prepare("select name from sqlite_master where type = 'table' and name = 'audit_log'").get();
    if (!has) return;
    const rows = db.prepare('select * from audit_log order by seq').all();
    collect('audit', `${label}: audit_log table (${rows.length} rows)`, JSON.stringify(rows));
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Library

async function libraryPaths(closedPort: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-leak-lib-'));
  mkdirSync(path.join(dir, 'files', 'app'), { recursive: true });
  writeFileSync(path.join(dir, 'files', 'app', 'pem'), C.pem.value);
  const redactor = new Redactor();
  const logger = createLogger({ level: 'debug', redactor, destination: logSink('library') });
  let sesame: Sesame | undefined;
  await step('library: createSesame', async () => {
    sesame = createSesame(
      {
        database: 'sqlite:./lib.db',
        stores: [
          { name: 'files', type: 'file', root: './files' },
          { name: 'gone', type: 'file', root: './no-such-directory' },
        ],
        connections: [
          {
            name: 'literal',
            type: 'http',
            fields: { baseUrl: `http://127.0.0.1:${closedPort}`, auth: { method: 'bearer', token: C.connLiteral.value } },
          },
          {
            name: 'leaky',
            type: 'http',
            fields: { baseUrl: `http://127.0.0.1:${closedPort}`, auth: { method: 'bearer', token: '{{ secret://env/LEAK_CONN }}' } },
          },
        ],
      } as Parameters<typeof createSesame>[0],
      { baseDir: dir, redactor, logger },
    );
  });
  if (!sesame) return;
  const lib = sesame;

  await step('library: builtin write', async () => {
    const client = await lib.store('builtin').client();
    if (!client.write) throw new Error('builtin store cannot write');
    await client.write('lib/json', C.json.value, { namespace: '' });
    await client.write('lib/long', C.long.value, { namespace: '' });
    await client.write('lib/pem', C.pem.value, { namespace: 'acme' });
  });

  // Successes: the values are what was asked for; only their reports (minus values) are scanned.
  const successes: Array<[string, string, unknown]> = [
    ['secret://env/LEAK_SHORT', '', C.short.value],
    ['secret://builtin/lib/json#password', '', C.json.cores[0]],
    ['secret://files/app/pem', '', C.pem.value],
    ['secret://builtin/lib/pem', 'acme.devops', C.pem.value],
    ['secret://builtin/lib/long', '', C.long.value],
    ['secret://env/LEAK_LONG', '', C.long.value],
  ];
  for (const [ref, namespace, expected] of successes) {
    await step(`library: resolve ${ref}`, async () => {
      const report = await lib.resolveDetailed(ref, { namespace });
      if (report.value !== expected) throw new Error(`resolve ${ref} did not return the stored value`);
      collect('library', `library: resolveDetailed ${ref} (report without its value)`, JSON.stringify({ ...report, value: undefined }));
    });
  }

  // Every error type: SecretNotFoundError, KeyNotFoundError, StoreUnavailableError, bad pointers,
  // non-JSON secrets, templates whose other references resolved first (the long one included).
  const failures = [
    'secret://builtin/lib/missing',
    'secret://env/LEAK_NOT_SET_3',
    'secret://env/LEAK_JSON#nokey',
    'secret://builtin/lib/json#nokey',
    'secret://builtin/lib/json#/nested/list/9',
    'secret://builtin/lib/json#/password/x',
    'secret://env/LEAK_SHORT#key',
    'secret://files/app/pem#/a',
    'secret://gone/app/pem',
    'secret://files/app/missing',
    'x={{ secret://env/LEAK_SHORT }} y={{ secret://env/LEAK_NOT_SET_4 }}',
    'x={{ secret://env/LEAK_LONG }} y={{ secret://env/LEAK_NOT_SET_5 }}',
    'x={{ secret://builtin/lib/long }} y={{ secret://builtin/lib/json#nokey }}',
    'secret://builtin/lib/long#key',
    'x={{ secret://env/LEAK_SHORT }} {{ secret:// }}',
  ];
  for (const ref of failures) {
    const where = `library: resolve ${ref}`;
    await step(where, async () => {
      let thrown: unknown;
      try {
        await lib.resolve(ref);
      } catch (err) {
        thrown = err;
      }
      if (thrown === undefined) throw new Error(`${ref} resolved but should have failed`);
      collect('library', `${where} (error: ${(thrown as Error).name})`, errorTexts(thrown));
    });
  }
  await step('library: resolve a document with a failing field', async () => {
    try {
      await lib.resolve({ a: '{{ secret://env/LEAK_PEM }}', b: { c: 'secret://env/LEAK_JSON#/nested/port/x' } });
    } catch (err) {
      collect('library', `library: resolve document (error: ${(err as Error).name})`, errorTexts(err));
    }
  });

  // Store and connection tests: reports and errors
  for (const [name, sample] of [
    ['files', 'app/pem'],
    ['gone', 'app/pem'],
    ['builtin', 'lib/long'],
  ] as const) {
    await step(`library: testStore ${name}`, async () => {
      collect('library', `library: testStore ${name} --sample ${sample}`, JSON.stringify(await lib.testStore(name, { sample })));
    });
  }
  for (const name of ['literal', 'leaky']) {
    await step(`library: testConnection ${name}`, async () => {
      collect('library', `library: testConnection ${name}`, JSON.stringify(await lib.testConnection(name, { timeoutMs: 3000 })));
    });
  }
  await step('library: connections() and stores()', async () => {
    collect('library', 'library: stores()', JSON.stringify(lib.stores()));
    collect('library', 'library: cacheStats()', JSON.stringify(lib.cacheStats()));
  });

  // Masking contract: a value that reaches a log line or text by mistake is masked, and masking
  // never throws (a thrown error would carry the pattern of every known value).
  await step('library: value logged by mistake', async () => {
    try {
      lib.log.warn({ detail: `pw=${C.short.value}`, pem: C.pem.value }, `connecting with ${C.short.value}`);
      lib.log.error({ err: new Error(`failed with ${C.json.cores[0]}`) }, 'request failed');
    } catch (err) {
      // Logging must not throw; what it threw is scanned like any output.
      harness.push(`library: logging a value by mistake threw ${(err as Error).name}`);
      collect('library', 'library: logger threw while logging a value by mistake', errorTexts(err));
    }
  });
  await step('library: redactor.redact', async () => {
    let text: string;
    try {
      text = lib.redactor.redact(`a ${C.short.value} b ${Buffer.from(C.short.value).toString('base64')} c ${C.long.value}`);
    } catch (err) {
      text = `redact threw:\n${errorTexts(err)}`;
    }
    collect('library', 'library: redactor.redact(text holding known values)', text);
  });
  await step('library: refresh and close', async () => {
    collect('library', 'library: refresh all', JSON.stringify(await lib.refresh({ all: true })));
    await lib.close();
  });
  await step('library: database files', async () => {
    if (collectFiles('library baseDir', dir, (p) => p.startsWith(path.join(dir, 'files'))) === 0) {
      throw new Error('the library wrote no database file');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Server API

async function serverPaths(closedPort: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-leak-server-'));
  mkdirSync(path.join(dir, 'files', 'app'), { recursive: true });
  writeFileSync(path.join(dir, 'files', 'app', 'pem'), C.pem.value);
  const redactor = new Redactor();
  const logger = createLogger({ level: 'debug', redactor, destination: logSink('server') });
  const metrics = new ServerMetrics({ defaultMetrics: false });
  const bodyLimit = 128 * 1024;
  let sesame: Sesame | undefined;
  let server: SesameServer | undefined;
  let url = '';
  await step('server: start', async () => {
    sesame = createSesame(
      {
        database: 'sqlite:./sesame.db',
        stores: [
          { name: 'files', type: 'file', root: './files' },
          { name: 'gone', type: 'file', root: './no-such-directory' },
        ],
      } as Parameters<typeof createSesame>[0],
      { baseDir: dir, redactor, logger, observer: metrics.observer },
    );
    server = await createServer({ sesame, metrics, rateLimit: false, bodyLimit });
    url = await server.listen({ host: '127.0.0.1', port: 0 });
  });
  if (!server || !sesame) return;
  const srv = server;

  const admin = (await srv.services.tokens.create({ role: 'admin', namespace: '', reveal: false, createdBy: 'leak-scan' })).token;
  const runtime = (await srv.services.tokens.create({ role: 'runtime', namespace: '', reveal: false, createdBy: 'leak-scan' })).token;
  const auditor = (await srv.services.tokens.create({ role: 'auditor', namespace: '', reveal: false, createdBy: 'leak-scan' })).token;

  interface Call {
    token?: string;
    body?: unknown;
    raw?: string;
    headers?: Record<string, string>;
    /** The reply's `value` is exactly this value, asked for: it is left out, the rest scanned. */
    value?: unknown;
    channel?: Channel;
  }
  async function call(method: string, p: string, options: Call = {}): Promise<{ status: number; body: unknown }> {
    const where = `api: ${method} ${scrub(p, ALL)}${options.token === undefined ? ' (no token)' : ''}`;
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.raw !== undefined || options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = options.raw ?? JSON.stringify(options.body);
    }
    let status = 0;
    let parsed: unknown;
    await step(where, async () => {
      const response = await fetch(`${url}${p}`, { method, headers, body });
      status = response.status;
      const text = await response.text();
      collect('http-headers', `${where} → ${status} (headers)`, [...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n'));
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (options.value !== undefined && parsed && typeof parsed === 'object' && (parsed as { value?: unknown }).value !== undefined) {
        const reply = parsed as { value?: unknown };
        if (JSON.stringify(reply.value) === JSON.stringify(options.value)) {
          excluded.push(`${where} → ${status} (its "value": exactly the value asked for)`);
          collect(options.channel ?? 'http-body', `${where} → ${status} (body without its value)`, JSON.stringify({ ...reply, value: '<asked for>' }));
          return;
        }
      }
      collect(options.channel ?? 'http-body', `${where} → ${status} (body)`, text);
    });
    return { status, body: parsed };
  }

  const enc = encodeURIComponent;
  // secrets: write, metadata, versions, list
  await call('PUT', `/api/v1/secrets/${enc('app/short')}`, { token: admin, body: { value: C.short.value } });
  await call('PUT', `/api/v1/secrets/${enc('app/json')}`, { token: admin, body: { value: C.json.value, description: 'json secret' } });
  await call('PUT', `/api/v1/secrets/${enc('app/pem')}?namespace=acme`, { token: admin, body: { value: C.pem.value } });
  await call('PUT', `/api/v1/secrets/${enc('app/long')}`, { token: admin, body: { value: C.long.value } });
  await call('PUT', `/api/v1/secrets/${enc('app/short')}`, { token: admin, body: { value: C.short.value, expectedVersion: '0' } });
  await call('GET', `/api/v1/secrets/${enc('app/short')}`, { token: admin });
  await call('GET', `/api/v1/secrets/${enc('app/long')}/versions`, { token: admin });
  await call('GET', '/api/v1/secrets', { token: admin });
  await call('GET', '/api/v1/secrets?namespace=acme', { token: admin });
  await call('GET', `/api/v1/secrets/${enc('app/short')}/value`, { token: admin });
  await call('GET', `/api/v1/secrets/${enc('app/missing')}`, { token: admin });

  // resolve: the runtime token gets the value (left out exactly); failures and refusals scanned
  await call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://builtin/app/short' }, value: C.short.value });
  await call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://builtin/app/json#password' }, value: C.json.cores[0] });
  await call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://builtin/app/pem', namespace: 'acme.devops' }, value: C.pem.value });
  await call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://files/app/pem' }, value: C.pem.value });
  await call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://builtin/app/long' }, value: C.long.value });
  await call('POST', '/api/v1/resolve', { token: admin, body: { reference: 'secret://builtin/app/short' } });
  for (const reference of [
    'secret://builtin/app/json#nokey',
    'secret://builtin/app/json#/nested/list/9',
    'secret://builtin/app/json#/password/x',
    'secret://builtin/app/short#key',
    'secret://builtin/app/long#key',
    'secret://builtin/app/missing',
    'secret://gone/app/pem',
    'secret://files/app/pem#/x',
    'secret://nostore/x',
    'secret://',
  ]) {
    await call('POST', '/api/v1/resolve', { token: runtime, body: { reference } });
  }
  await call('POST', '/api/v1/resolve', {
    token: runtime,
    body: { template: 'a={{ secret://builtin/app/long }} b={{ secret://builtin/app/missing }}' },
  });
  await call('POST', '/api/v1/resolve', {
    token: runtime,
    body: { document: { a: '{{ secret://builtin/app/short }}', b: 'secret://builtin/app/json#nokey' } },
  });
  await call('POST', '/api/v1/resolve', { token: runtime, body: { template: 'a={{ secret://builtin/app/short }} {{ secret://' } });

  // connections: literal canary fields and a reference, read back (masked), test against a closed port
  await call('POST', '/api/v1/connections', {
    token: admin,
    body: {
      name: 'literal',
      type: 'http',
      fields: { baseUrl: `http://127.0.0.1:${closedPort}`, auth: { method: 'bearer', token: C.connLiteral.value }, test: { path: '/check' } },
    },
  });
  await call('POST', '/api/v1/connections', {
    token: admin,
    body: {
      name: 'generic-literal',
      type: 'generic',
      fields: { password: C.connLiteral.value, nested: { key: C.connLiteral.value }, ref: '{{ secret://builtin/app/short }}' },
    },
  });
  await call('POST', '/api/v1/connections', {
    token: admin,
    body: { name: 'bad-fields', type: 'http', fields: { baseUrl: 42, auth: { method: 'bearer', token: C.connLiteral.value }, extra: C.connLiteral.value } },
  });
  await call('GET', '/api/v1/connections/literal', { token: admin });
  await call('GET', '/api/v1/connections/generic-literal', { token: admin });
  await call('GET', '/api/v1/connections', { token: admin });
  await call('POST', '/api/v1/connections/literal/test', { token: admin });
  await call('POST', '/api/v1/connections/generic-literal/test', { token: admin });
  await call('PUT', '/api/v1/connections/literal', {
    token: admin,
    body: { type: 'http', fields: { baseUrl: `http://127.0.0.1:${closedPort}`, auth: { method: 'bearer', token: '***' } } },
  });
  await call('POST', '/api/v1/resolve', { token: admin, body: { connection: 'generic-literal' } });
  await call('POST', '/api/v1/resolve', {
    token: runtime,
    body: { connection: 'generic-literal' },
    value: { password: C.connLiteral.value, nested: { key: C.connLiteral.value }, ref: C.short.value },
  });
  await call('POST', '/api/v1/connections/literal/refresh', { token: runtime });

  // stores: a credential setting (vault token), read back (masked), tested against a closed port
  await call('POST', '/api/v1/stores', {
    token: admin,
    body: {
      name: 'leakvault',
      type: 'vault',
      settings: { address: `http://127.0.0.1:${closedPort}`, auth: { method: 'token', token: C.storeCredential.value } },
    },
  });
  await call('POST', '/api/v1/stores', {
    token: admin,
    body: { name: 'badvault', type: 'vault', settings: { address: 7, auth: { method: 'token', token: C.storeCredential.value, extra: C.storeCredential.value } } },
  });
  await call('GET', '/api/v1/stores/leakvault', { token: admin });
  await call('GET', '/api/v1/stores', { token: admin });
  await call('POST', '/api/v1/stores/leakvault/test?sample=app/x', { token: admin });
  await call('POST', '/api/v1/resolve', { token: runtime, body: { reference: 'secret://leakvault/app/x' } });
  await call('POST', '/api/v1/stores/files/test?sample=app/pem', { token: admin });
  await call('POST', '/api/v1/stores/gone/test', { token: admin });
  await call('POST', '/api/v1/stores/builtin/test?sample=app/long', { token: admin });

  // operations
  await call('POST', '/api/v1/refresh', { token: admin, body: { all: true } });
  await call('GET', '/api/v1/cache', { token: admin });
  await call('GET', '/readyz');
  await call('GET', '/healthz');
  await call('GET', '/api/v1/openapi.json');

  // refusals, unknown routes, bad bodies
  await call('GET', '/api/v1/secrets');
  await call('GET', '/api/v1/secrets', { token: C.bearer.value });
  await call('POST', '/api/v1/resolve', { token: C.bearer.value, body: { reference: 'secret://builtin/app/short' } });
  await call('GET', `/api/v1/no-such-route/${C.short.value}`, { token: admin });
  await call('GET', `/api/v1/no-such-route/${C.short.value}`);
  await call('GET', `/api/v1/secrets/${enc('app/short')}?bogus=${C.short.value}`, { token: admin });
  await call('PUT', `/api/v1/secrets/${enc('app/short')}`, { token: admin, raw: `{"value": "${C.badBody.value}", ` });
  await call('POST', '/api/v1/resolve', { token: runtime, raw: `{"reference": "secret://builtin/app/short", "x": ${C.badBody.value}}` });
  await call('PUT', `/api/v1/secrets/${enc('app/short')}`, { token: admin, body: { value: C.badBody.value, unknownField: C.badBody.value } });
  await call('PUT', `/api/v1/secrets/${enc('app/short')}`, { token: admin, body: { value: 42, description: C.badBody.value.repeat(200) } });
  await call('PUT', `/api/v1/secrets/${enc('app/big')}`, {
    token: admin,
    body: { value: `${C.bigBody.value}${'x'.repeat(bodyLimit)}` },
  });
  await call('POST', '/api/v1/secrets', { token: admin, raw: C.badBody.value, headers: { 'content-type': 'text/plain' } });

  // metrics and audit (all pages, API and table)
  await call('GET', '/metrics', { channel: 'metrics' });
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = await call('GET', `/api/v1/audit?limit=1000${cursor ? `&cursor=${enc(cursor)}` : ''}`, { token: auditor, channel: 'audit' });
    cursor = (r.body as { cursor?: string } | undefined)?.cursor;
    pages++;
  } while (cursor && pages < 20);
  await call('GET', '/api/v1/audit/verify', { token: auditor, channel: 'audit' });

  const skip = (p: string) => p.startsWith(path.join(dir, 'files'));
  await step('server: database files while running', async () => {
    collectAuditTable('server (running)', path.join(dir, 'sesame.db'));
    if (collectFiles('server dir (running)', dir, skip) === 0) throw new Error('the server wrote no file');
  });
  await step('server: close', async () => {
    await srv.close();
    await sesame?.close();
  });
  await step('server: database files after close', async () => {
    collectFiles('server dir (closed)', dir, skip);
  });
}

// ---------------------------------------------------------------------------------------------

describe('leak scan', () => {
  const saved: Record<string, string | undefined> = {};

  /** Vitest's own listeners, set aside while the paths run (an unhandled error is an output here). */
  type Listener = (...args: unknown[]) => void;
  const runnerListeners: Array<['unhandledRejection' | 'uncaughtException', Listener[]]> = [];
  const unhandled: string[] = [];

  beforeAll(async () => {
    for (const event of ['unhandledRejection', 'uncaughtException'] as const) {
      runnerListeners.push([event, process.listeners(event as "uncaughtException") as Listener[]]);
      process.removeAllListeners(event);
      process.on(event as 'uncaughtException', (err: unknown) => {
        // A server would print this to stderr and exit: scanned as a log line.
        unhandled.push(`${event}: ${scrub(err instanceof Error ? `${err.name}: ${err.message}` : String(err), ALL)}`);
        collect('logs', `process: ${event} (Node prints it on stderr and exits)`, errorTexts(err));
      });
    }
    for (const [k, v] of Object.entries(ENV)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    const closedPort = await freePort();
    await Promise.all([cliPaths(closedPort), (async () => {
      await libraryPaths(closedPort);
      await serverPaths(closedPort);
    })()]);
    // Let late failures (timers, sockets) surface before the listeners are given back.
    await new Promise((r) => setTimeout(r, 200));
  }, 120_000);

  afterAll(() => {
    for (const [event, listeners] of runnerListeners) {
      process.removeAllListeners(event);
      for (const l of listeners) process.on(event as 'unhandledRejection', l);
    }
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('every path ran to its end (no setup step failed, nothing threw where a reply or report was due)', () => {
    expect(harness, `paths that could not run:\n${harness.join('\n')}`).toEqual([]);
  });

  it('no path ended in an unhandled rejection or exception', () => {
    expect(unhandled, unhandled.join('\n')).toEqual([]);
  });

  it('left out only the outputs that are exactly a value asked for', () => {
    // resolve ×4 and secrets get ×2 on the CLI, resolve ×6 on the API.
    expect(excluded.length, excluded.join('\n')).toBe(12);
  });

  it('the scanner finds a planted leak in every encoding (self-check)', () => {
    const short = C.short.value;
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const hexSpaced = (s: string) =>
      [...Buffer.from(s)].map((b) => b.toString(16).padStart(2, '0')).join(' ').replace(/((?:\S+ ){15}\S+) /g, '$1\n ');
    // Canaries are ASCII letters, digits and "-": their base64 never holds "+" or "/", so it is
    // their base64url too. One more canary with bytes that encode to "+" and "/" checks base64url.
    const odd: Canary = { label: 'self-check', value: `~?>${short}~?>`, cores: [`~?>${short}~?>`] };
    const b64url = (): [string, string, string] => ['base64url', 'self-check', Buffer.from(`~${odd.value}`).toString('base64url')];
    const planted: Array<[string, string, string]> = [
      ['plain', 'short', `log ${short} end`],
      ['base64 (alignment 0)', 'short', `x ${b64(short)}`],
      ['base64 (alignment 1)', 'short', b64(`a${short}`)],
      ['base64 (alignment 2)', 'short', b64(`ab${short}`)],
      // base64url of a value without + or / is its base64: reported as base64.
      ['base64', 'short', Buffer.from(`?${short}`).toString('base64url')],
      b64url(),
      ['hex', 'short', Buffer.from(short).toString('hex').toUpperCase()],
      ['hex', 'short', ` ${hexSpaced(short)}\n`],
      ['url-encoded', 'pem[0]', encodeURIComponent(C.pem.value)],
      ['plain', 'pem[1]', JSON.stringify({ v: C.pem.value })],
      ['base64', 'json', b64(C.json.value)],
      ['plain', 'long[0]', `Invalid regular expression: /${C.long.value.slice(0, 60)}`],
      ['base64', 'long[0]', b64(C.long.value).slice(0, 100).replace(/(.{76})/g, '$1\n')],
    ];
    for (const [encoding, label, text] of planted) {
      for (const channel of CHANNELS) {
        const copy: Output[] = [...outputs.filter((o) => o.channel === channel).slice(0, 3), { channel, where: 'planted', text }];
        const found = scan(copy, [...ALL, odd]).filter((l) => l.where === 'planted');
        expect(
          found.some((l) => l.encoding.startsWith(encoding) && l.canary === label),
          `planted ${label} as ${encoding} in ${channel}: found ${JSON.stringify(found.map((l) => `${l.canary} ${l.encoding}`))}`,
        ).toBe(true);
      }
    }
    // And nothing in a text without canaries.
    expect(scan([{ channel: 'logs', where: 'clean', text: `CANARY-${'0'.repeat(24)} ${randomText()}` }], ALL)).toEqual([]);
  });

  for (const channel of CHANNELS) {
    it(`no canary in ${channel}`, () => {
      const mine = outputs.filter((o) => o.channel === channel);
      expect(mine.length, `nothing was collected for ${channel}: the scan would pass by scanning nothing`).toBeGreaterThan(0);
      const leaks = scan(mine, ALL);
      expect(leaks.length, `${leaks.length} leak(s) in ${channel} (scanned ${mine.length} outputs):\n${describeLeaks(leaks)}`).toBe(0);
    });
  }
});

function randomText(): string {
  return Array.from({ length: 50 }, (_, i) => `line ${i}: ${Math.random().toString(36)}`).join('\n');
}
