/**
 * PRODUCT.md, "Command line": every command ends a failure with "a one-line error on stderr that
 * says what to do". These run the real bin and read stderr as a user (or a CI log) sees it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unreadable } from '../../src/cli/context.js';
import { normalizeServerUrl } from '../../src/cli/profiles.js';
import { SesameClient } from '../../src/cli/remote.js';
import { runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-errline-'));

/** stderr is exactly one line starting `sesame: `. */
function oneLine(stderr: string): string {
  expect(stderr.endsWith('\n'), JSON.stringify(stderr)).toBe(true);
  const lines = stderr.slice(0, -1).split('\n');
  expect(lines, JSON.stringify(stderr)).toHaveLength(1);
  expect(lines[0]).toMatch(/^sesame: /);
  return lines[0] as string;
}

describe('usage errors (commander)', () => {
  it('an unknown option is one line naming the help of the command it was given to', async () => {
    const r = await runCli(['resolve', 'secret://env/HOME', '--bogus'], { cwd: dir() });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(
      "sesame: unknown option '--bogus' (see sesame resolve --help for usage and an example)",
    );
  });

  it('a missing argument of a subcommand names that subcommand', async () => {
    const r = await runCli(['secrets', 'get'], { cwd: dir() });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(
      "sesame: missing required argument 'name' (see sesame secrets get --help for usage and an example)",
    );
  });

  it('a missing required option says which and where to read more', async () => {
    const r = await runCli(['migrate', '--to', 'builtin'], { cwd: dir() });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain(
      "required option '--from <store>' not specified (see sesame migrate --help",
    );
  });

  it('an unknown command keeps its suggestion on the same line', async () => {
    const r = await runCli(['secrets', 'lst'], { cwd: dir() });
    expect(r.code).toBe(2);
    const line = oneLine(r.stderr);
    expect(line).toContain("unknown command 'lst'");
    expect(line).toContain('did you mean list?');
    expect(line).toContain('sesame secrets --help');
    const top = await runCli(['secrest'], { cwd: dir() });
    expect(top.code).toBe(2);
    expect(oneLine(top.stderr)).toMatch(
      /unknown command 'secrest'.*did you mean secrets\?.*see sesame --help/,
    );
  });

  it('sesame run with no command is one line too', async () => {
    const r = await runCli(['run'], { cwd: dir() });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain('sesame run --help');
  });
});

describe('store errors carry their fix', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.endsWith('/present')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ value: 'present-value-9f2' }));
        return;
      }
      res.writeHead(req.url?.endsWith('/denied') ? 403 : 404, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function project(): string {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      `stores:\n  - name: web\n    type: http\n    url: ${base}/s/{name}\n    valuePath: /value\n`,
    );
    return cwd;
  }

  it('a missing secret says what happened and what to do, on one line, exit 1', async () => {
    const cwd = project();
    const ok = await runCli(['resolve', 'secret://web/present'], { cwd });
    expect(ok).toMatchObject({ code: 0, stdout: 'present-value-9f2\n' });
    const r = await runCli(['resolve', 'secret://web/missing'], { cwd });
    expect(r.code).toBe(1);
    const line = oneLine(r.stderr);
    expect(line).toContain('secret://web/missing');
    expect(line).toContain('404');
    expect(line).toMatch(/create the secret, or check the url template$/);
  });

  it('a denied read names the fix once, and sesame run fails the same way before starting', async () => {
    const cwd = project();
    const r = await runCli(
      ['run', '--env', 'T=secret://web/denied', '--', 'node', '-e', 'process.stdout.write("started")'],
      { cwd },
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const line = oneLine(r.stderr);
    expect(line).toContain('403');
    expect(line.match(/grant these credentials read access on the store/g)).toHaveLength(1);
  });
});

