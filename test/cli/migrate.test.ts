/**
 * `sesame migrate` through the real bin: builtin → AWS (emulator) and AWS → builtin, each
 * interrupted by a failing write part-way and finished by running the same command again, which
 * skips what was copied (compared by sha256) and copies the rest; --all-versions, --prefix and
 * --dry-run; no value on any output. In process: the progress bar on a terminal.
 *
 * Needs `npm run build` (the bin runs dist/).
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliContext } from '../../src/cli/context.js';
import { main } from '../../src/cli/main.js';
import { loadSesame } from '../../src/sesame.js';
import { expectNoSecrets, sesame, show, type Workdir, workdir } from '../e2e/support.js';
import { AWS_EMULATOR_CREDENTIALS, type AwsEmulator, startAwsEmulator } from '../emulators/index.js';

const BUILTIN = {
  'app/a': 'migrate-value-a-5f1c9e',
  'app/b': 'migrate-value-b-0d7a21',
  'app/c': JSON.stringify({ user: 'svc', password: 'migrate-value-c-88e4b0' }),
  'other/d': 'migrate-value-d-3c9f72',
};
const AWS_V1 = 'aws-version-one-71c2d9';
const AWS_V2 = 'aws-version-two-b81e04';
const AWS_BIG = `aws-big-value-${'x'.repeat(300)}`;
const AWS_PLAIN = 'aws-plain-value-4e0d1a';
const VALUES = [...Object.values(BUILTIN), 'migrate-value-c-88e4b0', AWS_V1, AWS_V2, AWS_BIG, AWS_PLAIN];

describe('sesame migrate', () => {
  let aws: AwsEmulator;
  let wd: Workdir;
  const awsStore = () => ({
    name: 'aws',
    type: 'aws-secrets-manager',
    region: 'us-east-1',
    endpoint: aws.url,
    auth: { method: 'static', accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId, secretAccessKey: AWS_EMULATOR_CREDENTIALS.secretAccessKey },
  });
  const config = (builtin: Record<string, unknown> = {}) =>
    wd.config({ stores: [awsStore(), { name: 'builtin', type: 'builtin', ...builtin }] });
  const run = async (args: string[]) => {
    const r = await sesame(wd, args, { timeoutMs: 60_000 });
    expectNoSecrets(r, VALUES);
    // Piped: no progress bar.
    expect(r.stderr).not.toContain('\r');
    return r;
  };
  const awsValues = async (names: string[]) => {
    const doc = wd.file('check.json', JSON.stringify(Object.fromEntries(names.map((n) => [n, `secret://aws/${n}`]))));
    const r = await sesame(wd, ['resolve', '--file', doc], { timeoutMs: 60_000 });
    expect(r.code, show(r)).toBe(0);
    return JSON.parse(r.stdout) as Record<string, string>;
  };

  beforeAll(async () => {
    aws = await startAwsEmulator();
    wd = workdir('migrate');
    config();
    const s = loadSesame({ cwd: wd.dir });
    try {
      const client = await s.store('builtin').client();
      for (const [name, value] of Object.entries(BUILTIN)) await client.write?.(name, value, { namespace: '' });
    } finally {
      await s.close();
    }
  }, 60_000);
  afterAll(async () => {
    await aws?.stop();
    wd?.remove();
  });

  it('builtin → AWS: a write refused part-way fails that secret only; running again copies it and skips the rest', async () => {
    aws.deny('secretsmanager:CreateSecret', { secret: 'app/b' });
    const first = await run(['migrate', '--from', 'builtin', '--to', 'aws', '--prefix', 'app/']);
    expect(first.code, show(first)).toBe(1);
    expect(first.stdout).toContain('copied app/a\n');
    expect(first.stdout).toMatch(/^FAIL app\/b: .*CreateSecret/m);
    expect(first.stdout).toContain('builtin → aws: 3 secrets, 2 copied, 0 skipped (already equal), 1 failed; run the same command again');
    expect(aws.secretNames().sort()).toEqual(['app/a', 'app/c']);

    aws.allowAll();
    const again = await run(['migrate', '--from', 'builtin', '--to', 'aws', '--prefix', 'app/', '--json']);
    expect(again.code, show(again)).toBe(0);
    const report = JSON.parse(again.stdout) as { summary: Record<string, number>; results: Array<{ name: string; outcome: string }> };
    expect(report.summary).toMatchObject({ total: 3, copied: 1, skipped: 2, failed: 0 });
    expect(report.results.find((r) => r.name === 'app/b')?.outcome).toBe('copied');
    expect(await awsValues(['app/a', 'app/b', 'app/c'])).toEqual({ 'app/a': BUILTIN['app/a'], 'app/b': BUILTIN['app/b'], 'app/c': BUILTIN['app/c'] });
    // --prefix kept other/d where it was.
    expect(aws.secretNames()).not.toContain('other/d');
  }, 180_000);

  it('--dry-run says what would be copied and writes nothing', async () => {
    aws.seed('app/a', 'changed-in-aws-2b7e1d');
    const r = await run(['migrate', '--from', 'builtin', '--to', 'aws', '--dry-run']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('would copy app/a\n');
    expect(r.stdout).toContain('would copy other/d\n');
    expect(r.stdout).toContain('dry run: builtin → aws: 4 secrets, 2 to copy, 2 already equal, 0 failed');
    expect((await awsValues(['app/a']))['app/a']).toBe('changed-in-aws-2b7e1d');
    expect(aws.secretNames()).not.toContain('other/d');
  }, 120_000);

  it('AWS → builtin with --all-versions: a write refused part-way (value too large), then resumed after raising the limit', async () => {
    aws.seed('svc/versioned', AWS_V1);
    aws.seed('svc/versioned', AWS_V2);
    aws.seed('svc/big', AWS_BIG);
    aws.seed('svc/plain', AWS_PLAIN);
    config({ maxValueSize: 100 });
    const first = await run(['migrate', '--from', 'aws', '--to', 'builtin', '--prefix', 'svc/', '--all-versions']);
    expect(first.code, show(first)).toBe(1);
    expect(first.stdout).toMatch(/^FAIL svc\/big: .*maxValueSize/m);
    expect(first.stdout).toContain('copied svc/versioned (2 versions)\n');
    expect(first.stdout).toContain('aws → builtin: 3 secrets, 2 copied, 0 skipped (already equal), 1 failed');

    config();
    const again = await run(['migrate', '--from', 'aws', '--to', 'builtin', '--prefix', 'svc/', '--all-versions']);
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toContain('aws → builtin: 3 secrets, 1 copied, 2 skipped (already equal), 0 failed');

    const versions = await sesame(wd, ['secrets', 'versions', 'svc/versioned', '--json'], { timeoutMs: 60_000 });
    expect((JSON.parse(versions.stdout) as { versions: unknown[] }).versions).toHaveLength(2);
    const doc = wd.file('b.json', JSON.stringify({ v: 'secret://builtin/svc/versioned', v1: 'secret://builtin/svc/versioned?version=1', big: 'secret://builtin/svc/big' }));
    const r = await sesame(wd, ['resolve', '--file', doc], { timeoutMs: 60_000 });
    expect(JSON.parse(r.stdout)).toEqual({ v: AWS_V2, v1: AWS_V1, big: AWS_BIG });
  }, 180_000);

  it('usage errors exit 2: the same store twice, a missing --to, a read-only destination', async () => {
    const same = await run(['migrate', '--from', 'aws', '--to', 'aws']);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('--from and --to are both aws');
    const missing = await run(['migrate', '--from', 'aws']);
    expect(missing.code).toBe(2);
    const ro = await run(['migrate', '--from', 'builtin', '--to', 'env']);
    expect(ro.code, show(ro)).toBe(2);
    expect(ro.stderr).toContain('store env cannot be written');
  }, 120_000);

  it('a progress bar on a terminal (stderr); none when piped (the bin runs above with pipes)', async () => {
    const out = new PassThrough();
    const err = Object.assign(new PassThrough(), { isTTY: true });
    let stderr = '';
    err.on('data', (c) => {
      stderr += String(c);
    });
    out.resume();
    const code = await main(['node', 'sesame', 'migrate', '--from', 'builtin', '--to', 'aws', '--dry-run'], createCliContext({ cwd: wd.dir, stdout: out, stderr: err }));
    expect(code).toBe(0);
    // The house progress bar (src/cli/spinner.ts): label, bar, done/total, cleared at the end.
    const bar = /\rcomparing .*? (\d+)\/(\d+) 100%/.exec(stderr);
    expect(bar, JSON.stringify(stderr)).not.toBeNull();
    expect(bar?.[1]).toBe(bar?.[2]);
    expect(stderr.endsWith('\r\u001b[K')).toBe(true);
    for (const v of VALUES) expect(stderr).not.toContain(v);
  }, 60_000);
});
