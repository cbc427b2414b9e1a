/**
 * A reader that stops early (`sesame … | head -1`) closes the CLI's stdout: the CLI stops
 * quietly, with no stack trace on stderr. The real bin (`npm run build` first).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.js';

/** Run the bin with its stdout closed before it writes; its exit code and stderr. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c) => {
      stderr += String(c);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('a closed stdout', () => {
  it('ends help quietly', async () => {
    const { code, stderr } = await withClosedStdout(['--help']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  const writesLines = ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done'];

  it('passes the death of a command with nothing to mask by SIGPIPE through, as a shell would (141)', async () => {
    const { code, stderr } = await withClosedStdout(['run', '--', ...writesLines]);
    expect(stderr).toBe('');
    expect(code).toBe(128 + 13);
  });

  it('ends sesame run quietly when it masks the output of a command that still writes', async () => {
    const { code, stderr } = await withClosedStdout(['run', '--env', 'H=secret://env/HOME', '--', ...writesLines]);
    expect(stderr).not.toMatch(/EPIPE|Error|at /);
    expect(code).toBe(0);
  });
});
