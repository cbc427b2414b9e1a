/**
 * A file store whose root holds Sesame's own files served them: with `root: .` beside the config,
 * `secret://files/.sesame/master.key` printed the master key, and the database, the audit
 * checkpoint and the config file itself were as readable (to a runtime token through the API).
 * No file store serves Sesame's own files now, whatever the path or link that reaches them.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { AccessDeniedError } from '../../src/errors.js';
import { Redactor } from '../../src/redact/redactor.js';
import { createSesame } from '../../src/sesame.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';

describe("the file store and Sesame's own files", () => {
  it('refuses the master key, the database, the audit checkpoint, the config and ${file:} inputs, by any path; serves the rest', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-own-files-'));
    mkdirSync(path.join(dir, 'creds'));
    writeFileSync(path.join(dir, 'creds', 'vault-token'), 'hvs.never-served\n');
    writeFileSync(path.join(dir, 'app-password'), 'served-value');
    writeFileSync(path.join(dir, 'creds', 'sa.json'), '{"type":"service_account","private_key":"never-served"}');
    writeFileSync(
      path.join(dir, 'sesame.yaml'),
      [
        'stores:',
        '  - name: files',
        '    type: file',
        '    root: .',
        '  - name: vault',
        '    type: vault',
        '    address: http://127.0.0.1:8200',
        '    auth: { method: token, token: "${file:./creds/vault-token}" }',
        '  - name: gcp',
        '    type: gcp-secret-manager',
        '    project: demo-project',
        '    auth: { method: service-account-json, file: ./creds/sa.json }',
        '',
      ].join('\n'),
    );
    symlinkSync(path.join(dir, '.sesame', 'master.key'), path.join(dir, 'innocent-link'));
    const registry = defaultStoreTypes();
    const config = loadConfig({ file: path.join(dir, 'sesame.yaml'), registry });
    const sesame = createSesame(config, { registry, redactor: new Redactor() });
    try {
      // A write creates the key and the database.
      const builtin = await sesame.store('builtin').client();
      await builtin.write!('db/pw', 'builtin-value', { namespace: '' });
      // The checkpoint is written by audited writes (the CLI's, the server's); its place is known.
      writeFileSync(path.join(dir, '.sesame', 'audit.head'), 'sesame-audit-head/1 …');
      const refused: Array<[string, string]> = [
        ['.sesame/master.key', 'the master key file'],
        ['innocent-link', 'the master key file'],
        ['.sesame/sesame.db', 'the database'],
        ['.sesame/audit.head', 'the audit checkpoint'],
        ['sesame.yaml', 'the config file'],
        ['creds/vault-token', 'the config file reads it with ${file:}'],
        // A store's key file, though that store was never used.
        ['creds/sa.json', 'the auth.file setting of store gcp'],
      ];
      for (const [name, what] of refused) {
        const err = await sesame.resolve(`secret://files/${name}`).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, name).toBeInstanceOf(AccessDeniedError);
        expect((err as Error).message).toBe(
          `secret://files/${name}: [files] ${name} is Sesame's own file (${what}): the file store does not serve it`,
        );
        expect((err as AccessDeniedError).fix).toBe('keep secrets for workflows in other files, outside .sesame and the config');
      }
      expect(await sesame.resolve('secret://files/app-password')).toBe('served-value');
      const files = await sesame.store('files').client();
      const names = (await files.list({ namespaces: [''] })).items.map((i) => i.name);
      expect(names).toContain('app-password');
      for (const [name] of refused) expect(names).not.toContain(name);
    } finally {
      await sesame.close();
    }
  });
});
