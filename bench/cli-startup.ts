/**
 * Start-up of the `sesame` command as a user pays it: whole processes, wall time from spawn to
 * exit, next to `node -e 0` on the same machine. The variants run in alternation (one of each,
 * then again), so a machine that gets busier slows them alike; medians are reported.
 *
 * - `sesame --version`: the bin answers it without loading the CLI.
 * - `sesame run -- true` in a folder without a config: the bundle's main chunk, commander and
 *   the run command, without the library (nothing to resolve).
 * - `sesame run --env V=secret://env/HOME -- true`: the library loads (the env store, no database).
 * - The same three unbundled (`SESAME_BUNDLE=0`: dist/ module by module), to show what the
 *   bundle saves.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/sesame.js', import.meta.url));

export interface StartupRow {
  label: string;
  medianMs: number;
  /** Median ÷ the median of `node -e 0`. */
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function benchCliStartup(options: { rounds?: number } = {}): { rows: StartupRow[]; rounds: number } {
  const rounds = options.rounds ?? 21;
  const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-startup-'));
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd };
  const variants: Array<{ label: string; args: string[]; env?: Record<string, string> }> = [
    { label: '`node -e 0`', args: ['-e', '0'] },
    { label: '`sesame --version`', args: [BIN, '--version'] },
    { label: '`sesame run -- true`', args: [BIN, 'run', '--', 'true'] },
    { label: '`sesame run --env V=secret://env/HOME -- true`', args: [BIN, 'run', '--env', 'V=secret://env/HOME', '--', 'true'] },
    { label: '`sesame --version`, unbundled', args: [BIN, '--version'], env: { SESAME_BUNDLE: '0' } },
    { label: '`sesame run -- true`, unbundled', args: [BIN, 'run', '--', 'true'], env: { SESAME_BUNDLE: '0' } },
    {
      label: '`sesame run --env V=secret://env/HOME -- true`, unbundled',
      args: [BIN, 'run', '--env', 'V=secret://env/HOME', '--', 'true'],
      env: { SESAME_BUNDLE: '0' },
    },
  ];
  const times = variants.map(() => [] as number[]);
  // One warm-up round (file system cache), not counted.
  for (let round = -1; round < rounds; round++) {
    variants.forEach((v, i) => {
      const started = performance.now();
      const r = spawnSync(process.execPath, v.args, { cwd, env: { ...env, ...v.env }, stdio: 'ignore' });
      const ms = performance.now() - started;
      if (r.status !== 0) throw new Error(`${v.label} exited ${r.status}`);
      if (round >= 0) times[i]?.push(ms);
    });
  }
  const base = median(times[0] as number[]);
  return {
    rounds,
    rows: variants.map((v, i) => {
      const m = median(times[i] as number[]);
      return { label: v.label, medianMs: m, ratio: m / base };
    }),
  };
}

export function formatCliStartup(result: { rows: StartupRow[]; rounds: number }): string {
  const fmt = (n: number, d = 1) => n.toFixed(d);
  return [
    '## CLI start-up (whole processes)',
    '',
    `Wall time from spawn to exit, median of ${result.rounds} alternating rounds, in an empty folder (no config). ` +
      'Targets (issue #17): `run -- true` within 1.5x of `node -e 0`, `--version` within 1.3x.',
    '',
    '| command | median | vs `node -e 0` |',
    '|---|---:|---:|',
    ...result.rows.map((r) => `| ${r.label} | ${fmt(r.medianMs)} ms | ${fmt(r.ratio, 2)}x |`),
    '',
    'The bundle (scripts/bundle-cli.mjs, rolldown) puts the CLI and its libraries in a few chunks loaded per command; ' +
      'the bin is CommonJS and answers `--version` itself; `run` with nothing to resolve and no config goes through ' +
      '`dist/bundle/run-fast.cjs` (its arguments read by hand, no commander, no ES module loader); `run` with something ' +
      'to resolve loads the library (zod, the config code and every store type). "Unbundled" (`SESAME_BUNDLE=0`) runs ' +
      '`dist/` module by module and skips that path. ' +
      'Node 20 has no on-disk compile cache for ES modules (`module.enableCompileCache` arrived in Node 22), so none is used.',
    '',
  ].join('\n');
}
