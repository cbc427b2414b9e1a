/**
 * `sesame init --config <path>` prints next commands that carry `--config <path>`. With a space
 * (or another character the shell splits or expands) in the path, the printed command did not
 * work when pasted: `--config my project/sesame.yaml` became two words. The path must be quoted
 * for a POSIX shell, so that pasting the line runs against the config just written.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createCliContext } from '../../src/cli/context.js';
import { main } from '../../src/cli/main.js';

async function sesame(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => {
    stdout += String(c);
  });
  err.on('data', (c) => {
    stderr += String(c);
  });
  const code = await main(['node', 'sesame', ...args], createCliContext({ cwd, stdout: out, stderr: err, env: { PATH: process.env.PATH ?? '' } }));
  return { code, stdout, stderr };
}

/** The words a POSIX shell makes of `line` (no command run: printf prints each word). */
const shellWords = (line: string): string[] =>
  execFileSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' }).split('\0').slice(0, -1);

describe('sesame init: the next commands it prints work when pasted', () => {
  for (const config of ['my project/sesame.yaml', "it's $HOME/sesame.yaml", 'a b/c*d/sesame.yaml']) {
    it(`with --config ${JSON.stringify(config)}`, async () => {
      const cwd = realpathSync(mkdtempSync(path.join(tmpdir(), 'sesame-review-init-')));
      const init = await sesame(['init', '--config', config], cwd);
      expect(init.code, init.stderr).toBe(0);
      const next = init.stdout
        .slice(init.stdout.indexOf('Next:\n'))
        .split('\n')
        .filter((l) => l.startsWith('  sesame '))
        .map((l) => l.trim().replace(/\s+#.*$/, ''));
      expect(next.length).toBeGreaterThanOrEqual(3);
      for (const line of next) {
        const words = shellWords(line);
        expect(words[0]).toBe('sesame');
        expect(words[words.indexOf('--config') + 1], line).toBe(config);
      }
      // And the pasted commands run against that config.
      const [set, resolve] = next.map(shellWords) as [string[], string[]];
      expect((await sesame([...set.slice(1), 'pasted-pw-2718'], cwd)).code).toBe(0);
      expect(await sesame(resolve.slice(1), cwd)).toMatchObject({ code: 0, stdout: 'pasted-pw-2718\n' });
    }, 60_000);
  }
});
