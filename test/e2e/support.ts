/**
 * End-to-end helpers: a temp directory with a `sesame.yaml`, and the real `sesame` bin run in it
 * (through `runCli`, which needs `npm run build` first). Every command runs in a fresh process
 * with only PATH, HOME and the variables a test passes, so no developer credentials leak in.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { type CliResult, runCli } from '../support/cli.js';

export type { CliResult } from '../support/cli.js';

/** A directory under the OS temp dir, removed by `remove()`. */
export interface Workdir {
  dir: string;
  /** Write `sesame.yaml` (from an object, or YAML text) and return its path. */
  config(doc: Record<string, unknown> | string, file?: string): string;
  /** Write any file under the directory and return its path. */
  file(name: string, text: string): string;
  remove(): void;
}

export function workdir(label: string): Workdir {
  const dir = mkdtempSync(path.join(tmpdir(), `sesame-e2e-${label}-`));
  return {
    dir,
    config(doc, file = 'sesame.yaml') {
      return this.file(file, typeof doc === 'string' ? doc : stringify(doc));
    },
    file(name, text) {
      const full = path.join(dir, name);
      writeFileSync(full, text, { mode: 0o600 });
      return full;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run `sesame <args>` in a work directory (its `sesame.yaml` is the default config). */
export function sesame(
  wd: Workdir,
  args: string[],
  options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return runCli(args, {
    cwd: wd.dir,
    env: options.env ?? {},
    input: options.input,
    timeoutMs: options.timeoutMs ?? 25_000,
  });
}

/** Describe a CLI result for assertion messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** The command succeeded and printed exactly `value` (plus the newline) on stdout. */
export function expectValue(r: CliResult, value: string): void {
  expect(r.code, show(r)).toBe(0);
  expect(r.stdout).toBe(`${value}\n`);
}

/**
 * The command failed with `code`, printed nothing on stdout, and one `sesame: …` error line on
 * stderr (other stderr lines may only be structured log lines, e.g. a store's configuration
 * warning); none of `secrets` appears anywhere. Returns the error line.
 */
export function expectFailure(r: CliResult, code: 1 | 2, secrets: readonly string[]): string {
  expect(r.code, show(r)).toBe(code);
  expect(r.signal).toBeNull();
  expect(r.stdout, show(r)).toBe('');
  const lines = withoutNodeWarnings(r.stderr)
    .split('\n')
    .filter((l) => l.length > 0);
  const errors = lines.filter((l) => l.startsWith('sesame: '));
  expect(errors, show(r)).toHaveLength(1);
  for (const l of lines) if (!l.startsWith('sesame: ')) expect(() => JSON.parse(l), show(r)).not.toThrow();
  expectNoSecrets(r, secrets);
  return errors[0] as string;
}

/**
 * stderr without Node's own process warnings (`(node:123) Warning: …` up to its
 * `(Use \`node --trace-warnings …\`)` line). The AWS SDK emits one on Node < 22
 * (NodeVersionSupportWarning); it is the runtime's, not a Sesame error line.
 */
export function withoutNodeWarnings(stderr: string): string {
  return stderr.replace(/^\(node:\d+\) [\s\S]*?^\(Use `node --trace-warnings[^\n]*\n?/gm, '');
}

/** None of `secrets` appears on stdout or stderr. */
export function expectNoSecrets(r: CliResult, secrets: readonly string[]): void {
  for (const s of secrets) {
    expect(s.length, 'a secret to look for must be long enough to mean something').toBeGreaterThanOrEqual(6);
    expect(r.stderr.includes(s), `stderr holds a secret value (${s.slice(0, 3)}…)\n${show(r)}`).toBe(false);
    expect(r.stdout.includes(s), `stdout holds a secret value (${s.slice(0, 3)}…)\n${show(r)}`).toBe(false);
  }
}

/** The `FAIL <step>` line of `sesame stores test` and the `fix:` line right under it. */
export function failedStep(r: CliResult, step: string): { detail: string; fix: string | undefined } {
  const lines = r.stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`FAIL ${step}: `));
  expect(at, `no "FAIL ${step}" line\n${show(r)}`).toBeGreaterThanOrEqual(0);
  const next = lines[at + 1] ?? '';
  const fix = /^\s+fix: (.*)$/.exec(next)?.[1];
  return { detail: (lines[at] as string).slice(`FAIL ${step}: `.length), fix };
}

/** The `ok   <step>` line of `sesame stores test`, or undefined. */
export function okStep(r: CliResult, step: string): string | undefined {
  const line = r.stdout.split('\n').find((l) => l.startsWith(`ok   ${step}: `));
  return line?.slice(`ok   ${step}: `.length);
}
