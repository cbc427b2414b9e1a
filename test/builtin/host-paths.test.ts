/**
 * Where the builtin store's database and master key live (a host path, a database URL that may
 * carry a password) is for the host's own user: a check asked with `host: true` (the CLI) shows
 * it; any other check (the API) and every error message name the database by kind only, and the
 * location goes to the store's log (the server log).
 */
import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/errors.js';
import { BuiltinStoreClient, builtinStoreType } from '../../src/stores/builtin/index.js';
import { openBackend, tempDir, writeKeyFile } from './helpers.js';

async function setup() {
  const dir = tempDir();
  const keyFile = writeKeyFile(dir);
  const file = path.join(dir, 'host-paths.db');
  const backend = await openBackend({ database: `sqlite:${file}`, masterKey: { file: keyFile } });
  const logged: string[] = [];
  const log = { debug() {}, info() {}, warn: (msg: string, fields?: Record<string, unknown>) => logged.push(`${msg} ${JSON.stringify(fields)}`) };
  const client = new BuiltinStoreClient(backend, builtinStoreType.settings.parse({}), { storeName: 'builtin', log });
  return { dir, file, keyFile, backend, client, logged };
}

describe('builtin store: host paths', () => {
  it('a check for the API names no path; a check for the host shows the database file and the key file', async () => {
    const { dir, file, keyFile, client } = await setup();
    const api = JSON.stringify(await client.check({ namespaces: [''] }));
    expect(api).not.toContain(dir);
    expect(api).toContain('sqlite database, schema version');
    expect(api).toContain('from the configured key file');
    const host = JSON.stringify(await client.check({ namespaces: [''], host: true }));
    expect(host).toContain(`sqlite:${file}, schema version`);
    expect(host).toContain(`from file ${keyFile}`);
  });

  it('a database failure names the database by kind; its location goes to the log (and to the host\'s check)', async () => {
    const { dir, file, backend, client, logged } = await setup();
    await sql`drop table secret_versions`.execute(backend.database.kysely);
    const err = await client.get({ name: 'a', namespaces: [''] }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err?.message).toMatch(/^\[builtin\] the sqlite database: /);
    expect(err?.message).not.toContain(dir);
    expect(logged.join('\n')).toContain(file);

    const api = await client.check({ namespaces: [''], sample: 'a' });
    const read = api.steps.find((s) => s.step === 'read');
    expect(read?.ok).toBe(false);
    expect(JSON.stringify(api)).not.toContain(dir);
    const host = await client.check({ namespaces: [''], sample: 'a', host: true });
    expect(host.steps.find((s) => s.step === 'read')?.detail).toContain(`database sqlite:${file}`);
  });
});
