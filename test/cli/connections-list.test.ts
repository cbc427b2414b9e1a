/** `sesame connections list`: the references in the table; in --json only secret fields masked. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maskConnectionFields } from '../../src/connections/mask.js';
import { runCli } from '../support/cli.js';

const CONFIG = [
  'connections:',
  '  - name: jira',
  '    type: http',
  '    fields:',
  '      baseUrl: https://jira.example.com',
  '      auth: { method: bearer, token: "{{ secret://env/JIRA_TOKEN }}" }',
  '      test: { path: /rest/api/2/myself, expectStatus: 200 }',
  '  - name: legacy',
  '    type: http',
  '    fields:',
  '      baseUrl: https://legacy.example.com',
  '      auth: { method: basic, username: svc, password: literal-pw-9x7 }',
  '      headers: { X-Trace: on, Authorization: Bearer literal-tok-5k2 }',
  '  - name: warehouse',
  '    type: postgres',
  '    fields:',
  '      host: db.internal',
  '      port: 5432',
  '      user: etl',
  '      password: "{{ secret://env/WH_PASSWORD }}"',
  '      database: analytics',
  '  - name: misc',
  '    fields:',
  '      region: eu-west-1',
  '      apiKey: literal-key-3m4',
  '      nested: { clientSecret: literal-cs-8q1, label: shown }',
  '',
].join('\n');

function project(): string {
  const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-conn-list-'));
  writeFileSync(path.join(cwd, 'sesame.yaml'), CONFIG);
  return cwd;
}

const LITERAL_SECRETS = ['literal-pw-9x7', 'literal-tok-5k2', 'literal-key-3m4', 'literal-cs-8q1'];

describe('sesame connections list', () => {
  it('shows the references in the table, not a count', async () => {
    const r = await runCli(['connections', 'list'], { cwd: project() });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+NAMESPACE\s+TYPE\s+REFERENCES$/);
    expect(lines.find((l) => l.startsWith('jira'))).toMatch(/jira\s+\(root\)\s+http\s+secret:\/\/env\/JIRA_TOKEN$/);
    expect(lines.find((l) => l.startsWith('warehouse'))).toMatch(/postgres\s+secret:\/\/env\/WH_PASSWORD$/);
    expect(lines.find((l) => l.startsWith('legacy'))).toMatch(/http\s+-$/);
    for (const s of LITERAL_SECRETS) expect(r.stdout).not.toContain(s);
  });

  it('--json masks only secret fields: baseUrl, auth.method, test.path and expectStatus stay visible', async () => {
    const r = await runCli(['connections', 'list', '--json'], { cwd: project() });
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ name: string; fields: Record<string, unknown>; references: string[] }>;
    const by = Object.fromEntries(rows.map((c) => [c.name, c]));
    expect(by['jira']?.fields).toEqual({
      baseUrl: 'https://jira.example.com',
      auth: { method: 'bearer', token: '{{ secret://env/JIRA_TOKEN }}' },
      test: { path: '/rest/api/2/myself', expectStatus: 200 },
    });
    // Literal credentials: masked because the type marks them secret (every header value of an
    // http connection: an API key goes in a header of any name), or their name says so.
    expect(by['legacy']?.fields).toEqual({
      baseUrl: 'https://legacy.example.com',
      auth: { method: 'basic', username: 'svc', password: '***' },
      headers: { 'X-Trace': '***', Authorization: '***' },
    });
    expect(by['warehouse']?.fields).toEqual({
      host: 'db.internal',
      port: 5432,
      user: 'etl',
      password: '{{ secret://env/WH_PASSWORD }}',
      database: 'analytics',
    });
    expect(by['misc']?.fields).toEqual({ region: 'eu-west-1', apiKey: '***', nested: { clientSecret: '***', label: 'shown' } });
    for (const s of LITERAL_SECRETS) expect(r.stdout).not.toContain(s);
  });
});

describe('sesame connections list with a connection that cannot be used', () => {
  it('says so in the table and in --json, and the others are listed as usual', async () => {
    const cwd = project();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      `${CONFIG}  - name: broken\n    type: http\n    fields:\n      baseUrl: \${env:SESAME_T_UNSET_URL}\n`,
    );
    const table = await runCli(['connections', 'list'], { cwd });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/broken\s+\(root\)\s+http\s+unusable \(sesame connections resolve broken says why\)/);
    expect(table.stdout).toMatch(/jira\s+\(root\)\s+http\s+secret:\/\/env\/JIRA_TOKEN/);
    const json = await runCli(['connections', 'list', '--json'], { cwd });
    const broken = (JSON.parse(json.stdout) as Array<{ name: string; unusable?: string }>).find((c) => c.name === 'broken');
    expect(broken?.unusable).toContain('environment variable SESAME_T_UNSET_URL is not set');
    const resolve = await runCli(['connections', 'resolve', 'broken'], { cwd });
    expect(resolve.code).toBe(2);
    expect(resolve.stderr).toContain('connections[4].fields.baseUrl: environment variable SESAME_T_UNSET_URL is not set');
  });
});

describe('maskConnectionFields', () => {
  it('masks a whole object the type marks secret, numbers included', () => {
    expect(maskConnectionFields({ creds: { a: 'x', n: 42 }, port: 1 }, ['creds'])).toEqual({ creds: { a: '***', n: '***' }, port: 1 });
  });

  it('treats a malformed reference in a secret field as a literal (masked)', () => {
    expect(maskConnectionFields({ password: '{{ secret://' }, [])).toEqual({ password: '***' });
  });
});
