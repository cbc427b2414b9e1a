import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.js';
import { interpolate, loadConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/schema.js';
import { namespaceChain } from '../../src/namespaces.js';
import { ConfigError } from '../../src/errors.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';

const registry = defaultStoreTypes();
const validate = (doc: unknown) => validateConfig(doc, { registry, baseDir: '/tmp' });

function configError(doc: unknown): ConfigError {
  try {
    validate(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('validateConfig', () => {
  it('applies the embedded defaults and the implicit env store', () => {
    const config = validate({});
    expect(config.database).toBe('sqlite:./.sesame/sesame.db');
    expect(config.masterKey).toEqual({ file: './.sesame/master.key' });
    expect(config.stores.find((s) => s.name === 'env')).toMatchObject({
      type: 'env',
      namespace: '',
      implicit: true,
    });
  });

  it('validates store settings with the store type and keeps cache settings in ms', () => {
    const config = validate({
      stores: [
        {
          name: 'files',
          namespace: 'acme',
          type: 'file',
          root: '/run/secrets',
          cache: { ttl: '30s', staleIfError: '1h' },
        },
      ],
    });
    const store = config.stores.find((s) => s.name === 'files');
    expect(store?.settings).toEqual({ root: '/run/secrets', maxSize: 1024 * 1024 });
    expect(store?.cache.ttlMs).toBe(30_000);
    expect(store?.cache.staleIfErrorMs).toBe(3_600_000);
  });

  it('rejects unknown top-level keys with the key named', () => {
    const err = configError({ databse: 'sqlite:x' });
    expect(err.message).toContain('"databse"');
    expect(err.message).toContain('unknown key');
  });

  it('rejects unknown keys inside a store with its config path', () => {
    const err = configError({ stores: [{ name: 'files', type: 'file', root: '/x', rot: '/y' }] });
    expect(err.message).toContain('stores[0]');
    expect(err.message).toContain('"rot"');
  });

  it('rejects bad durations with a hint', () => {
    const err = configError({ stores: [{ name: 'e2', type: 'env', cache: { ttl: '5 minutes' } }] });
    expect(err.message).toContain('stores[0].cache.ttl');
    expect(err.message).toMatch(/500ms, 30s, 5m/);
  });

  it('rejects duplicate store names in one namespace', () => {
    const err = configError({
      stores: [
        { name: 'files', type: 'file', root: '/a' },
        { name: 'files', type: 'file', root: '/b' },
      ],
    });
    expect(err.message).toContain('stores[1].name');
    expect(err.message).toContain('duplicate store "files"');
  });

  it('allows the same store name in different namespaces', () => {
    const config = validate({
      stores: [
        { name: 'files', type: 'file', root: '/a' },
        { name: 'files', namespace: 'acme', type: 'file', root: '/b' },
      ],
    });
    expect(config.stores.filter((s) => s.name === 'files')).toHaveLength(2);
  });

  it('rejects unknown store types and lists the known ones', () => {
    const err = configError({ stores: [{ name: 'x', type: 'keepass' }] });
    expect(err.message).toContain('stores[0].type');
    expect(err.message).toContain('unknown store type "keepass"');
    expect(err.message).toContain('env, file');
  });

  it('rejects references to undeclared stores', () => {
    const err = configError({
      connections: [{ name: 'jira', type: 'http', fields: { token: '{{ secret://aws/jira#token }}' } }],
    });
    expect(err.message).toContain('connections[0].fields.token');
    expect(err.message).toContain('undeclared store "aws"');
  });

  it('rejects a reference to a store declared only in another branch of namespaces', () => {
    const err = configError({
      stores: [{ name: 'files', namespace: 'globex', type: 'file', root: '/x' }],
      connections: [{ name: 'c', namespace: 'acme', fields: { p: 'secret://files/p' } }],
    });
    expect(err.message).toContain('undeclared store "files"');
  });

  it('rejects malformed references in connections with field and offset', () => {
    expect(() => validate({ connections: [{ name: 'c', fields: { p: 'x{{ secret://env/ }}' } }] })).toThrow(
      /connections\[0\]\.fields\.p at offset/,
    );
  });

  it('rejects bad namespace names', () => {
    expect(configError({ namespaces: { 'Acme..x': {} } }).message).toMatch(/namespace/);
  });
});

describe('namespaceChain', () => {
  it('walks up to the root and stops after an isolated namespace', () => {
    const ns = new Map([['acme.secure', { isolated: true }]]);
    expect(namespaceChain('acme.devops.ci', ns)).toEqual(['acme.devops.ci', 'acme.devops', 'acme', '']);
    expect(namespaceChain('acme.secure', ns)).toEqual(['acme.secure']);
    expect(namespaceChain('acme.secure.x', ns)).toEqual(['acme.secure.x', 'acme.secure']);
    expect(namespaceChain('', ns)).toEqual(['']);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['7d', 604_800_000],
    ['0', 0],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', '5 m', 'five minutes', '1y', '-1s'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('interpolate and loadConfig', () => {
  it('fills ${env:X} and ${file:path}, and keeps $${ literal', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-cfg-'));
    writeFileSync(path.join(dir, 'region.txt'), 'eu-west-1\n');
    const out = interpolate(
      { a: '${env:SESAME_T_REGION}', b: ['${file:./region.txt}'], c: 'cost $${x}' },
      dir,
      { SESAME_T_REGION: 'us-east-1' },
    );
    expect(out).toEqual({ a: 'us-east-1', b: ['eu-west-1'], c: 'cost ${x}' });
  });

  it('refuses a "${" that is neither ${env:…} nor ${file:…} (e.g. ${JIRA_TOKEN}) rather than keep it as the value, without echoing it', () => {
    for (const text of ['${JIRA_TOKEN}', 'Bearer ${env:JIRA_TOKEN', 'pw-${Vault:x}-pw', '${ENV:X}']) {
      let message = '';
      try {
        interpolate({ stores: [{ auth: { token: text } }] }, '/tmp', { JIRA_TOKEN: 'x', X: 'y' });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect(message).toMatch(
        /^config stores\[0\]\.auth\.token: "\$\{" starts neither \$\{env:NAME\} nor \$\{file:\/path\}/,
      );
      expect(message).toContain('$${');
      expect(message).not.toMatch(/JIRA|Vault|ENV:X|pw-/);
    }
    expect(interpolate({ a: 'cost $${x} ${env:X}' }, '/tmp', { X: 'y' })).toEqual({ a: 'cost ${x} y' });
  });

  it('names the path of a missing environment variable', () => {
    expect(() => interpolate({ stores: [{ token: '${env:NOPE_NOT_SET}' }] }, '/tmp', {})).toThrow(
      /stores\[0\]\.token: environment variable NOPE_NOT_SET is not set/,
    );
  });

  it('reads sesame.yaml from the working directory and resolves paths against it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-cfg-'));
    writeFileSync(
      path.join(dir, 'sesame.yaml'),
      'namespaces:\n  acme.secure: { isolated: true }\nstores:\n  - name: files\n    type: file\n    root: ./secrets\n',
    );
    const config = loadConfig({ cwd: dir, registry });
    expect(config.source).toBe(path.join(dir, 'sesame.yaml'));
    expect(config.embedded).toBe(false);
    expect(config.namespaces.get('acme.secure')).toEqual({ isolated: true, description: undefined });
    expect(config.baseDir).toBe(dir);
  });

  it('falls back to the embedded default without a config file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-cfg-'));
    expect(loadConfig({ cwd: dir, registry }).embedded).toBe(true);
  });

  it('reports YAML syntax errors and a missing --config file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-cfg-'));
    writeFileSync(path.join(dir, 'bad.yaml'), 'stores: [\n');
    expect(() => loadConfig({ cwd: dir, file: 'bad.yaml', registry })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ cwd: dir, file: 'nope.yaml', registry })).toThrow(/does not exist/);
  });
});
