import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-cli-'));

describe('sesame resolve', () => {
  it('prints a JSON Pointer target from an env secret', async () => {
    const r = await runCli(['resolve', 'secret://env/FOO#/a/b'], {
      env: { FOO: '{"a":{"b":"x"}}' },
      cwd: dir(),
    });
    expect(r).toMatchObject({ code: 0, stdout: 'x\n', stderr: '' });
  });

  it('fills a template', async () => {
    const r = await runCli(['resolve', 'x{{ secret://env/BAR }}y'], { env: { BAR: 's3cr3t' }, cwd: dir() });
    expect(r).toMatchObject({ code: 0, stdout: 'xs3cr3ty\n' });
  });

  it('takes a dotted key literally', async () => {
    const r = await runCli(['resolve', 'secret://env/K#prod.jira.secret.key'], {
      env: { K: '{"prod.jira.secret.key":"tok"}' },
      cwd: dir(),
    });
    expect(r).toMatchObject({ code: 0, stdout: 'tok\n' });
  });

  it('exits 2 with the offset for a malformed reference', async () => {
    const rule =
      'expected a store name of lowercase letters, digits, "_" and "-", starting with a letter or digit';
    for (const ref of ['secret://', 'secret://Bad/x']) {
      const r = await runCli(['resolve', ref], { cwd: dir() });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`sesame: malformed reference at offset 9: ${rule}\n`);
    }
  });

  it('exits 1 naming the reference when the variable is missing', async () => {
    const r = await runCli(['resolve', 'secret://env/SESAME_NOT_SET_X'], { cwd: dir() });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'sesame: secret://env/SESAME_NOT_SET_X: [env] environment variable SESAME_NOT_SET_X is not set; ' +
        'set SESAME_NOT_SET_X in the environment of the process that runs sesame, or check the name\n',
    );
  });

  it('resolves every reference in a YAML document with --file and prints JSON', async () => {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, 'conn.yaml'),
      'host: db\nport: 5432\npassword: "{{ secret://env/PW }}"\nlist: [secret://env/PW]\n',
    );
    const r = await runCli(['resolve', '--file', 'conn.yaml'], { env: { PW: 'pw-123' }, cwd });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ host: 'db', port: 5432, password: 'pw-123', list: ['pw-123'] });
  });

  it('prints where values came from with --json', async () => {
    const r = await runCli(['resolve', 'secret://env/PW', '--json'], { env: { PW: 'pw-123' }, cwd: dir() });
    expect(JSON.parse(r.stdout)).toMatchObject({
      value: 'pw-123',
      stale: false,
      references: [{ store: 'env', outcome: 'miss' }],
    });
  });

  it('exits 2 on bad usage', async () => {
    const r = await runCli(['resolve'], { cwd: dir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give a reference or template');
    const nothing = await runCli(['resolve', 'plain text'], { cwd: dir() });
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to resolve');
  });
});

