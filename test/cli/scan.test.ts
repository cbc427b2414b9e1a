/**
 * `sesame scan` and `--fix` through the real bin, on a sample YAML connection config, a `.env`
 * and a JSON file: every known format and high-entropy credential field is reported with file,
 * line and kind; no value appears on stdout or stderr of any run (the leak scan); `--fix --store
 * builtin` moves each value, rewrites the files with references that resolve to the original
 * values, and keeps `FILE.bak`. In process: the detector's rules one by one.
 *
 * Needs `npm run build` (the bin runs dist/).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { detectSecrets } from '../../src/scan/detect.js';
import { type CliResult, expectNoSecrets, sesame, show, type Workdir, workdir } from '../e2e/support.js';

const AWS_KEY = 'AKIAQ7SESAMESCAN0042';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSCANKEY042';
const GITHUB = `ghp_${'Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6'}`;
const SLACK = 'xoxb-204981273-5529481733-Qw3rTy7uIo1pAs5dFg9h';
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzZXNhbWUtc2NhbiIsImlhdCI6MTcwMDAwMDAwMH0.dGhpcy1pcy1hLXNpZ25hdHVyZS1mb3Itc2Nhbg';
const DB_PASSWORD = 'q8#Lz2!vR9wXm4Tp';
const PEM_BODY = ['MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7scanKEY1', 'Zp0xQ3sesameScanPrivateKeyBody2Yk9Lm4Nq7Rt1Uv5Wx8Za3Cd6Ef9G'];
const PEM = `-----BEGIN PRIVATE KEY-----\n${PEM_BODY.join('\n')}\n-----END PRIVATE KEY-----\n`;
const VALUES = [AWS_KEY, AWS_SECRET, GITHUB, SLACK, JWT, DB_PASSWORD, ...PEM_BODY];

const YAML_CONFIG = `# connections of the data team
connections:
  - name: jira
    type: http
    fields:
      baseUrl: https://jira.example.com
      token: ${GITHUB}
      header: "Bearer ${JWT}"
  - name: warehouse
    type: postgres
    fields:
      host: db.internal
      password: "${DB_PASSWORD}"
      passwordRef: "{{ vars.db_password }}"
      tls_key: |
${PEM.trimEnd()
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
      user: analytics
`;
const ENV = `# local settings
AWS_ACCESS_KEY_ID=${AWS_KEY}
AWS_SECRET_ACCESS_KEY=${AWS_SECRET}
LOG_LEVEL=debug
API_TOKEN=changeme
`;
const JSON_DOC = `{
  "slack": { "botToken": "${SLACK}", "channel": "#ops" },
  "signing": { "privateKey": ${JSON.stringify(PEM)} },
  "keyId": "kid-2024-01"
}
`;

describe('detectSecrets', () => {
  const kinds = (text: string) => detectSecrets(text).map((f) => `${f.line}:${f.kind}:${f.field ?? ''}`);
  it('finds every known format and the high-entropy credential field, on the right lines', () => {
    expect(kinds(YAML_CONFIG)).toEqual(['7:github-token:token', '8:jwt:header', '13:high-entropy-value:password', '16:private-key:tls_key']);
    expect(kinds(ENV)).toEqual(['2:aws-access-key-id:AWS_ACCESS_KEY_ID', '3:high-entropy-value:AWS_SECRET_ACCESS_KEY']);
    expect(kinds(JSON_DOC)).toEqual(['2:slack-token:botToken', '3:private-key:privateKey']);
  });
  it('leaves references, placeholders, low-entropy values and non-credential fields alone', () => {
    const quiet = [
      'password: "{{ secret://vault/db#password }}"',
      'token: ${env:TOKEN}',
      'secret: changeme',
      'password: aaaaaaaaaaaaaaaa',
      'keyId: kid-2024-01-Xq9z',
      'description: Zp0xQ3sesameScan2Yk9Lm4Nq7',
      'token: ref+vault://secret/x#/t',
    ];
    for (const line of quiet) expect(detectSecrets(line), line).toEqual([]);
  });
});

describe('sesame scan through the CLI', () => {
  let wd: Workdir;
  const outputs: CliResult[] = [];
  const run = async (args: string[]) => {
    const r = await sesame(wd, args, { timeoutMs: 60_000 });
    outputs.push(r);
    return r;
  };

  beforeAll(() => {
    wd = workdir('scan');
    wd.config({ stores: [] });
    wd.file('connections.yaml', YAML_CONFIG);
    wd.file('.env', ENV);
    wd.file('service.json', JSON_DOC);
    wd.file('clean.yaml', 'name: nothing here\npassword: "{{ secret://builtin/x }}"\n');
  });
  afterAll(() => wd?.remove());

  it('reports file, line and kind of each finding and exits 1', async () => {
    const r = await run(['scan', 'connections.yaml', '.env', 'service.json', 'clean.yaml']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      'connections.yaml:7:14  github-token (field token)',
      'connections.yaml:8:23  jwt (field header)',
      'connections.yaml:13:18  high-entropy-value (field password)',
      'connections.yaml:16:9  private-key (field tls_key)',
      '.env:2:19  aws-access-key-id (field AWS_ACCESS_KEY_ID)',
      '.env:3:23  high-entropy-value (field AWS_SECRET_ACCESS_KEY)',
      'service.json:2:27  slack-token (field botToken)',
      'service.json:3:31  private-key (field privateKey)',
    ]);
    expect(r.stderr).toContain('8 literal credentials in 3 files: move them with --fix --store <store>');
  });

  it('a directory is scanned recursively; --json has the same findings; nothing found exits 0', async () => {
    const all = await run(['scan', '.', '--json']);
    expect(all.code, show(all)).toBe(1);
    const report = JSON.parse(all.stdout) as { findings: Array<{ file: string; kind: string }> };
    expect(report.findings).toHaveLength(8);
    const clean = await run(['scan', 'clean.yaml']);
    expect(clean.code, show(clean)).toBe(0);
    expect(clean.stderr).toContain('no literal credentials found in 1 file');
  });

  it('usage errors exit 2', async () => {
    expect((await run(['scan', 'missing.yaml'])).code).toBe(2);
    const noStore = await run(['scan', '.env', '--fix']);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toContain('--fix needs --store <name>');
  });

  it('--fix --store builtin moves every value, rewrites the files with references that resolve to them, keeps FILE.bak', async () => {
    const r = await run(['scan', 'connections.yaml', '.env', 'service.json', '--fix', '--store', 'builtin']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('connections.yaml:7:14  github-token (field token) → secret://builtin/connections.yaml/token\n');
    expect(r.stdout).toContain('rewrote connections.yaml; the original is in connections.yaml.bak\n');
    expect(r.stderr).toContain('moved 8 of 8 findings into store builtin');

    // Backups hold the originals; the files hold none of the values.
    expect(readFileSync(path.join(wd.dir, 'connections.yaml.bak'), 'utf8')).toBe(YAML_CONFIG);
    expect(readFileSync(path.join(wd.dir, '.env.bak'), 'utf8')).toBe(ENV);
    expect(readFileSync(path.join(wd.dir, 'service.json.bak'), 'utf8')).toBe(JSON_DOC);
    for (const file of ['connections.yaml', '.env', 'service.json']) {
      const text = readFileSync(path.join(wd.dir, file), 'utf8');
      for (const v of VALUES) expect(text.includes(v), `${file} still holds a value`).toBe(false);
    }

    // The rewritten documents still parse, and resolve to the original values.
    const yaml = readFileSync(path.join(wd.dir, 'connections.yaml'), 'utf8');
    const fields = (parse(yaml) as { connections: Array<{ fields: Record<string, string> }> }).connections.map((c) => c.fields);
    expect(fields[0]).toMatchObject({ token: 'secret://builtin/connections.yaml/token', header: 'Bearer {{ secret://builtin/connections.yaml/header }}' });
    expect(fields[1]).toMatchObject({ password: 'secret://builtin/connections.yaml/password', tls_key: 'secret://builtin/connections.yaml/tls_key', user: 'analytics' });
    // resolve prints values on purpose: not part of the leak scan.
    const resolved = await sesame(wd, ['resolve', '--file', 'connections.yaml'], { timeoutMs: 60_000 });
    expect(resolved.code, show(resolved)).toBe(0);
    const values = (JSON.parse(resolved.stdout) as { connections: Array<{ fields: Record<string, string> }> }).connections.map((c) => c.fields);
    expect(values[0]).toMatchObject({ token: GITHUB, header: `Bearer ${JWT}` });
    expect(values[1]).toMatchObject({ password: DB_PASSWORD, tls_key: PEM });
    const json = await sesame(wd, ['resolve', '--file', 'service.json'], { timeoutMs: 60_000 });
    expect(JSON.parse(json.stdout)).toMatchObject({ slack: { botToken: SLACK }, signing: { privateKey: PEM }, keyId: 'kid-2024-01' });
    expect(readFileSync(path.join(wd.dir, '.env'), 'utf8')).toBe(
      '# local settings\nAWS_ACCESS_KEY_ID=secret://builtin/env/AWS_ACCESS_KEY_ID\nAWS_SECRET_ACCESS_KEY=secret://builtin/env/AWS_SECRET_ACCESS_KEY\nLOG_LEVEL=debug\nAPI_TOKEN=changeme\n',
    );

    // Scanning the rewritten files again finds nothing.
    expect((await run(['scan', 'connections.yaml', '.env', 'service.json'])).code).toBe(0);
    expect(existsSync(path.join(wd.dir, 'connections.yaml.bak'))).toBe(true);
  }, 240_000);

  it('a name already holding another value is not overwritten: the next free name is used', async () => {
    wd.file('other.env', `TOKEN=${GITHUB.replace('Ab3', 'Zz9')}\n`);
    mkdirSync(path.join(wd.dir, 'again'));
    wd.file('again/other.env', `TOKEN=${GITHUB.replace('Ab3', 'Yy8')}\n`);
    const first = await run(['scan', 'other.env', '--fix', '--store', 'builtin']);
    expect(first.stdout).toContain('→ secret://builtin/other.env/TOKEN\n');
    const second = await run(['scan', 'again/other.env', '--fix', '--store', 'builtin']);
    expect(second.stdout).toContain('→ secret://builtin/other.env/TOKEN-2\n');
  }, 120_000);

  it('leak scan: no value on stdout or stderr of any run above', () => {
    expect(outputs.length).toBeGreaterThan(8);
    for (const r of outputs) expectNoSecrets(r, VALUES);
  });
});
