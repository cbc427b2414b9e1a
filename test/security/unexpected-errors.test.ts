/**
 * Leaks through errors nobody planned for: a Node or V8 error whose message quotes its input
 * (`… Received 'hunter2…'`, `Unexpected token … "…" is not valid JSON`), printed by the CLI's
 * "unexpected error" line or written to a log. The value in these messages is often cut or
 * escaped (`\x00`), so the redactor, which masks whole known values, cannot catch it: such
 * messages have to lose their quotes before they are shown.
 *
 * The CLI cases run the real bin: `npx tsc -p tsconfig.build.json` first.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeUnexpected, jsonSyntaxError } from '../../src/errors.js';
import { runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-unexpected-'));

/** A random secret-looking text, and the pieces of it a cut or escaped quote would still show. */
function secret(label: string): { value: string; pieces: string[] } {
  const value = `${label}-${randomBytes(6).toString('hex')}`;
  // Any 8 characters of it in a row are a leak (a short password is about that long).
  const pieces = Array.from({ length: value.length - 7 }, (_, i) => value.slice(i, i + 8));
  return { value, pieces };
}

function expectNoPiece(text: string, s: { pieces: string[] }, where: string): void {
  const found = s.pieces.filter((p) => text.includes(p));
  expect(
    found,
    `${where} shows part of the secret: ${JSON.stringify(text.replace(/[0-9a-f]{6,}/g, '<hex>'))}`,
  ).toEqual([]);
}

function project(): { cwd: string; env: Record<string, string> } {
  const cwd = dir();
  writeFileSync(
    path.join(cwd, 'sesame.yaml'),
    ['database: sqlite:./.sesame/sesame.db', 'masterKey: { env: UNEXPECTED_MASTER_KEY }', ''].join('\n'),
  );
  return { cwd, env: { UNEXPECTED_MASTER_KEY: randomBytes(32).toString('base64') } };
}

describe('sesame run with a value an environment variable cannot carry', () => {
  it('a secret holding a NUL byte is refused naming the variable, with nothing of the value on stderr', async () => {
    const { cwd, env } = project();
    const before = secret('nulhead');
    const after = secret('nultail');
    const set = await runCli(['secrets', 'set', 'app/binary'], {
      cwd,
      env,
      input: `${before.value}\0${after.value}`,
    });
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);

    const r = await runCli(
      ['run', '--env', 'KEY=secret://builtin/app/binary', '--', 'sh', '-c', 'echo ran'],
      { cwd, env },
    );

    expectNoPiece(r.stderr + r.stdout, before, 'sesame run');
    expectNoPiece(r.stderr + r.stdout, after, 'sesame run');
    expect(r.stdout).toBe('');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sesame: .*KEY.*NUL byte/);
    expect(r.stderr).not.toContain('unexpected error');
  });
});