describe('a file that cannot be read says why and what to do', () => {
  it('secrets import of a missing file, --from-file of a directory, a missing SESAME_AGENT_TOKEN_FILE', async () => {
    const cwd = dir();
    const missing = await runCli(['secrets', 'import', 'nope.env'], { cwd });
    expect(missing.code).toBe(2);
    expect(oneLine(missing.stderr)).toBe(
      'sesame: cannot read the file nope.env: there is no such file: check the path',
    );
    const folder = await runCli(['secrets', 'set', 'x', '--from-file', '.'], { cwd });
    expect(folder.code).toBe(2);
    expect(oneLine(folder.stderr)).toBe('sesame: cannot read --from-file .: it is a directory: give a file');
    const agent = await runCli(['resolve', 'secret://env/X', '--server', 'http://127.0.0.1:9'], {
      cwd,
      env: { SESAME_AGENT_TOKEN_FILE: 'nope.token' },
    });
    expect(agent.code).toBe(2);
    expect(oneLine(agent.stderr)).toBe(
      'sesame: cannot read SESAME_AGENT_TOKEN_FILE nope.token: there is no such file: check the path',
    );
  });

  it('a file the user may not read is not called missing, a directory not a file', () => {
    const code = (c: string) => Object.assign(new Error(c), { code: c });
    expect(unreadable('the file locked.env', code('EACCES')).message).toBe(
      'cannot read the file locked.env: permission denied: let the user that runs sesame read it',
    );
    expect(unreadable('x', code('EISDIR'))).toMatchObject({
      exitCode: 2,
      message: 'cannot read x: it is a directory: give a file',
    });
    expect(unreadable('x', code('EMFILE')).message).toBe(
      'cannot read x: EMFILE: check the path and its permissions',
    );
  });
});

describe('--namespace is checked where it is typed', () => {
  it('a malformed namespace is exit 2, not a quiet resolve from the root', async () => {
    const cwd = dir();
    const env = { WHO: 'who-value-3' };
    for (const args of [
      ['resolve', 'secret://env/WHO', '--namespace', 'Acme'],
      ['run', '--namespace', 'a..b', '--env', 'W=secret://env/WHO', '--', 'true'],
      ['connections', 'list', '-n', 'acme devops'],
    ]) {
      const r = await runCli(args, { cwd, env });
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr), args.join(' ')).toMatch(
        /^sesame: --namespace "[^"]+": a namespace is dotted lowercase segments, e\.g\. "acme"/,
      );
      expect(r.stdout).toBe('');
    }
    const ok = await runCli(['resolve', 'secret://env/WHO', '--namespace', 'acme.dev-ops_1'], { cwd, env });
    expect(ok).toMatchObject({ code: 0, stdout: 'who-value-3\n' });
  });
});

describe('resolve --file of a document that does not parse', () => {
  it('says the file, line and column, without calling the document a config', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'doc.yaml'), 'a: [1,\n');
    const r = await runCli(['resolve', '--file', 'doc.yaml'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sesame: doc\.yaml:2:1: .+ \(not valid YAML\)\n/);
    expect(r.stderr).not.toContain('config');
  });
});

describe('sesame run --env without VAR=', () => {
  it('never repeats an argument that may be the value itself; names a variable name, or says it is missing', async () => {
    const cwd = dir();
    const value = await runCli(['run', '--env', 'pa55-w0rd!x', '--', 'true'], { cwd });
    expect(value.code).toBe(2);
    expect(oneLine(value.stderr)).toBe(
      'sesame: --env needs VAR=<reference-or-template> (this argument has no "="), e.g. --env TOKEN=secret://env/TOKEN',
    );
    expect(value.stderr).not.toContain('pa55');
    const name = await runCli(['run', '--env', 'TOKEN', '--', 'true'], { cwd });
    expect(oneLine(name.stderr)).toBe(
      'sesame: --env TOKEN needs =<reference-or-template>, e.g. --env TOKEN=secret://env/TOKEN',
    );
    const noName = await runCli(['run', '--env', '=secret://env/X', '--', 'true'], { cwd });
    expect(noName.code).toBe(2);
    expect(oneLine(noName.stderr)).toBe(
      'sesame: --env =…: the variable name is missing before "=", e.g. --env TOKEN=secret://env/TOKEN',
    );
  });
});

