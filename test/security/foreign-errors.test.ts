/**
 * A store adapter that fails with an error of its own kind (a library's TypeError, V8's
 * SyntaxError while parsing an answer that holds the value): the resolver turns it into a
 * StoreUnavailableError for every adapter, and what that error says — its message, its cause,
 * the API's answer and the server's log line — must hold nothing of the answer it choked on.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../../src/log.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createServer } from '../../src/server/app.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { createSesame } from '../../src/sesame.js';
import type { StoreClient, StoreType } from '../../src/stores/contract.js';
import { runChecks } from '../../src/stores/core/check.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { BIN } from '../support/cli.js';

/** The value the store's backend answered, written without its quotes (so JSON.parse fails on it). */
const answer = `pw-${randomBytes(8).toString('hex')}`;
const pieces = Array.from({ length: answer.length - 7 }, (_, i) => answer.slice(i, i + 8));
const shows = (text: string) => pieces.filter((p) => text.includes(p));

const settings = z.strictObject({});
const parsingStore = {
  type: 'parsing',
  capabilities: { write: false, batch: false, versions: false, stages: false, namespaced: false, restore: false },
  settings,
  hostAccess: () => [],
  create(): StoreClient {
    return {
      async get() {
        // An adapter parsing its backend's answer, as any HTTP adapter does.
        const doc = JSON.parse(`{"value": ${answer}}`) as { value: string };
        return { value: doc.value };
      },
      async list() {
        return { items: [] };
      },
      async check() {
        return { ok: true, steps: [] };
      },
      async close() {},
    };
  },
} satisfies StoreType<z.infer<typeof settings>>;

function sesameWithParsingStore(logger?: ReturnType<typeof createLogger>, redactor?: Redactor) {
  return createSesame({ database: 'sqlite:./s.db', stores: [{ name: 'raw', type: 'parsing' }] } as Parameters<typeof createSesame>[0], {
    baseDir: mkdtempSync(path.join(tmpdir(), 'sesame-foreign-')),
    registry: defaultStoreTypes().register(parsingStore),
    ...(logger ? { logger } : {}),
    ...(redactor ? { redactor } : {}),
  });
}

/** A store type whose client reads a JSON credential setting, as a service-account key is read. */
const keySettings = z.strictObject({ key: z.string() });
const keyedStore = {
  type: 'keyed',
  capabilities: { write: false, batch: false, versions: false, stages: false, namespaced: false, restore: false },
  settings: keySettings,
  secretSettings: ['key'],
  hostAccess: () => [],
  create(settings: z.infer<typeof keySettings>): StoreClient {
    const key = JSON.parse(settings.key) as { id: string };
    return {
      async get() {
        return { value: key.id };
      },
      async list() {
        return { items: [] };
      },
      async check() {
        return { ok: true, steps: [] };
      },
      async close() {},
    };
  },
} satisfies StoreType<z.infer<typeof keySettings>>;

