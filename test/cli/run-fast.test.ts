/**
 * `sesame run` with nothing to resolve starts from `bin/sesame.js` through
 * `dist/bundle/run-fast.cjs` (src/cli/run-fast.ts), without Node's ES module loader or the CLI's
 * commands: which argument lists take that path, that the command behaves there as through
 * `main()`, and that the path really skips the module loader. The real bin (`npm run build`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runWithoutLibrary } from '../../src/cli/run-fast.js';
import { BIN, runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-run-fast-'));

/** Node's internal modules loaded by `node BIN …args` (process.moduleLoadList at exit). */
function modulesLoaded(args: string[], cwd: string): Promise<string[]> {
  const out = path.join(cwd, 'modules.json');
  const probe = path.join(cwd, 'probe.cjs');
  writeFileSync(
    probe,
    "process.on('exit', () => require('node:fs').writeFileSync(process.env.PROBE_OUT, JSON.stringify(process.moduleLoadList)));\n",
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', probe, BIN, ...args], {
      cwd,
      env: { ...process.env, PROBE_OUT: out },
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('close', () => resolve(JSON.parse(readFileSync(out, 'utf8')) as string[]));
  });
}

const ESM_LOADER = /internal\/modules\/esm\/(loader|translators|module_job)$/;

describe('sesame run with nothing to resolve', () => {
  it('takes the path without the library only when there is nothing to resolve and no config', () => {
    const empty = dir();
    const configured = dir();
    writeFileSync(path.join(configured, 'sesame.yaml'), 'stores: []\n');
    const fast = (args: string[], cwd = empty) => runWithoutLibrary(['node', 'sesame', ...args], cwd) !== undefined;
    // Started (and finished) here: `true` exits 0.
    expect(fast(['run', '--', 'true'])).toBe(true);
    expect(fast(['run', '-n', 'acme', 'true'])).toBe(true);
    for (const args of [
      ['run', '--env', 'A=1', '--', 'true'],
      ['run', '--env-file', '.env', '--', 'true'],
      ['run', '--connection', 'c', '--', 'true'],
      ['run', '--prefix', 'P_', '--', 'true'],
      ['run', '--overwrite', '--', 'true'],
      ['run', '--config', 'x.yaml', '--', 'true'],
      ['run', '--help'],
      ['run'],
      ['resolve', 'secret://env/HOME'],
    ]) {
      expect(fast(args), args.join(' ')).toBe(false);
    }
    // A config file in the folder is read (and its errors said) by main().
    expect(fast(['run', '--', 'true'], configured)).toBe(false);
    // The embedded default's master key file is there: its key is masked, which needs the redactor.
    const keyed = dir();
    mkdirSync(path.join(keyed, '.sesame'));
    writeFileSync(path.join(keyed, '.sesame', 'master.key'), 'not read here\n');
    expect(fast(['run', '--', 'true'], keyed)).toBe(false);
  });

  it('passes the environment, output and exit code through, and says what a shell says for a missing command', async () => {
    const cwd = dir();
    const ok = await runCli(['run', '--', 'sh', '-c', 'echo "home=$HOME"; echo err >&2; exit 5'], { cwd, env: { HOME: '/home/x' } });
    expect(ok).toMatchObject({ code: 5, stdout: 'home=/home/x\n', stderr: 'err\n' });
    const missing = await runCli(['run', '--', 'no-such-command-here'], { cwd });
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe('sesame: command not found: no-such-command-here (check its name and PATH)\n');
    const killed = await runCli(['run', '--', 'sh', '-c', 'kill -TERM $$'], { cwd });
    expect(killed.signal).toBe('SIGTERM');
  });

  it("does not load Node's ES module loader; with a reference to resolve, main() does", async () => {
    const cwd = dir();
    const fast = await modulesLoaded(['run', '--', 'true'], cwd);
    expect(fast.filter((m) => ESM_LOADER.test(m))).toEqual([]);
    const full = await modulesLoaded(['run', '--env', 'A=secret://env/HOME', '--', 'true'], cwd);
    expect(full.filter((m) => ESM_LOADER.test(m)).length).toBeGreaterThan(0);
  });
});
