/**
 * `sesame completion bash|zsh|fish`: made from the program, so every command and option is in
 * it. The bash script is sourced in a real bash and asked for completions as the shell would.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCliContext } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/main.js';
import { runCli } from '../support/cli.js';

const sink = () =>
  new Writable({
    write(_c, _e, done) {
      done();
    },
  });

let program: Command;
let work: string;
let script: string;

beforeAll(async () => {
  program = await buildProgram(createCliContext({ stdout: sink(), stderr: sink(), env: {} }), []);
  work = mkdtempSync(path.join(tmpdir(), 'sesame-completion-'));
  const r = await runCli(['completion', 'bash'], { cwd: work });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  script = path.join(work, 'sesame.bash');
  writeFileSync(script, r.stdout);
}, 60_000);

/** What bash offers for `line` (the cursor at its end), as the completion function computes it. */
function complete(line: string): string[] {
  const words = line.split(' ');
  const program = [
    `source ${JSON.stringify(script)}`,
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    `COMP_LINE='${line}'`,
    `COMP_POINT=${line.length}`,
    '_sesame',
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join('\n');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program], { cwd: work, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('sesame completion bash', () => {
  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('offers every command of the program', () => {
    const offered = complete('sesame ');
    const names = program.commands.map((c) => c.name());
    expect(names).toEqual(expect.arrayContaining(['resolve', 'run', 'connections', 'cache', 'secrets', 'completion']));
    for (const name of names) expect(offered).toContain(name);
  });

  it('completes a command from its start, and the subcommands of a group', () => {
    expect(complete('sesame conn')).toEqual(['connections']);
    expect(complete('sesame connections ').sort()).toEqual(expect.arrayContaining(['list', 'resolve', 'test']));
    expect(complete('sesame cache r')).toEqual(['refresh']);
  });

  it("offers each command's options, --namespace on cache refresh included", () => {
    for (const group of program.commands) {
      const leaves = group.commands.length > 0 ? group.commands.map((c) => [group.name(), c.name(), c] as const) : [[group.name(), '', group] as const];
      for (const [a, b, cmd] of leaves) {
        const offered = complete(`sesame ${[a, b].filter(Boolean).join(' ')} --`);
        for (const option of cmd.options) if (option.long) expect(offered, `${a} ${b}`).toContain(option.long);
      }
    }
    expect(complete('sesame cache refresh --n')).toEqual(['--namespace']);
    expect(complete('sesame run --env')).toEqual(expect.arrayContaining(['--env', '--env-file']));
  });

  it('skips the value of an option that takes one, and completes file names where the value is a file', () => {
    expect(complete('sesame resolve --namespace acme --j')).toEqual(['--json']);
    writeFileSync(path.join(work, 'prod.env'), 'A=1\n');
    expect(complete('sesame run --env-file prod.')).toEqual(['prod.env']);
    expect(complete('sesame resolve --config sesame.b')).toEqual(['sesame.bash']);
  });

  it('after run --, completes the command to run', () => {
    expect(complete('sesame run --env A=secret://env/A -- bas')).toContain('bash');
  });
});

describe('sesame completion zsh and fish', () => {
  it('zsh loads the same table through bashcompinit', async () => {
    const r = await runCli(['completion', 'zsh'], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('bashcompinit');
    expect(r.stdout).toContain('complete -o bashdefault -o default -F _sesame sesame');
    writeFileSync(path.join(work, 'body.bash'), r.stdout.split('\n').filter((l) => !l.startsWith('autoload')).join('\n'));
    expect(spawnSync('bash', ['-n', path.join(work, 'body.bash')]).status).toBe(0);
  });

  it('fish: one complete line per command and option', async () => {
    const r = await runCli(['completion', 'fish'], { cwd: work });
    expect(r.code).toBe(0);
    for (const cmd of program.commands) expect(r.stdout).toContain(`-a ${cmd.name()} -d `);
    expect(r.stdout).toContain("complete -c sesame -n '__fish_seen_subcommand_from cache; and __fish_seen_subcommand_from refresh' -l namespace -s n -r");
    expect(r.stdout).toContain("-l env-file -r -F");
  });

  it('an unknown shell is a usage error (exit 2)', async () => {
    const r = await runCli(['completion', 'tcsh'], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give bash, zsh or fish');
  });
});
