/**
 * `sesame refs convert` through the real bin: every dialect in a YAML flow, a JSON document and a
 * `.env` file becomes a `secret://` reference (whole values bare, embedded ones in braces), the
 * rest of the text (comments, quoting, other templates) unchanged; `--write` keeps `FILE.bak`;
 * the converted document resolves to the same values as the original; nothing is resolved while
 * converting; malformed references and missing dialects are usage errors naming the line.
 *
 * Needs `npm run build` (the bin runs dist/).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { expectFailure, sesame, show, type Workdir, workdir } from '../e2e/support.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:137149879143:secret:prod-jira-credentials-FsmeTs';
const FLOW = `# a flow as another product wrote it
id: nightly
tasks:
  - id: jira
    token: "{{workato:sm:prod.jira.secret.key:${ARN}}}"
    github: "{{ secret('GITHUB_TOKEN', subkey='token') }}"
    region: "{{ vars.region }}"
  - id: db
    url: postgres://app:ref+vault://secret/data/db#/password+@db:5432/app
    password: ref+vault://secret/data/db#/password
    n8n: "={{ $secrets.vault.ci_token }}"
    op: op://Prod/jira/password
`;
const EXPECTED = `# a flow as another product wrote it
id: nightly
tasks:
  - id: jira
    token: "{{ secret://aws/${ARN}#prod.jira.secret.key }}"
    github: "{{ secret://builtin/GITHUB_TOKEN#token }}"
    region: "{{ vars.region }}"
  - id: db
    url: postgres://app:{{ secret://vault/db#/password }}@db:5432/app
    password: secret://vault/db#/password
    n8n: "={{ secret://vault/ci_token }}"
    op: secret://op/Prod/jira#password
`;

describe('sesame refs convert', () => {
  let wd: Workdir;
  const store = (name: string, type: string, extra: Record<string, unknown>) => ({ name, type, ...extra });
  const config = (dialects?: Record<string, unknown>) =>
    wd.config({
      stores: [
        store('aws', 'aws-secrets-manager', { region: 'us-east-1', endpoint: 'http://127.0.0.1:9', auth: { method: 'static', accessKeyId: 'AKIAXXXXXXXXXXXXXXXX', secretAccessKey: 'unused-secret-key' } }),
        store('vault', 'vault', { address: 'http://127.0.0.1:9', auth: { method: 'token', token: 'unused' } }),
        store('op', 'builtin', {}),
      ],
      ...(dialects ? { dialects } : {}),
    });

  beforeAll(() => {
    wd = workdir('refs-convert');
    config({ workato: {}, kestra: {}, n8n: {}, vals: {}, op: { store: 'op' } });
    wd.file('flow.yaml', FLOW);
  });
  afterAll(() => wd?.remove());

  it('prints the converted document on stdout, a summary on stderr, and reads no store (all unreachable)', async () => {
    const r = await sesame(wd, ['refs', 'convert', 'flow.yaml']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe(EXPECTED);
    expect(r.stderr).toBe('sesame: converted 6 references (workato 1, kestra 1, vals 2, n8n 1, op 1)\n');
    expect(parse(r.stdout)).toBeTruthy();
    expect(readFileSync(path.join(wd.dir, 'flow.yaml'), 'utf8')).toBe(FLOW);
  });

  it('--json lists each conversion with its line', async () => {
    const r = await sesame(wd, ['refs', 'convert', 'flow.yaml', '--json']);
    const out = JSON.parse(r.stdout) as { conversions: Array<{ line: number; dialect: string; reference: string }> };
    expect(out.conversions.map((c) => `${c.line} ${c.dialect}`)).toEqual(['5 workato', '6 kestra', '9 vals', '10 vals', '11 n8n', '12 op']);
  });

  it('--write rewrites the file and keeps the original as FILE.bak', async () => {
    wd.file('flow2.yaml', FLOW);
    const r = await sesame(wd, ['refs', 'convert', 'flow2.yaml', '--write']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('line 5: workato → secret://aws/');
    expect(r.stdout).toContain('wrote flow2.yaml, the original is in flow2.yaml.bak');
    expect(readFileSync(path.join(wd.dir, 'flow2.yaml'), 'utf8')).toBe(EXPECTED);
    expect(readFileSync(path.join(wd.dir, 'flow2.yaml.bak'), 'utf8')).toBe(FLOW);
  });

  it('JSON and .env: whole values become bare references, quoting kept unless the value now needs it', async () => {
    wd.file('conn.json', '{\n  "password": "ref+awssecrets://prod/db#/password",\n  "key": "{{ secret(\'API\') }}"\n}\n');
    const json = await sesame(wd, ['refs', 'convert', 'conn.json']);
    expect(JSON.parse(json.stdout)).toEqual({ password: 'secret://aws/prod/db#/password', key: '{{ secret://builtin/API }}' });
    wd.file('app.env', 'DB_PASSWORD=op://Prod/db/password\nAPI="ref+vault://secret/api#/key"\nPLAIN=value\n');
    const env = await sesame(wd, ['refs', 'convert', 'app.env']);
    // Unquoted, the # would start a comment for sesame run --env-file (Node's parseEnv): quoted.
    expect(env.stdout).toBe('DB_PASSWORD=\'secret://op/Prod/db#password\'\nAPI="secret://vault/api#/key"\nPLAIN=value\n');
    expect({ ...parseEnv(env.stdout) }).toEqual({ DB_PASSWORD: 'secret://op/Prod/db#password', API: 'secret://vault/api#/key', PLAIN: 'value' });
  });

  it('the converted document resolves to the same values as the original', async () => {
    wd.file('env-doc.yaml', `a: "{{ secret('SESAME_CONVERT_A') }}"\nb: x-ref+vault://secret/nothing+\n`);
    config({ kestra: { store: 'env' } });
    try {
      const original = await sesame(wd, ['resolve', '--file', 'env-doc.yaml'], { env: { SESAME_CONVERT_A: 'value-a-5e0f' } });
      const converted = await sesame(wd, ['refs', 'convert', 'env-doc.yaml', '--write']);
      expect(converted.code, show(converted)).toBe(0);
      const after = await sesame(wd, ['resolve', '--file', 'env-doc.yaml'], { env: { SESAME_CONVERT_A: 'value-a-5e0f' } });
      expect(original.code, show(original)).toBe(0);
      expect(after.stdout).toBe(original.stdout);
      expect(JSON.parse(after.stdout)).toEqual({ a: 'value-a-5e0f', b: 'x-ref+vault://secret/nothing+' });
    } finally {
      config({ workato: {}, kestra: {}, n8n: {}, vals: {}, op: { store: 'op' } });
    }
  });

  it('a reference in a double-quoted YAML string with escaped quotes is converted, and both files resolve alike', async () => {
    // resolve --file read `{{ secret("SESAME_CONVERT_B") }}` here; convert, reading raw text, did not.
    const original = [
      '# escaped quotes, a single-quoted doubling, a literal block',
      'password: "{{ secret(\\"SESAME_CONVERT_B\\") }}"   # keep me',
      "other: '{{ secret(''SESAME_CONVERT_B'') }}'",
      'script: |',
      "  echo {{ secret('SESAME_CONVERT_B') }}",
      '',
    ].join('\r\n');
    wd.file('escaped.yaml', original);
    config({ kestra: { store: 'env' } });
    try {
      const env = { SESAME_CONVERT_B: 'value-b-71c3' };
      const before = await sesame(wd, ['resolve', '--file', 'escaped.yaml'], { env });
      expect(before.code, show(before)).toBe(0);
      const converted = await sesame(wd, ['refs', 'convert', 'escaped.yaml', '--write']);
      expect(converted.code, show(converted)).toBe(0);
      expect(converted.stdout).toContain('line 2: kestra → secret://env/SESAME_CONVERT_B');
      expect(converted.stdout).toContain('converted 3 references (kestra 3)');
      expect(readFileSync(path.join(wd.dir, 'escaped.yaml'), 'utf8')).toBe(
        original
          .replace('"{{ secret(\\"SESAME_CONVERT_B\\") }}"', '"{{ secret://env/SESAME_CONVERT_B }}"')
          .replace("'{{ secret(''SESAME_CONVERT_B'') }}'", "'{{ secret://env/SESAME_CONVERT_B }}'")
          .replace("echo {{ secret('SESAME_CONVERT_B') }}", 'echo {{ secret://env/SESAME_CONVERT_B }}'),
      );
      const after = await sesame(wd, ['resolve', '--file', 'escaped.yaml'], { env });
      expect(after.stdout).toBe(before.stdout);
      expect(JSON.parse(after.stdout)).toEqual({ password: 'value-b-71c3', other: 'value-b-71c3', script: 'echo value-b-71c3\n' });
      expect(converted.stdout + converted.stderr).not.toContain('value-b-71c3');
    } finally {
      config({ workato: {}, kestra: {}, n8n: {}, vals: {}, op: { store: 'op' } });
    }
  });

  it('.env: a vals reference right after a backslash is refused by line (it would turn into an escaped, literal {{)', async () => {
    wd.file('slash.env', 'A=1\nB=x\\ref+vault://secret/data/b\n');
    const e = expectFailure(await sesame(wd, ['refs', 'convert', 'slash.env', '--write']), 2, []);
    expect(e).toContain('slash.env:2: the vals reference after a backslash cannot become {{ secret://vault/b }}');
    expect(readFileSync(path.join(wd.dir, 'slash.env'), 'utf8')).toBe('A=1\nB=x\\ref+vault://secret/data/b\n');
  });

  it('--as reads a file of another name as YAML (as resolve --file would); by default it is text', async () => {
    const yamlText = "a: x\n  ref+vault://secret/data/a#/k\n# ref+vault://secret/data/old\n";
    wd.file('conn.conf', yamlText);
    const asYaml = await sesame(wd, ['refs', 'convert', 'conn.conf', '--as', 'yaml']);
    expect(asYaml.code, show(asYaml)).toBe(0);
    expect(asYaml.stdout).toBe('a: x {{ secret://vault/a#/k }}\n# ref+vault://secret/data/old\n');
    const asText = await sesame(wd, ['refs', 'convert', 'conn.conf']);
    // Text mode reads lines, not values: the comment is converted and the folded reference cut loose.
    expect(asText.stdout).toBe('a: x\n  secret://vault/a#/k\n# {{ secret://vault/old }}\n');
    const bad = await sesame(wd, ['refs', 'convert', 'conn.conf', '--as', 'toml']);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('yaml, json, env, text');
  });

  it('invalid YAML is a usage error naming the line; nothing is written', async () => {
    wd.file('broken.yaml', "ok: \"{{ secret('X') }}\"\nlist: [a, b\n");
    const e = expectFailure(await sesame(wd, ['refs', 'convert', 'broken.yaml', '--write']), 2, []);
    expect(e).toMatch(/broken\.yaml:\d+: not valid YAML: .*fix it, then convert again/);
    expect(readFileSync(path.join(wd.dir, 'broken.yaml'), 'utf8')).toBe("ok: \"{{ secret('X') }}\"\nlist: [a, b\n");
  });

  it('--dialect reads a dialect the config does not declare', async () => {
    config();
    try {
      wd.file('k.yaml', "t: \"{{ secret('X') }}\"\n");
      const none = expectFailure(await sesame(wd, ['refs', 'convert', 'k.yaml']), 2, []);
      expect(none).toContain('no dialect to convert from');
      const r = await sesame(wd, ['refs', 'convert', 'k.yaml', '--dialect', 'kestra']);
      expect(r.stdout).toBe('t: "{{ secret://builtin/X }}"\n');
      expect(expectFailure(await sesame(wd, ['refs', 'convert', 'k.yaml', '--dialect', 'zapier']), 2, [])).toContain('--dialect zapier is not a dialect');
    } finally {
      config({ workato: {}, kestra: {}, n8n: {}, vals: {}, op: { store: 'op' } });
    }
  });

  it('a malformed reference is a usage error naming the file and line; the file is left as it was', async () => {
    wd.file('bad.yaml', "ok: x\nt: \"{{ secret('X', namespace='y') }}\"\n");
    const e = expectFailure(await sesame(wd, ['refs', 'convert', 'bad.yaml', '--write']), 2, []);
    expect(e).toContain('bad.yaml:2: malformed kestra reference: expected no namespace= argument');
    expect(readFileSync(path.join(wd.dir, 'bad.yaml'), 'utf8')).toBe("ok: x\nt: \"{{ secret('X', namespace='y') }}\"\n");
  });
});
