/** `sesame run` masking end to end (the real bin, built by `npm run build`), and failing closed. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { maskOutput } from '../../src/cli/commands/run.js';
import { FormMatcher, type MatcherSnapshot } from '../../src/redact/matcher.js';
import { MASKING_FAILED, Redactor } from '../../src/redact/redactor.js';
import { BIN, runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-run-mask-'));
const b64 = (s: string) => Buffer.from(s).toString('base64');

function randomValue(length: number, seed: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.~!@#%^&*()';
  let x = seed;
  const parts: string[] = [];
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    parts.push(alphabet[(x >>> 8) % alphabet.length]!);
  }
  return parts.join('');
}

/** Any 8-character window of `value` that shows in `out`. */
function leaks(value: string, out: string): string[] {
  const found: string[] = [];
  for (let i = 0; i + 8 <= value.length; i += 4) if (out.includes(value.slice(i, i + 8))) found.push(value.slice(i, i + 8));
  return found;
}

describe('sesame run masks big values end to end', () => {
  it('a 25,000-character value (the size that broke the old pattern)', async () => {
    const big = randomValue(25_000, 1);
    const r = await runCli(['run', '--env', 'T=secret://env/BIG', '--', 'sh', '-c', 'echo hello; printf %s "$T"'], {
      env: { BIG: big },
      cwd: dir(),
    });
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'hello\n***' });
  }, 30_000);

  it('a 1 MB value from a file store', async () => {
    const cwd = dir();
    const big = randomValue(1 << 20, 2);
    mkdirSync(path.join(cwd, 'secrets'));
    // One environment string may not exceed 128 KiB on Linux, so the child reads the value from a
    // file; Sesame knows it from the JSON secret it resolved (every string inside is masked).
    writeFileSync(path.join(cwd, 'secrets', 'bundle.json'), JSON.stringify({ id: 'bundle-id-0001', big }));
    writeFileSync(path.join(cwd, 'big.txt'), big);
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'stores:\n  - name: files\n    type: file\n    root: ./secrets\n    maxSize: 4194304\n');
    const r = await runCli(
      ['run', '--env', 'T=secret://files/bundle.json#/id', '--', 'sh', '-c', 'echo hello; echo "$T"; cat big.txt; cat big.txt >&2'],
      { cwd, timeoutMs: 60_000 },
    );
    expect(r).toMatchObject({ code: 0, stdout: 'hello\n***\n***', stderr: '***' });
  }, 90_000);

  it('a 1 MB value put in the environment fails with a clear message, not a crash', async () => {
    const cwd = dir();
    const big = randomValue(1 << 20, 3);
    mkdirSync(path.join(cwd, 'secrets'));
    writeFileSync(path.join(cwd, 'secrets', 'big'), big);
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'stores:\n  - name: files\n    type: file\n    root: ./secrets\n');
    const r = await runCli(['run', '--env', 'T=secret://files/big', '--', 'sh', '-c', 'echo started'], { cwd, timeoutMs: 60_000 });
    expect(r.stdout).toBe('');
    expect(r.code).toBe(2);
    // Which variable, how big, the limit, and what to do instead; not "unexpected error".
    expect(r.stderr).toMatch(/^sesame: cannot start sh: T is 1,048,576 bytes, more than Linux takes for one environment variable \(131,072 bytes, name included\)/);
    expect(r.stderr).toMatch(/sesame resolve/);
    expect(r.stderr).not.toMatch(/unexpected/);
    expect(leaks(big, r.stderr)).toEqual([]);
  }, 90_000);
});

