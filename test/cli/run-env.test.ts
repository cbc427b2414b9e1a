/**
 * `sesame run` as a user meets it: `--env-file` with references, `--connection` that fills the
 * environment without overwriting it, shell exit codes for a command it cannot start, and usage
 * errors exiting 2. The real bin (`npx tsc -p tsconfig.build.json` first).
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-run-env-'));

/** Prints each named variable as NAME=value (or NAME unset), one per line. */
const printEnv = (...names: string[]) => ['--', 'sh', '-c', names.map((n) => `echo ${n}=\${${n}-unset}`).join('; ')];

const WAREHOUSE = [
  'connections:',
  '  - name: warehouse',
  '    type: postgres',
  '    fields:',
  '      host: db.internal',
  '      port: 5432',
  '      user: "{{ secret://env/WH_USER_SECRET }}"',
  '      password: "{{ secret://env/WH_PASSWORD_SECRET }}"',
  '      database: analytics',
  '',
].join('\n');

function warehouseProject(): string {
  const cwd = dir();
  writeFileSync(path.join(cwd, 'sesame.yaml'), WAREHOUSE);
  return cwd;
}

const secrets = { WH_USER_SECRET: 'etl-user', WH_PASSWORD_SECRET: 'pw-Zq81-warehouse' };

describe('sesame run --env-file', () => {
  it('resolves values that are references or templates, passes plain values, and masks the resolved ones', async () => {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, '.env'),
      [
        '# a comment',
        'PLAIN=just-text',
        'API_TOKEN=secret://env/TOKEN_SOURCE',
        'export DSN="postgres://app:{{ secret://env/TOKEN_SOURCE }}@db/app"',
        "QUOTED='two words'",
        '',
      ].join('\n'),
    );
    const r = await runCli(['run', '--env-file', '.env', ...printEnv('PLAIN', 'API_TOKEN', 'DSN', 'QUOTED')], {
      cwd,
      env: { TOKEN_SOURCE: 'tok-4f1e-9a7c-secret' },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('PLAIN=just-text\nAPI_TOKEN=***\nDSN=postgres://app:***@db/app\nQUOTED=two words\n');
  });

  it('gives the child the resolved value (masking is only of what it prints)', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, '.env'), 'API_TOKEN=secret://env/TOKEN_SOURCE\n');
    const r = await runCli(['run', '--env-file', '.env', '--', 'sh', '-c', 'test "$API_TOKEN" = tok-4f1e-9a7c-secret && echo same'], {
      cwd,
      env: { TOKEN_SOURCE: 'tok-4f1e-9a7c-secret' },
    });
    expect(r).toMatchObject({ code: 0, stdout: 'same\n' });
  });

  it('--env wins over the same variable in an --env-file', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, '.env'), 'WHO=from-file\n');
    const r = await runCli(['run', '--env-file', '.env', '--env', 'WHO=secret://env/SRC', ...printEnv('WHO')], { cwd, env: { SRC: 'from-flag' } });
    expect(r).toMatchObject({ code: 0, stdout: 'WHO=***\n' });
  });

  it('a missing reference in the file fails before the command starts (exit 1), naming the variable, not a value', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, '.env'), 'API_TOKEN=secret://env/NOT_THERE_AT_ALL\n');
    const r = await runCli(['run', '--env-file', '.env', '--', 'sh', '-c', 'echo started'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('secret://env/NOT_THERE_AT_ALL');
    expect(r.stderr).toContain('env.API_TOKEN');
  });

  it('a bad variable name in the file is a usage error (exit 2)', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, '.env'), '1BAD=x\n');
    const r = await runCli(['run', '--env-file', '.env', '--', 'true'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"1BAD" is not a valid variable name');
  });
});

