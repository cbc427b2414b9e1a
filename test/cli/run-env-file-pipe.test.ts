/**
 * `sesame run --env-file <(sops -d .env.enc)` — an env file from a pipe — ran the command with
 * the file's variables missing, and said nothing. Node.js 20 reads every `--env-file` in its
 * arguments at start, the script's own included, before any JavaScript runs: it drained the pipe
 * (and read /dev/zero until memory ran out), so Sesame then read an empty file.
 *
 * A missing `--env-file` stopped Node itself the same way: "node: x.env: not found", exit 9.
 *
 * The installed `sesame` now starts Node with `--` (bin/sesame.js is a shell line, then the
 * script), which ends Node's own options; and a pipe that arrives empty is refused, not taken for
 * an empty file, for whoever starts `node bin/sesame.js` without it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runShell } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-run-pipe-'));

const bash = (line: string, cwd: string, env: Record<string, string>) => runShell(line, { cwd, env });

const ENV = { SESAME_LOG_LEVEL: 'warn', PIPE_SECRET: 'pipe-secret-7c1e' };

describe('sesame run --env-file from a pipe', () => {
  it('the installed command (the bin run through its #! line) gets the variables', async () => {
    expect(readFileSync(BIN, 'utf8').split('\n').slice(0, 2)).toEqual(['#!/bin/sh', '":" //; exec node -- "$0" "$@"']);
    const r = await bash(
      `'${BIN}' run --env-file <(echo 'TOKEN=secret://env/PIPE_SECRET'; echo 'PLAIN=plain-1') -- sh -c 'echo "TOKEN=$TOKEN PLAIN=$PLAIN"; test "$TOKEN" = pipe-secret-7c1e && echo same'`,
      dir(),
      ENV,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('TOKEN=*** PLAIN=plain-1\nsame\n');
  });

  it('node bin/sesame.js without --: a pipe Node drained is refused, the command not run', async () => {
    const cwd = dir();
    const marker = path.join(cwd, 'ran');
    const r = await bash(
      `'${process.execPath}' '${BIN}' run --env-file <(echo 'TOKEN=secret://env/PIPE_SECRET') -- touch '${marker}'`,
      cwd,
      ENV,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^sesame: --env-file \/dev\/fd\/\d+ is a pipe and arrived empty: Node\.js 20 reads every --env-file of its command line before Sesame starts, which drains a pipe; start Sesame as the sesame command or with node -- bin\/sesame\.js, or give a regular file\n$/,
    );
    expect(() => readFileSync(marker)).toThrow();
  });

  it('a missing env file is Sesame\'s usage error (exit 2), not Node\'s "not found" (exit 9)', async () => {
    const r = await bash(`'${BIN}' run --env-file missing.env -- true`, dir(), ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('sesame: cannot read --env-file missing.env: there is no such file: check the path\n');
  });

  it('a regular env file is read as before, whichever way Sesame was started', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, '.env'), 'PLAIN=plain-2\n');
    for (const start of [`'${BIN}'`, `'${process.execPath}' '${BIN}'`]) {
      const r = await bash(`${start} run --env-file .env -- sh -c 'echo "PLAIN=$PLAIN"'`, cwd, ENV);
      expect(r.stdout, start).toBe('PLAIN=plain-2\n');
    }
  });
});