describe('sesame run masks however the child writes', () => {
  it('a value written in two pieces 200 ms apart', async () => {
    const r = await runCli(['run', '--env', 'T=secret://env/V', '--', 'sh', '-c', 'printf s3cr; sleep 0.2; printf 3tvalue'], {
      env: { V: 's3cr3tvalue' },
      cwd: dir(),
    });
    expect(r).toMatchObject({ code: 0, stdout: '***' });
  });

  it('base64 of the value followed by a newline, or preceded by a byte', async () => {
    const tok = 'ghp_Zx9Q2mL7vB4nT1kR8sW3yH6jD0fC5aE';
    const r = await runCli(
      ['run', '--env', 'TOK=secret://env/TOK', '--', 'sh', '-c', `printf '%s\\n' "$TOK" | base64; printf 'x%s' "$TOK" | base64`],
      { env: { TOK: tok }, cwd: dir() },
    );
    expect(r.code).toBe(0);
    const [first, second] = r.stdout.trim().split('\n');
    // Visible: at most the mixed character at each edge and the encoding of the newline / the x.
    expect(first).toMatch(/^\*\*\*.{0,4}$/);
    expect(second).toMatch(/^.{0,3}\*\*\*.{0,3}$/);
    expect(r.stdout).not.toContain(b64(tok).slice(8, 16));
  });

  it('binary output (not UTF-8) comes out byte for byte on stdout and stderr, with a value in it masked', () => {
    const cwd = dir();
    const value = 'blob-neighbour-s3cret';
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + (i >> 3)) & 0xff));
    writeFileSync(path.join(cwd, 'blob'), Buffer.concat([noise, Buffer.from(value), noise]));
    const expected = Buffer.concat([noise, Buffer.from('***'), noise]);
    // As `sesame run -- pg_dump -Fc > dump` would: sesame run's own output goes to files.
    const r = spawnSync(
      'sh',
      ['-c', `"$NODE" "$BIN" run --env T=secret://env/V -- sh -c 'cat blob; cat blob >&2' > out 2> err`],
      { cwd, env: { PATH: process.env.PATH ?? '', NODE: process.execPath, BIN, V: value } },
    );
    expect(r.status, String(r.stderr)).toBe(0);
    expect(readFileSync(path.join(cwd, 'out')).equals(expected)).toBe(true);
    expect(readFileSync(path.join(cwd, 'err')).equals(expected)).toBe(true);
  });

  it('a password URL-encoded or JSON-escaped as other encoders write it (form encoding, RFC 3986, Go and Python JSON)', async () => {
    const password = "Pa!ss*w0rd(é)<&>~'x";
    // The child's own encoders, as a Go or Python program or an HTML form would write the value.
    const script = [
      'const v = process.env.PW;',
      'const esc = (re) => JSON.stringify(v).replace(re, (c) => "\\\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));',
      'console.log("form=" + new URLSearchParams({ v }).toString().slice(2));',
      'console.log("rfc3986=" + encodeURIComponent(v).replace(/[!\'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase()));',
      'console.log("python=" + esc(/[^\\x00-\\x7f]/g));',
      'console.error("go=" + esc(/[<>&]/g));',
    ].join('\n');
    const r = await runCli(['run', '--env', 'PW=secret://env/PW', '--', process.execPath, '-e', script], {
      env: { PW: password },
      cwd: dir(),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('form=***\nrfc3986=***\npython="***"\n');
    expect(r.stderr).toBe('go="***"\n');
  });
});

class FailingMatcher extends FormMatcher {
  override snapshot(): MatcherSnapshot {
    throw new Error('matcher failed holding hunter2-topsecret');
  }
}

class FailingRedactor extends Redactor {
  protected override createMatcher(): FormMatcher {
    return new FailingMatcher();
  }
}

describe('sesame run output when masking fails', () => {
  it('withholds the output (a notice instead), and reads the child to the end', async () => {
    const redactor = new FailingRedactor();
    redactor.add('hunter2-topsecret');
    const source = new PassThrough();
    let out = '';
    const target = new Writable({
      write(chunk, _enc, done) {
        out += String(chunk);
        done();
      },
    });
    const copied = maskOutput(source, target, redactor);
    for (let i = 0; i < 1000; i++) source.write(`line ${i} hunter2-topsecret\n`);
    source.end();
    await copied;
    expect(out).toBe(`\n${MASKING_FAILED}\n`);
    expect(source.readableEnded).toBe(true);
  });
});
