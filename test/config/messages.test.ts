/**
 * Config errors a person can act on: the key path and what is expected there in plain words,
 * never zod's own text (`Invalid input: expected string, received undefined`), never the value.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defaultConnectionTypes } from '../../src/connections/default-types.js';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { issuesFrom } from '../../src/server/errors.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';

const registry = defaultStoreTypes();
const connectionTypes = defaultConnectionTypes();

function messageFor(doc: unknown): string {
  try {
    validateConfig(doc, { registry, connectionTypes, baseDir: '/tmp' });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const LIBRARY_TEXT =
  /Invalid input|Invalid option|expected string|received undefined|Too small|Too big|Unrecognized key/;

describe('config validation messages', () => {
  it.each([
    [{ masterKey: {} }, 'config masterKey: needs one of: file, env'],
    [{ stores: [{ type: 'env' }] }, 'config stores[0].name: is required (a string)'],
    [{ server: { port: 'x' } }, 'config server.port: must be a number, not a string'],
    [{ server: { port: 1.5 } }, 'config server.port: must be a whole number'],
    [{ server: { port: 70000 } }, 'config server.port: must be at most 65535'],
    [
      { log: { level: 'loud' } },
      'config log.level: must be one of "debug", "info", "warn", "error", "silent"',
    ],
    [
      { stores: [{ name: 'v', type: 'vault', address: 'http://x', auth: { method: 'token' } }] },
      'config stores[0].auth.token: is required (a string)',
    ],
    [{ stores: 'nope' }, 'config stores: must be a list, not a string'],
    [
      {
        connections: [
          { name: 'j', type: 'http', fields: { baseUrl: 'https://j', auth: { method: 'bearer' } } },
        ],
      },
      'auth.token: is required (a string)',
    ],
    [
      { connections: [{ name: 'p', type: 'postgres', fields: { host: 'db' } }] },
      'user: is required (a string)',
    ],
    [
      {
        stores: [{ name: 'a', type: 'aws-secrets-manager', region: 'us-east-1', auth: { method: 'magic' } }],
      },
      'config stores[0].auth.method: must be one of "default", "static", "assume-role", "profile"',
    ],
    [
      { stores: [{ name: 'v', type: 'vault', address: 'http://x', auth: {} }] },
      'config stores[0].auth.method: must be one of "token", ',
    ],
  ])('%j → %s', (doc, expected) => {
    const message = messageFor(doc);
    expect(message).toContain(expected);
    expect(message).not.toMatch(LIBRARY_TEXT);
  });

  it('keeps a message the schema wrote itself', () => {
    expect(messageFor({ stores: [{ name: 'Bad Name', type: 'env' }] })).toContain(
      'config stores[0].name: a store name is lowercase letters, digits, "_" and "-" (at most 63)',
    );
  });

  it('never repeats the value it refused', () => {
    const message = messageFor({
      stores: [{ name: 'v', type: 'vault', address: 'http://x', auth: { method: 'token', token: 12345678 } }],
    });
    expect(message).toContain('stores[0].auth.token: must be a string, not a number');
    expect(message).not.toContain('12345678');
  });
});

describe('API validation issues', () => {
  it('use the same plain words, at the path zod gave (a union names the key below it)', () => {
    const schema = z.strictObject({
      name: z.string(),
      source: z.union([
        z.strictObject({ file: z.string() }),
        z.strictObject({ env: z.string(), key: z.string() }),
      ]),
    });
    const parsed = schema.safeParse({ source: { env: 'X' } });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(issuesFrom('body', parsed.error)).toEqual([
      { path: 'body.name', message: 'is required (a string)' },
      { path: 'body.source', message: 'key: is required (a string)' },
    ]);
  });
});

describe('syntax errors', () => {
  it('YAML: file:line:col, the line, and a caret under the column', () => {
    const text = 'stores:\n  - name: aws\n    type: [aws-secrets-manager\nconnections: []\n';
    let message = '';
    try {
      parseConfigText(text, path.join(process.cwd(), 'sesame.yaml'));
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    const [first, excerpt, caret] = message.split('\n');
    expect(first).toMatch(/^config sesame\.yaml:(\d+):(\d+): .+ \(not valid YAML\)$/);
    expect(first).not.toMatch(/:\s*\(not valid YAML\)$/);
    const [, line, col] = /sesame\.yaml:(\d+):(\d+)/.exec(first ?? '') ?? [];
    const source = text.split('\n')[Number(line) - 1] ?? '';
    expect(excerpt).toBe(`  ${line} | ${source}`);
    expect(caret).toBe(`  ${' '.repeat(String(line).length)} | ${' '.repeat(Number(col) - 1)}^`);
  });

  it('YAML: a duplicate key is shown where it is', () => {
    expect(() => parseConfigText('a: 1\nb: 2\na: 3\n', path.join(process.cwd(), 'x.yaml'))).toThrow(
      /x\.yaml:3:1: Map keys must be unique \(not valid YAML\)\n {2}3 \| a: 3\n {4}\| \^/,
    );
  });

  it('stars out the value of a credential-named key on the line it shows, keeping the caret column', () => {
    const text = 'stores:\n  - name: v\n    password: "hunter2-lit" x\n';
    let message = '';
    try {
      parseConfigText(text, path.join(process.cwd(), 'p.yaml'));
    } catch (err) {
      message = (err as Error).message;
    }
    // The error is on the password line itself: shown, with its value starred, caret in place.
    expect(message).toBe(
      'config p.yaml:3:29: Unexpected scalar at node end (not valid YAML)\n  3 |     password: ************* *\n    |                             ^',
    );
    expect(message).not.toContain('hunter2-lit');
  });

  it('JSON: line and column from the position', () => {
    expect(() => parseConfigText('{\n  "a": 1,\n}\n', path.join(process.cwd(), 'c.json'))).toThrow(
      /c\.json:3:1: .+ \(not valid JSON\)\n {2}3 \| }\n {4}\| \^/,
    );
  });

  it('JSON: never quotes the document back (it may hold a credential), still says where', () => {
    const text = '{\n  "token": "tok-very-secret-771",\n  "stores": [,]\n}\n';
    let message = '';
    try {
      parseConfigText(text, path.join(process.cwd(), 'd.json'));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')[0]).toMatch(/^config d\.json:3:14: Unexpected token ',' \(not valid JSON\)$/);
    expect(message).not.toContain('tok-very-secret-771');
    let other = '';
    try {
      parseConfigText('{"token": "tok-very-secret-771", "a": tru}', path.join(process.cwd(), 'e.json'));
    } catch (err) {
      other = (err as Error).message;
    }
    expect(other).toMatch(/^config e\.json/);
    expect(other).not.toContain('tok-very-secret-771');
  });

  it('a missing --config file is named once ("config file", not "config config file")', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-msg-'));
    expect(() => loadConfig({ cwd: dir, file: 'nope.yaml', registry })).toThrow(
      /^config file nope\.yaml does not exist/,
    );
  });
});

describe('interpolation of stores and connections is lazy', () => {
  function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-lazy-'));
    writeFileSync(path.join(dir, 'sesame.yaml'), yaml);
    return loadConfig({ cwd: dir, registry, connectionTypes, env });
  }
  const yaml = [
    'stores:',
    '  - name: aws',
    '    type: aws-secrets-manager',
    '    region: ${env:SESAME_T_UNSET_REGION}',
    '  - name: files',
    '    type: file',
    '    root: ${env:SESAME_T_ROOT}',
    'connections:',
    '  - name: jira',
    '    type: http',
    '    fields:',
    '      baseUrl: ${env:SESAME_T_UNSET_URL}',
    '',
  ].join('\n');

  it('an unset ${env:X} in one store leaves the config and the other stores usable', () => {
    const config = load(yaml, { SESAME_T_ROOT: '/srv/secrets' });
    const aws = config.stores.find((s) => s.name === 'aws');
    const files = config.stores.find((s) => s.name === 'files');
    expect(files).toMatchObject({ settings: { root: '/srv/secrets' } });
    expect(files?.unavailable).toBeUndefined();
    expect(aws?.unavailable?.message).toBe(
      'config stores[0].region: environment variable SESAME_T_UNSET_REGION is not set (export SESAME_T_UNSET_REGION=… before starting, or change ${env:SESAME_T_UNSET_REGION})',
    );
    expect(config.connections[0]?.unavailable?.message).toContain(
      'connections[0].fields.baseUrl: environment variable SESAME_T_UNSET_URL is not set',
    );
  });

  it('still fails at once where every command needs the value (database, names)', () => {
    expect(() => load('database: ${env:SESAME_T_UNSET_DB}\n')).toThrow(
      /database: environment variable SESAME_T_UNSET_DB is not set/,
    );
    expect(() => load('stores:\n  - name: ${env:SESAME_T_UNSET_NAME}\n    type: env\n')).toThrow(
      /stores\[0\]\.name: environment variable/,
    );
  });
});