describe('sesame run --connection', () => {
  it('never overwrites variables already set, and names (only) the ones it kept', async () => {
    const r = await runCli(['run', '--connection', 'warehouse', ...printEnv('USER', 'HOST', 'PORT', 'PGUSER', 'PGHOST', 'PASSWORD')], {
      cwd: warehouseProject(),
      env: { ...secrets, USER: 'alice', HOST: 'laptop' },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('USER=alice\nHOST=laptop\nPORT=5432\nPGUSER=***\nPGHOST=db.internal\nPASSWORD=***\n');
    expect(r.stderr).toBe(
      'sesame: kept HOST, USER as already set; connection warehouse did not replace them (use --prefix to set them under other names, or --overwrite)\n',
    );
    expect(r.stderr).not.toContain('etl-user');
    expect(r.stderr).not.toContain('alice');
  });

  it('--prefix puts its variables under other names, next to the environment', async () => {
    const r = await runCli(
      ['run', '--connection', 'warehouse', '--prefix', 'WH_', ...printEnv('USER', 'WH_USER', 'WH_HOST', 'WH_PASSWORD', 'WH_PGDATABASE')],
      { cwd: warehouseProject(), env: { ...secrets, USER: 'alice' } },
    );
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'USER=alice\nWH_USER=***\nWH_HOST=db.internal\nWH_PASSWORD=***\nWH_PGDATABASE=analytics\n' });
  });

  it('--overwrite replaces what the environment had', async () => {
    const r = await runCli(
      ['run', '--connection', 'warehouse', '--overwrite', '--', 'sh', '-c', 'test "$USER" = etl-user && echo replaced'],
      { cwd: warehouseProject(), env: { ...secrets, USER: 'alice' } },
    );
    expect(r).toMatchObject({ code: 0, stdout: 'replaced\n', stderr: '' });
  });

  it('an explicit --env is kept over the connection, even with --overwrite', async () => {
    const r = await runCli(['run', '--connection', 'warehouse', '--overwrite', '--env', 'PGHOST=secret://env/OTHER_HOST', ...printEnv('PGHOST')], {
      cwd: warehouseProject(),
      env: { ...secrets, OTHER_HOST: 'replica.internal' },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('PGHOST=***\n');
    expect(r.stderr).toContain('kept PGHOST');
  });

  it('--prefix and --overwrite without --connection, or a bad prefix, are usage errors (exit 2)', async () => {
    const cwd = warehouseProject();
    for (const args of [
      ['run', '--prefix', 'WH_', '--', 'true'],
      ['run', '--overwrite', '--', 'true'],
      ['run', '--connection', 'warehouse', '--prefix', '9-bad', '--', 'true'],
    ]) {
      const r = await runCli(args, { cwd, env: secrets });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^sesame: --(prefix|overwrite)/);
    }
  });
});

describe('sesame run exit codes', () => {
  it('127 for a command that does not exist, as a shell does', async () => {
    const r = await runCli(['run', '--', 'no-such-command-sesame-test'], { cwd: dir() });
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('sesame: command not found: no-such-command-sesame-test (check its name and PATH)\n');
  });

  it('126 for a file that is not executable, and for a directory', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'script.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(path.join(cwd, 'script.sh'), 0o644);
    const file = await runCli(['run', '--', './script.sh'], { cwd });
    expect(file.code).toBe(126);
    expect(file.stderr).toContain('sesame: cannot execute ./script.sh');
    const directory = await runCli(['run', '--', cwd], { cwd });
    expect(directory.code).toBe(126);
  });

  it("passes the child's own exit code through", async () => {
    const r = await runCli(['run', '--', 'sh', '-c', 'exit 7'], { cwd: dir() });
    expect(r.code).toBe(7);
  });

  it('usage errors exit 2: no command, a malformed --env, an unknown option', async () => {
    const cwd = dir();
    expect((await runCli(['run'], { cwd })).code).toBe(2);
    expect((await runCli(['run', '--env', 'NOEQUALS', '--', 'true'], { cwd })).code).toBe(2);
    expect((await runCli(['run', '--no-such-flag', '--', 'true'], { cwd })).code).toBe(2);
  });
});