describe("sesame run and Sesame's own credentials in the environment", () => {
  const show = [
    '--',
    'sh',
    '-c',
    'echo "key=$RUN_MASTER_KEY"; echo "token=$SESAME_TOKEN"; echo "agent=$SESAME_AGENT_TOKEN"; echo "x=$X"; env',
  ];

  it('masks the master key the config reads from the environment and the tokens Sesame reads, as it masks the values it resolved', async () => {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      ['database: sqlite:./.sesame/sesame.db', 'masterKey: { env: RUN_MASTER_KEY }', ''].join('\n'),
    );
    const key = randomBytes(32).toString('base64');
    const token = `ses_${randomBytes(16).toString('hex')}`;
    const agent = `agent-${randomBytes(16).toString('hex')}`;
    const value = `value-${randomBytes(8).toString('hex')}`;

    const r = await runCli(['run', '--env', 'X=secret://env/RUN_SOURCE', ...show], {
      cwd,
      env: { RUN_MASTER_KEY: key, SESAME_TOKEN: token, SESAME_AGENT_TOKEN: agent, RUN_SOURCE: value },
    });

    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('x=***\n');
    expect(r.stdout).toContain('key=***\n');
    expect(r.stdout).toContain('token=***\n');
    expect(r.stdout).toContain('agent=***\n');
    for (const secretText of [key, token, agent, value]) expect(r.stdout).not.toContain(secretText);
  });

  it('masks the tokens also when there is nothing to resolve and no config', async () => {
    const token = `ses_${randomBytes(16).toString('hex')}`;
    const r = await runCli(['run', ...show], { cwd: dir(), env: { SESAME_TOKEN: token } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('token=***\n');
    expect(r.stdout).not.toContain(token);
  });
});

describe('a value that starts with "-" given as an argument', () => {
  it('is not echoed as an unknown option; the line says to put -- before it', async () => {
    const s = secret('-Xk3');
    const { cwd, env } = project();
    const r = await runCli(['secrets', 'set', 'db/password', s.value], { cwd, env });
    expect(r.code).toBe(2);
    expectNoPiece(r.stderr + r.stdout, s, 'sesame secrets set');
    expect(r.stderr).toMatch(/^sesame: unknown option .*put -- before it/);
    // As the line says:
    const set = await runCli(['secrets', 'set', 'db/password', '--', s.value], { cwd, env });
    expect(set.stderr).toBe('');
    expect((await runCli(['secrets', 'get', 'db/password'], { cwd, env })).stdout).toBe(s.value);
  });

  it('a mistyped option is still named, with its suggestion', async () => {
    const r = await runCli(['secrets', 'set', 'db/password', '--expected-versoin', '2'], { cwd: dir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--expected-versoin'");
    expect(r.stderr).toContain('did you mean --expected-version?');
  });
});

describe('sesame secrets import of a file that is not JSON', () => {
  it('says where the file is malformed without the text around the fault (it holds the values)', async () => {
    const { cwd, env } = project();
    const s = secret('pw');
    // A value written without its quotes, the mistake hand-written JSON invites.
    writeFileSync(path.join(cwd, 'secrets.json'), `{\n  "db/user": "etl",\n  "db/password": ${s.value}\n}\n`);

    const r = await runCli(['secrets', 'import', 'secrets.json'], { cwd, env });

    expectNoPiece(r.stderr + r.stdout, s, 'sesame secrets import');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^sesame: secrets\.json is not JSON \(Unexpected token '.'\): fix it, or pass --format env/,
    );
    const list = await runCli(['secrets', 'list', '--json'], { cwd, env });
    expect(list.stdout).not.toContain('db/');
  });
});

describe('describeUnexpected', () => {
  it("drops what Node's argument errors received (the value, cut at 128 characters and escaped)", () => {
    const s = secret('argvalue');
    let thrown: unknown;
    try {
      // What `sesame run` met: spawn() refuses an environment value holding a NUL byte.
      spawn('true', [], { env: { KEY: `${s.value}\0${s.value}` } });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message, 'Node quotes the value (the premise of this test)').toContain(s.value);
    const text = describeUnexpected(thrown);
    expectNoPiece(text, s, 'describeUnexpected');
    expect(text).toContain('ERR_INVALID_ARG_VALUE');
    expect(text).toContain('must be a string without null bytes');
  });

  it('drops the text V8 quotes from JSON it cannot parse', () => {
    const s = secret('pw');
    let thrown: unknown;
    try {
      // A value written without its quotes: V8 shows the 10 characters after the error.
      JSON.parse(`{"db/password": ${s.value}}`);
    } catch (err) {
      thrown = err;
    }
    expect(
      (thrown as Error).message,
      'V8 quotes the text around the error (the premise of this test)',
    ).toContain(s.value.slice(0, 8));
    const text = describeUnexpected(thrown);
    expectNoPiece(text, s, 'describeUnexpected');
    expect(text).toMatch(/^SyntaxError: .*not valid JSON/);
  });

  it('shows no quoted text of any other message either, and only its first line', () => {
    const s = secret('quoted');
    const text = describeUnexpected(
      new RangeError(`bad input "${s.value}" near '${s.value}' or \`${s.value}\`\nsecond line ${s.value}`),
    );
    expectNoPiece(text, s, 'describeUnexpected');
    expect(text).toBe('RangeError: bad input "…" near \'…\' or `…`');
  });

  it('keeps a short quoted word (a property name, a token) as it is', () => {
    expect(describeUnexpected(new TypeError("Cannot read properties of undefined (reading 'map')"))).toBe(
      "TypeError: Cannot read properties of undefined (reading 'map')",
    );
  });

  it('keeps the path a system error names (ENOENT, EACCES), which is the file it was given', async () => {
    const missing = path.join(dir(), 'no-such-file');
    const err = await import('node:fs/promises').then((fs) =>
      fs.readFile(missing).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(describeUnexpected(err)).toBe(
      `Error [ENOENT]: ENOENT: no such file or directory, open '${missing}'`,
    );
  });

  it('describes a thrown non-error by its type only', () => {
    const s = secret('thrownstring');
    expect(describeUnexpected(s.value)).toBe('a thrown string');
    expect(describeUnexpected({ password: s.value })).toBe('a thrown object');
  });
});

describe('jsonSyntaxError: what JSON.parse found wrong and where, never the text it quotes', () => {
  const parsed = (text: string) => {
    try {
      JSON.parse(text);
    } catch (err) {
      return jsonSyntaxError(err);
    }
    throw new Error('parsed');
  };

  it('keeps the reason and the position, drops the quoted document', () => {
    const s = secret('pw');
    const quoted = parsed(`{"a": ${s.value}}`);
    expectNoPiece(JSON.stringify(quoted), s, 'the reason');
    expect(quoted.reason).toBe("Unexpected token 'p'");
    expect(parsed('{"a":1')).toEqual({ reason: "Expected ',' or '}' after property value", position: 6 });
    expect(parsed('')).toEqual({ reason: 'Unexpected end of JSON input' });
    // Node 22 adds the line and column after the position.
    expect(
      jsonSyntaxError(
        new SyntaxError("Expected property name or '}' in JSON at position 1 (line 1 column 2)"),
      ),
    ).toEqual({ reason: "Expected property name or '}'", position: 1 });
    expect(jsonSyntaxError('"').reason).toBe('not valid JSON');
  });
});