describe('an unknown --option=value', () => {
  it('is named without its value, which may be a secret (--token=…, --value=…)', async () => {
    const cwd = dir();
    const r = await runCli(['secrets', 'set', 'x', '--value=hunter2-zz9'], { cwd });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(
      "sesame: unknown option '--value=…' (see sesame secrets set --help for usage and an example)",
    );
    const login = await runCli(['login', '--server', 'http://127.0.0.1:9', '--token=tok-abc-secret-1'], {
      cwd,
    });
    expect(login.code).toBe(2);
    expect(login.stderr).not.toContain('tok-abc-secret-1');
    expect(oneLine(login.stderr)).toContain("unknown option '--token=…'");
  });
});

describe('--server given as the API URL that sesame serve prints', () => {
  it('http://host:port/api/v1 is the same server as http://host:port (requests go to /api/v1/…, not /api/v1/api/v1/…)', async () => {
    const asked: string[] = [];
    const fake = (async (input: string | URL | Request) => {
      asked.push(String(input));
      return new Response(JSON.stringify({ value: 'v', stale: false, references: [] }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    }) as typeof fetch;
    for (const server of [
      'http://127.0.0.1:7373/api/v1',
      'http://127.0.0.1:7373/api/v1/',
      'http://127.0.0.1:7373/',
    ]) {
      const client = new SesameClient({ server, token: 't', fetch: fake });
      expect(client.base, server).toBe('http://127.0.0.1:7373');
      await client.request('POST', '/resolve', { body: { reference: 'secret://env/X' } });
    }
    expect(new Set(asked)).toEqual(new Set(['http://127.0.0.1:7373/api/v1/resolve']));
    expect(normalizeServerUrl('https://sesame.internal/api/v1')).toBe(
      normalizeServerUrl('https://sesame.internal'),
    );
    expect(new SesameClient({ server: 'https://proxy.internal/sesame/' }).base).toBe(
      'https://proxy.internal/sesame',
    );
  });
});

describe('--server with a user or password in it', () => {
  it('is refused without echoing it: sesame authenticates with a token, and fetch cannot send such a URL', async () => {
    const r = await runCli(['secrets', 'list', '--server', 'https://ops:pw-9f3kq2x7@127.0.0.1:9'], {
      cwd: dir(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('pw-9f3kq2x7');
    expect(r.stderr).not.toContain('ops:');
    expect(oneLine(r.stderr)).toBe(
      'sesame: --server must not carry a user or password (https://…@127.0.0.1:9): give the address only, and the token with SESAME_TOKEN or sesame login',
    );
    for (const server of [
      'http://tok-1a2b3c4d5e@sesame.internal',
      'http://:pw-only-77@sesame.internal/api/v1',
    ]) {
      expect(() => new SesameClient({ server })).toThrow(/must not carry a user or password/);
      expect(() => new SesameClient({ server })).not.toThrow(/tok-1a2b3c4d5e|pw-only-77/);
    }
  });
});

describe('a missing secret of the env and builtin stores says what to do', () => {
  it('env: the variable to set (with the store prefix); builtin: sesame secrets set, or check the name and namespace', async () => {
    const cwd = dir();
    const env = {};
    const init = await runCli(['init'], { cwd, env });
    expect(init.code, init.stderr).toBe(0);
    const plain = await runCli(['resolve', 'secret://env/NOPE_VAR_1'], { cwd, env });
    expect(plain.code).toBe(1);
    expect(oneLine(plain.stderr)).toMatch(
      /environment variable NOPE_VAR_1 is not set; set NOPE_VAR_1 in the environment of the process that runs sesame, or check the name$/,
    );
    const builtin = await runCli(['resolve', 'secret://builtin/nope'], { cwd, env });
    expect(builtin.code).toBe(1);
    expect(oneLine(builtin.stderr)).toMatch(
      /no secret "nope" in .*; create it with `sesame secrets set nope`, or check the name and the namespace$/,
    );
    const ns = await runCli(['secrets', 'delete', 'nope'], { cwd, env });
    expect(ns.code).toBe(1);
    expect(oneLine(ns.stderr)).toMatch(/; nothing to delete: check the name and the namespace$/);
  });

  it('env with a prefix names the full variable and the prefix', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'stores:\n  - name: app\n    type: env\n    prefix: APP_\n');
    const r = await runCli(['resolve', 'secret://app/DB_PASS'], { cwd });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(
      /; set APP_DB_PASS in the environment of the process that runs sesame, or check the name and the store prefix \(APP_\)$/,
    );
  });
});