describe('a store failing with an error that is not a SesameError', () => {
  it('when its client cannot be made (a credential setting that is not JSON), says so without quoting the setting', async () => {
    // The credential written without its quotes around the value: V8 quotes the text after the fault.
    const key = `{"id": ${answer}}`;
    const sesame = createSesame(
      { database: 'sqlite:./s.db', stores: [{ name: 'k', type: 'keyed', key }] } as Parameters<typeof createSesame>[0],
      { baseDir: mkdtempSync(path.join(tmpdir(), 'sesame-foreign-')), registry: defaultStoreTypes().register(keyedStore) },
    );
    try {
      const err = await sesame.resolve('secret://k/x').then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toContain('could not start the keyed client');
      expect(shows(inspect(err, { depth: 10 })), 'inspect(error) with its causes').toEqual([]);
      expect(shows(`${err?.message} ${err?.stack} ${String(err?.cause)}`)).toEqual([]);
    } finally {
      await sesame.close();
    }
  });

  it('becomes a StoreUnavailableError whose message, fix and cause hold nothing of the answer', async () => {
    expect(() => JSON.parse(`{"value": ${answer}}`), 'V8 quotes the answer (the premise)').toThrow(answer.slice(0, 8));
    const sesame = sesameWithParsingStore();
    try {
      const err = await sesame.resolve('secret://raw/app/db').then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err?.name).toBe('StoreUnavailableError');
      expect(err?.message).toContain('[raw]');
      expect(err?.message).toContain('SyntaxError');
      expect(shows(inspect(err, { depth: 10 })), 'inspect(error) with its causes').toEqual([]);
      expect(shows(`${err?.message} ${err?.stack} ${String(err?.cause)} ${(err?.cause as Error | undefined)?.stack}`)).toEqual([]);
    } finally {
      await sesame.close();
    }
  });

  it('through the API: nothing of the answer in the reply or the server log', async () => {
    const lines: string[] = [];
    const redactor = new Redactor();
    const logger = createLogger({ level: 'debug', redactor, destination: { write: (l: string) => lines.push(l) } as never });
    const sesame = sesameWithParsingStore(logger, redactor);
    const server = await createServer({ sesame, metrics: new ServerMetrics({ defaultMetrics: false }), rateLimit: false });
    try {
      const url = await server.listen({ host: '127.0.0.1', port: 0 });
      const { token } = await server.services.tokens.create({ role: 'runtime', namespace: '', reveal: false, createdBy: 'test' });
      const r = await fetch(`${url}/api/v1/resolve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reference: 'secret://raw/app/db' }),
      });
      const body = await r.text();
      expect(r.status, body).toBe(503);
      expect(shows(body), 'the reply').toEqual([]);
      expect(lines.some((l) => l.includes('request failed')), 'the 5xx is logged').toBe(true);
      expect(shows(lines.join('\n')), 'the server log').toEqual([]);
    } finally {
      await server.close();
      await sesame.close();
    }
  });
});

describe('the log line of an error', () => {
  it('shows an error that is not ours by name, code and first line without quotes, and none of its other properties', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', redactor: new Redactor(), destination: { write: (l: string) => lines.push(l) } as never });
    let parseError: unknown;
    try {
      JSON.parse(`{"value": ${answer}}`);
    } catch (e) {
      parseError = e;
    }
    // As an SDK error: the response body hangs on it.
    const sdkError = Object.assign(new Error('Service answered 400', { cause: parseError }), {
      code: 'BadRequest',
      response: { bodyAsText: `{"value": "${answer}"}` },
    });
    log.error({ err: sdkError }, 'request failed');
    expect(lines).toHaveLength(1);
    expect(shows(lines[0] as string)).toEqual([]);
    const logged = JSON.parse(lines[0] as string) as { err: { type: string; code: string; message: string; cause: { type: string; message: string } } };
    expect(logged.err).toMatchObject({ type: 'Error', code: 'BadRequest', message: 'Error: Service answered 400' });
    expect(logged.err.cause).toMatchObject({ type: 'SyntaxError', message: "SyntaxError: Unexpected token 'p' (not valid JSON)" });
    expect(lines[0]).not.toContain('response');
  });
});

describe('stores test', () => {
  it("a check step failing with an error that is not ours reports it without what it quoted", async () => {
    const report = await runChecks([
      {
        step: 'read',
        async run() {
          const doc = JSON.parse(`{"value": ${answer}}`) as { value: string };
          return `read ${doc.value.length} characters`;
        },
        fix: 'check what the store answers',
      },
    ]);
    expect(report.ok).toBe(false);
    expect(shows(JSON.stringify(report))).toEqual([]);
    expect(report.steps[0]).toMatchObject({ step: 'read', ok: false, fix: 'check what the store answers' });
    expect(report.steps[0]?.detail).toMatch(/^SyntaxError: /);
  });
});

describe('sesame serve and a failure nothing awaited', () => {
  it('an unhandled rejection stops the server with one line and a log line, nothing of what the error quoted', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-foreign-serve-'));
    // Stands for a bug: a promise no one awaits rejects with an error quoting a value.
    const preload = path.join(cwd, 'reject-later.cjs');
    writeFileSync(
      preload,
      // Once the server is up (its "serving" line written), whatever the machine's speed.
      [
        'const write = process.stdout.write.bind(process.stdout);',
        'process.stdout.write = (chunk, ...rest) => {',
        "  if (String(chunk).includes('sesame: serving ')) setTimeout(() => {",
        `    let e; try { JSON.parse('{"value": ${answer}}'); } catch (err) { e = err; }`,
        `    Promise.reject(Object.assign(e, { body: '${answer}' }));`,
        '  }, 50);',
        '  return write(chunk, ...rest);',
        '};',
        '',
      ].join('\n'),
    );
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', preload, BIN, 'serve', '--port', '0'], {
        cwd,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SESAME_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.stdout.on('data', (c) => {
        stdout += String(c);
      });
      child.stderr.on('data', (c) => {
        stderr += String(c);
      });
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    expect(r.stdout).toContain('sesame: serving ');
    expect(r.code).toBe(1);
    expect(shows(r.stdout + r.stderr), 'what the server printed').toEqual([]);
    expect(r.stderr).toContain('sesame: unexpected error: SyntaxError: Unexpected token');
    expect(r.stderr).toContain('"msg":"unexpected failure: the server stops"');
    expect(r.stderr).toContain('"origin":"unhandledRejection"');
  }, 40_000);
});
