/**
 * Colour and progress are for a person at a terminal: on a pseudo-terminal (util-linux
 * `script`) the error prefix is coloured and key rotation draws a bar on stderr; piped, or with
 * NO_COLOR, the output is plain text.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { colourEnabled, painter } from '../../src/cli/colour.js';
import { startProgress } from '../../src/cli/spinner.js';
import { BIN, runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-tty-'));

/** Run the bin on a pseudo-terminal; returns everything the terminal received. */
function onTerminal(args: string[], cwd: string, env: Record<string, string> = {}): { status: number | null; screen: string } {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERM: 'xterm', ...env },
    timeout: 60_000,
  });
  return { status: r.status, screen: r.stdout };
}

describe('colour', () => {
  it('is on for a terminal, off when piped, with NO_COLOR or TERM=dumb; FORCE_COLOR turns it on', () => {
    expect(colourEnabled({ isTTY: true }, {})).toBe(true);
    expect(colourEnabled({ isTTY: false }, {})).toBe(false);
    expect(colourEnabled({}, {})).toBe(false);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colourEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colourEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourEnabled({ isTTY: false }, { FORCE_COLOR: '0' })).toBe(false);
    expect(painter({ isTTY: false }, {})('red', 'x')).toBe('x');
    expect(painter({ isTTY: true }, {})('red', 'x')).toBe('\u001b[31mx\u001b[39m');
  });

  it('the error prefix is red on a terminal, plain with NO_COLOR and when piped', async () => {
    const cwd = dir();
    const tty = onTerminal(['resolve'], cwd);
    expect(tty.status).toBe(2);
    expect(tty.screen).toContain('\u001b[31msesame:\u001b[39m give a reference');
    const noColor = onTerminal(['resolve'], cwd, { NO_COLOR: '1' });
    expect(noColor.screen).toContain('sesame: give a reference');
    expect(noColor.screen).not.toContain('\u001b[');
    const piped = await runCli(['resolve'], { cwd });
    expect(piped.stderr).not.toContain('\u001b[');
  }, 60_000);
});

describe('progress', () => {
  function fakeTerminal(isTTY: boolean) {
    const written: string[] = [];
    return { stream: { isTTY, columns: 80, write: (s: string) => written.push(s) > 0 }, written };
  }

  it('draws a bar in place on a terminal and clears it when done', () => {
    const { stream, written } = fakeTerminal(true);
    let now = 0;
    const progress = startProgress(stream, {}, 'rewrapping data keys', () => now);
    progress.update(0, 200);
    now += 100;
    progress.update(50, 200);
    now += 10;
    progress.update(60, 200); // within 80 ms of the last draw: not redrawn
    progress.update(200, 200); // the end is always drawn
    progress.done();
    const text = written.join('');
    expect(text).toContain('rewrapping data keys');
    expect(text).toContain('50/200 25%');
    expect(text).not.toContain('60/200');
    expect(text).toContain('200/200 100%');
    expect(written.every((w) => w.startsWith('\r'))).toBe(true);
    expect(written.at(-1)).toBe('\r\u001b[K');
  });

  it('writes nothing when the stream is not a terminal', () => {
    const { stream, written } = fakeTerminal(false);
    const progress = startProgress(stream, {}, 'work');
    progress.update(1, 2);
    progress.done();
    expect(written).toEqual([]);
  });

  it('sesame keys rotate: a bar on a terminal, only the summary when piped', async () => {
    const cwd = dir();
    for (const name of ['a', 'b', 'c']) {
      const set = await runCli(['secrets', 'set', `demo/${name}`, `value-${name}-123`], { cwd });
      expect(set.code, set.stderr).toBe(0);
    }
    const tty = onTerminal(['keys', 'rotate'], cwd);
    expect(tty.status).toBe(0);
    expect(tty.screen).toMatch(/rewrapping data keys .*\d+\/\d+ \d+%/);
    expect(tty.screen).toContain('█');
    expect(tty.screen).toMatch(/rotated to master key \S+: rewrapped \d+ data keys?/);
    const piped = await runCli(['keys', 'rotate'], { cwd });
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toMatch(/^rotated to master key \S+: rewrapped \d+ data keys?/);
  }, 90_000);
});