describe('sesame with a config file', () => {
  function project() {
    const cwd = dir();
    mkdirSync(path.join(cwd, 'secrets', 'db'), { recursive: true });
    writeFileSync(path.join(cwd, 'secrets', 'db', 'password'), 'file-pw-42');
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      [
        'namespaces:',
        '  acme.secure: { isolated: true }',
        'stores:',
        '  - name: files',
        '    namespace: acme',
        '    type: file',
        '    root: ./secrets',
        'connections:',
        '  - name: jira',
        '    namespace: acme',
        '    type: generic',
        '    fields:',
        '      baseUrl: https://jira.example.com',
        '      apiToken: "{{ secret://env/JIRA_TOKEN }}"',
        '      dbPassword: secret://files/db/password',
      ].join('\n'),
    );
    return cwd;
  }

  it('resolves through a namespace and refuses from an isolated one', async () => {
    const cwd = project();
    const ok = await runCli(['resolve', 'secret://files/db/password', '--namespace', 'acme.devops'], { cwd });
    expect(ok).toMatchObject({ code: 0, stdout: 'file-pw-42\n' });
    const isolated = await runCli(['resolve', 'secret://files/db/password', '-n', 'acme.secure'], { cwd });
    expect(isolated.code).toBe(2);
    expect(isolated.stderr).toContain('no store "files" in namespace acme.secure');
  });

  it('lists connections with values masked and references shown', async () => {
    const cwd = project();
    const r = await runCli(['connections', 'list', '--namespace', 'acme', '--json'], {
      cwd,
      env: { JIRA_TOKEN: 'tok-abc' },
    });
    expect(r.code).toBe(0);
    const [jira] = JSON.parse(r.stdout);
    expect(jira.fields).toEqual({
      baseUrl: 'https://jira.example.com',
      apiToken: '{{ secret://env/JIRA_TOKEN }}',
      dbPassword: 'secret://files/db/password',
    });
    expect(r.stdout).not.toContain('tok-abc');
  });

  it('resolves a connection', async () => {
    const cwd = project();
    const r = await runCli(['connections', 'resolve', 'jira', '-n', 'acme'], {
      cwd,
      env: { JIRA_TOKEN: 'tok-abc' },
    });
    expect(JSON.parse(r.stdout)).toEqual({
      baseUrl: 'https://jira.example.com',
      apiToken: 'tok-abc',
      dbPassword: 'file-pw-42',
    });
  });

  it('lists stores and tests one, printing what to fix', async () => {
    const cwd = project();
    const list = await runCli(['stores', 'list'], { cwd });
    expect(list.stdout).toMatch(/files\s+acme\s+file/);
    expect(list.stdout).toMatch(/env\s+\(root\)\s+env \(implicit\)/);
    const ok = await runCli(['stores', 'test', 'files', '-n', 'acme', '--sample', 'db/password'], { cwd });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('store files is ready');
    expect(ok.stdout).not.toContain('file-pw-42');
    const bad = await runCli(['stores', 'test', 'files', '-n', 'acme', '--sample', 'db/nope'], { cwd });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('fix: create');
  });

  it('exits 2 with the config path on an unknown key', async () => {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      'stores:\n  - name: f\n    type: file\n    root: /x\n    rooot: /y\n',
    );
    const r = await runCli(['stores', 'list'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('stores[0]: unknown key "rooot"');
  });

  it('refreshes in process and insists on a target', async () => {
    const cwd = project();
    const ok = await runCli(['cache', 'refresh', '--all'], { cwd });
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain('dropped 0 cached values');
    const bad = await runCli(['cache', 'refresh'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('say what to refresh');
  });

  it('refuses --all with --namespace, as the server refuses {all, namespace}: locally and with --server', async () => {
    const cwd = project();
    for (const args of [
      ['cache', 'refresh', '--all', '--namespace', 'acme'],
      ['cache', 'refresh', '--all', '-n', 'acme', '--server', 'http://127.0.0.1:9'],
    ]) {
      const r = await runCli(args, { cwd, env: { SESAME_TOKEN: 'unused-token' } });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'sesame: --all refreshes every namespace: use --namespace NS alone to refresh one namespace, or --all alone\n',
      );
    }
  });
});

describe('the embedded default', () => {
  it('stores a secret encrypted under ./.sesame and resolves it from a child namespace, not from an isolated one', async () => {
    const cwd = dir();
    const set = await runCli(['secrets', 'set', 'db/password', '--namespace', 'acme'], {
      cwd,
      input: 's3cr3t',
    });
    expect(set.code).toBe(0);
    expect(set.stderr).toMatch(/^sesame: created master key [0-9a-f]{16} in .*\.sesame\/master\.key/);
    const child = await runCli(['resolve', 'secret://builtin/db/password', '--namespace', 'acme.devops'], {
      cwd,
    });
    expect(child).toMatchObject({ code: 0, stdout: 's3cr3t\n', stderr: '' });
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'namespaces:\n  acme.devops: { isolated: true }\n');
    const isolated = await runCli(['resolve', 'secret://builtin/db/password', '--namespace', 'acme.devops'], {
      cwd,
    });
    expect(isolated.code).toBe(1);
    expect(isolated.stderr).toContain('no secret "db/password" in namespace acme.devops');
    expect(isolated.stderr).not.toContain('s3cr3t');
  });
});

describe('sesame run', () => {
  it('masks secret values in the child output', async () => {
    const r = await runCli(
      ['run', '--env', 'T=secret://env/BAR', '--', 'sh', '-c', 'echo "v=$T"; echo "err=$T" >&2'],
      {
        env: { BAR: 's3cr3t' },
        cwd: dir(),
      },
    );
    expect(r).toMatchObject({ code: 0, stdout: 'v=***\n', stderr: 'err=***\n' });
  });

  it('masks the base64 form too', async () => {
    const r = await runCli(
      ['run', '--env', 'T=secret://env/BAR', '--', 'sh', '-c', 'printf %s "$T" | base64'],
      {
        env: { BAR: 'a-longer-secret' },
        cwd: dir(),
      },
    );
    expect(r.stdout).toBe('***\n');
  });

  it('puts connection fields in the environment as UPPER_SNAKE_CASE', async () => {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      'connections:\n  - name: api\n    fields:\n      baseUrl: https://api.example.com\n      apiToken: secret://env/TOK\n',
    );
    const r = await runCli(['run', '--connection', 'api', '--', 'sh', '-c', 'echo "$BASE_URL $API_TOKEN"'], {
      cwd,
      env: { TOK: 'token-9876' },
    });
    expect(r).toMatchObject({ code: 0, stdout: 'https://api.example.com ***\n' });
  });

  it('passes the exit code and the signal through', async () => {
    const code = await runCli(['run', '--', 'sh', '-c', 'exit 7'], { cwd: dir() });
    expect(code.code).toBe(7);
    const signal = await runCli(['run', '--', 'sh', '-c', 'kill -TERM $$'], { cwd: dir() });
    expect(signal.signal).toBe('SIGTERM');
  });

  it('fails before starting the command when a reference does not resolve', async () => {
    const r = await runCli(
      ['run', '--env', 'T=secret://env/MISSING_VAR_Q', '--', 'sh', '-c', 'echo started'],
      { cwd: dir() },
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('secret://env/MISSING_VAR_Q (field env.T)');
  });
});

describe('sesame --help', () => {
  it.each([['resolve'], ['run'], ['connections', 'list'], ['stores', 'test'], ['cache', 'refresh']])(
    '%s shows an example',
    async (...cmd) => {
      const r = await runCli([...cmd, '--help'], { cwd: dir() });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples?:\n\s+\$ sesame /);
    },
  );
});
