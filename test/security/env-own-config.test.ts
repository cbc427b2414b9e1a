/**
 * The env store serves the environment of the process that runs Sesame, and a root runtime
 * token may resolve from it. That environment also holds Sesame's own configuration: a runtime
 * token read the master key with `secret://env/SESAME_MASTER_KEY` (and so could decrypt every
 * builtin secret and forge the audit chain), the database password and the credentials of other
 * stores given as `${env:…}` in the config. The env store now refuses those variables, to every
 * caller, as a denial that says why; other variables are served as before.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { AccessDeniedError } from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame } from '../../src/sesame.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { startTestServer, type TestServer } from '../server/helpers.js';

const KEY = randomBytes(32).toString('base64');
const saved = { ...process.env };
afterAll(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
});

describe('the env store and Sesame\'s own configuration', () => {
  let server: TestServer | undefined;
  afterAll(async () => server?.close());

  it('a root runtime token cannot read the master key, Sesame\'s tokens or the config\'s ${env:} inputs through the API', async () => {
    process.env['TEST_OWN_MASTER_KEY'] = KEY;
    process.env['SESAME_TOKEN'] = 'sesame_token-never-served';
    process.env['SESAME_MASTER_KEY'] = 'conventional-key-never-served';
    process.env['TEST_OWN_PLAIN'] = 'plain-variable-value';
    server = await startTestServer({ config: { masterKey: { env: 'TEST_OWN_MASTER_KEY' } } });
    const { token } = await server.token('runtime');
    for (const variable of ['TEST_OWN_MASTER_KEY', 'SESAME_TOKEN', 'SESAME_MASTER_KEY']) {
      const r = await server.call('POST', '/api/v1/resolve', { token, body: { reference: `secret://env/${variable}` } });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('access_denied');
      expect(r.body.error.message).toContain(`environment variable ${variable} is Sesame's own configuration`);
    }
    const plain = await server.call('POST', '/api/v1/resolve', { token, body: { reference: 'secret://env/TEST_OWN_PLAIN' } });
    expect(plain.status).toBe(200);
    expect(plain.body.value).toBe('plain-variable-value');
    expect(server.bodies.map((b) => b.text).join('\n')).not.toContain(KEY);
    expect(server.bodies.map((b) => b.text).join('\n')).not.toContain('never-served');
  });

  it('variables the config file interpolates are refused, and not listed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-own-env-'));
    process.env['TEST_OWN_VAULT_TOKEN'] = 'hvs.never-served-token';
    process.env['TEST_OWN_DB_DIR'] = dir;
    process.env['TEST_OWN_OTHER'] = 'other-value';
    writeFileSync(
      path.join(dir, 'sesame.yaml'),
      [
        'database: sqlite:${env:TEST_OWN_DB_DIR}/sesame.db',
        'stores:',
        '  - name: vault',
        '    type: vault',
        '    address: http://127.0.0.1:8200',
        '    auth: { method: token, token: "${env:TEST_OWN_VAULT_TOKEN}" }',
        '',
      ].join('\n'),
    );
    const registry = defaultStoreTypes();
    const config = loadConfig({ file: path.join(dir, 'sesame.yaml'), registry });
    const sesame = createSesame(config, { registry, redactor: new Redactor() });
    try {
      for (const variable of ['TEST_OWN_VAULT_TOKEN', 'TEST_OWN_DB_DIR']) {
        const err = await sesame.resolve(`secret://env/${variable}`).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(AccessDeniedError);
        expect((err as AccessDeniedError).message).toBe(
          `secret://env/${variable}: [env] environment variable ${variable} is Sesame's own configuration (the config file reads it with \${env:${variable}}): the env store does not serve it`,
        );
        expect((err as AccessDeniedError).fix).toBe('give workflows their secrets in other variables, or in a store');
      }
      expect(await sesame.resolve('secret://env/TEST_OWN_OTHER')).toBe('other-value');
      const client = await sesame.store('env').client();
      const names = (await client.list({ namespaces: [''] })).items.map((i) => i.name);
      expect(names).toContain('TEST_OWN_OTHER');
      expect(names).not.toContain('TEST_OWN_VAULT_TOKEN');
      expect(names).not.toContain('TEST_OWN_DB_DIR');
    } finally {
      await sesame.close();
    }
  });
});
