/**
 * `sesame run`'s arguments are read without commander on the common path (run-args.ts). The
 * hand reader must read exactly what commander reads from the same command definition, and hand
 * everything else (help, unknown options, missing values) to commander: both are run here on the
 * same argument lists.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readRunArguments } from '../../src/cli/commands/run-args.js';
import { createCliContext } from '../../src/cli/context.js';
import { buildProgram, main } from '../../src/cli/main.js';

/** What commander passes to `run`'s action for `sesame run …args`, or the error code it exits with. */
async function commanderReads(args: string[]): Promise<{ flags: object; command: string[] } | { error: string }> {
  const ctx = createCliContext({ stdout: new PassThrough(), stderr: new PassThrough() });
  const argv = ['node', 'sesame', 'run', ...args];
  const program = await buildProgram(ctx, argv);
  let read: { flags: object; command: string[] } | undefined;
  const run = program.commands.find((c) => c.name() === 'run');
  run?.action((command: string[], flags: object) => {
    read = { flags: { ...flags }, command };
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    return { error: (err as { code?: string }).code ?? 'error' };
  }
  return read ?? { error: 'no action' };
}

const READ_BY_HAND: string[][] = [
  ['--', 'true'],
  ['true'],
  ['echo', 'a', '--env', 'X=1'],
  ['--env', 'A=secret://env/HOME', '--', 'sh', '-c', 'echo $A'],
  ['-e', 'A=1', '-e', 'B=2', '--', 'env'],
  ['-eA=1', '--env=B=2', 'env'],
  ['--env-file', '.env', '--env-file=.env.local', '--', 'x'],
  ['--connection', 'warehouse', '--prefix', 'WH_', '--overwrite', '--', 'psql'],
  ['--connection=warehouse', '--prefix=', '--', 'psql'],
  ['-c', 'other.yaml', '-n', 'acme.devops', '--', 'x'],
  ['-cother.yaml', '-nacme', 'x', '--', 'y'],
  ['--config=a.yaml', '--namespace=', 'x'],
  ['--namespace', '--', 'x'],
  ['--env', '--overwrite', '--', 'x'],
  ['-n=acme', 'x'],
  ['--', '--', 'x'],
  ['--', '-x'],
  ['-', 'x'],
  ['--overwrite', 'x', '--help'],
  ['x', '--version'],
];

const LEFT_TO_COMMANDER: string[][] = [
  [],
  ['--'],
  ['--help'],
  ['-h', '--', 'x'],
  ['--env', 'A=1', '--help', '--', 'x'],
  ['--unknown', '--', 'x'],
  ['-x', 'true'],
  ['--env'],
  ['--env', 'A=1'],
  ['--connection'],
  ['--overwrite=yes', '--', 'x'],
  ['--json', '--', 'x'],
  ['--version'],
];

describe('sesame run arguments read without commander', () => {
  it.each(READ_BY_HAND.map((args) => [args.join(' '), args]))('reads %j as commander does', async (_, args) => {
    const byHand = readRunArguments(args as string[]);
    expect(byHand).toBeDefined();
    expect(await commanderReads(args as string[])).toEqual(byHand);
  });

  it.each(LEFT_TO_COMMANDER.map((args) => [args.join(' '), args]))('leaves %j to commander', async (_, args) => {
    expect(readRunArguments(args as string[])).toBeUndefined();
    // Commander answers these itself: help, or a usage error.
    const read = await commanderReads(args as string[]);
    expect(read).toHaveProperty('error');
    expect((read as { error: string }).error).toMatch(/^commander\./);
  });

  it('main() runs the command through the hand reader, with usage errors as before', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const chunks: string[] = [];
    err.on('data', (c) => chunks.push(String(c)));
    const ctx = createCliContext({ stdout: out, stderr: err, cwd: '/' });
    expect(await main(['node', 'sesame', 'run', '--prefix', 'X_', '--', 'true'], ctx)).toBe(2);
    expect(chunks.join('')).toContain('--prefix goes with --connection NAME');
    const ctx2 = createCliContext({ stdout: new PassThrough(), stderr: new PassThrough(), cwd: '/' });
    expect(await main(['node', 'sesame', 'run', '--', 'sh', '-c', 'exit 3'], ctx2)).toBe(3);
  });
});
