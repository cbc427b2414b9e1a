/**
 * `sesame run` masks the credential settings of every store of the config in the command's
 * output, whether this run uses the store or not: a step that dumps `env` prints the
 * `VAULT_TOKEN` a store reads with `${env:VAULT_TOKEN}`. The real bin (`npm run build`).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-run-store-cred-'));

const CONFIG = [
  'stores:',
  '  - name: vault',
  '    type: vault',
  '    address: http://127.0.0.1:9',
  '    auth: { method: token, token: "${env:VAULT_TOKEN}" }',
  '  - name: api',
  '    type: http',
  '    url: http://127.0.0.1:9/secrets/{name}',
  '    headers: { x-api-key: literal-header-key-7c1d }',
  '  - name: files',
  '    type: file',
  '    root: ./secrets',
  '  - name: dp',
  '    type: doppler',
  '    auth: { method: service-token, token: "{{ secret://files/dp-token }}" }',
  '',
].join('\n');

describe('sesame run masks the credentials of stores it does not use', () => {
  it('a token read from the environment and a literal header key, with only another store used', async () => {
    const cwd = dir();
    mkdirSync(path.join(cwd, 'secrets'));
    writeFileSync(path.join(cwd, 'secrets', 'value'), 'file-value-5521');
    writeFileSync(path.join(cwd, 'sesame.yaml'), CONFIG);
    const vaultToken = 'hvs.env-token-abcdef123';
    const r = await runCli(
      [
        'run',
        '--env',
        'X=secret://files/value',
        '--',
        'sh',
        '-c',
        'echo "X=$X"; env | grep VAULT_TOKEN; grep x-api-key sesame.yaml >&2',
      ],
      { cwd, env: { VAULT_TOKEN: vaultToken } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('X=***\nVAULT_TOKEN=***\n');
    expect(r.stderr).toBe('    headers: { x-api-key: *** }\n');
    // A credential that is a reference is not resolved for masking: nothing about it changes.
    expect(r.stdout + r.stderr).not.toContain(vaultToken);
  });

  it('with no reference to resolve at all', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'sesame.yaml'), CONFIG);
    const r = await runCli(['run', '--', 'sh', '-c', 'env | grep VAULT_TOKEN'], {
      cwd,
      env: { VAULT_TOKEN: 'hvs.env-token-abcdef123' },
    });
    expect(r).toMatchObject({ code: 0, stdout: 'VAULT_TOKEN=***\n' });
  });
});
