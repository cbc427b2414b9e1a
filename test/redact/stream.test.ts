import { PassThrough, type Transform } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormMatcher, type MatcherSnapshot } from '../../src/redact/matcher.js';
import { MASK, MASKING_FAILED, MIN_MASK_LENGTH, Redactor } from '../../src/redact/redactor.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Collects what a masking stream writes. */
function collect(stream: Transform) {
  const state = { out: '' };
  stream.on('data', (c) => {
    state.out += String(c);
  });
  const ended = new Promise<void>((resolve) => stream.on('end', resolve));
  return { state, ended };
}

async function through(r: Redactor, chunks: (string | Buffer)[], pauseMs = 0): Promise<string> {
  const stream = r.createStream();
  const { state, ended } = collect(stream);
  for (const c of chunks) {
    stream.write(c);
    if (pauseMs) await sleep(pauseMs);
  }
  stream.end();
  await ended;
  return state.out;
}

function leakedWindows(value: string, out: string): string[] {
  const leaks: string[] = [];
  for (let i = 0; i + MIN_MASK_LENGTH <= value.length; i++) {
    const w = value.slice(i, i + MIN_MASK_LENGTH);
    if (out.includes(w)) leaks.push(w);
  }
  return leaks;
}

describe('masking stream', () => {
  it('masks a value split across stream chunks', async () => {
    const r = new Redactor();
    r.add('hunter2-topsecret');
    const input = new PassThrough();
    const masked = input.pipe(r.createStream());
    const { state, ended } = collect(masked);
    input.write('start hunter2-');
    input.write('top');
    input.write('secret end\nsecond hunter2-topsecret');
    input.end();
    await ended;
    expect(state.out).toBe(`start ${MASK} end\nsecond ${MASK}`);
  });

  it('(a) s3c, a 100 ms pause, then r3t: at most the 3 released characters show, the value never does', async () => {
    const r = new Redactor();
    r.add('s3cr3t');
    const out = await through(r, ['s3c', 'r3t\n'], 100);
    expect(out).toBe(`s3c${MASK}\n`);
    expect(out).not.toContain('s3cr3t');
  });

  it('holds a partial match of 4+ characters for as long as the pause lasts', async () => {
    const r = new Redactor();
    r.add('s3cr3tvalue');
    const stream = r.createStream({ releaseAfterMs: 5 });
    const { state, ended } = collect(stream);
    stream.write('x s3cr');
    await sleep(200);
    expect(state.out).toBe('x ');
    stream.write('3tvalue y');
    stream.end();
    await ended;
    expect(state.out).toBe(`x ${MASK} y`);
  });

  it('writes a prompt at once when it cannot be the start of a value', async () => {
    const r = new Redactor();
    r.add('abcdefgh');
    const stream = r.createStream();
    const { state } = collect(stream);
    stream.write('Password: ');
    await sleep(10);
    expect(state.out).toBe('Password: ');
    // A tail of at most 3 characters that could start a value is released after a short pause.
    stream.write('prompt> abc');
    await sleep(10);
    expect(state.out).toBe('Password: prompt> ');
    await sleep(100);
    expect(state.out).toBe('Password: prompt> abc');
    stream.end();
  });

  it('writes a held partial match that never completes at the end of the stream', async () => {
    const r = new Redactor();
    r.add('abcdefgh');
    expect(await through(r, ['x abcdef'])).toBe('x abcdef');
  });

  it('(b) masks a 1 MB value written in 1000 random chunks with random pauses', async () => {
    const r = new Redactor();
    let seed = 42;
    const rand = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const chars: string[] = [];
    for (let i = 0; i < 1 << 20; i++) chars.push(String.fromCharCode(33 + Math.floor(rand() * 94)));
    const big = chars.join('');
    r.add(big);
    const text = Buffer.from(`begin\n${big}\nend\n`);
    const cuts = new Set<number>();
    while (cuts.size < 999) cuts.add(1 + Math.floor(rand() * (text.length - 1)));
    const points = [0, ...[...cuts].sort((a, b) => a - b), text.length];
    const stream = r.createStream();
    const { state, ended } = collect(stream);
    for (let i = 0; i + 1 < points.length; i++) {
      stream.write(text.subarray(points[i], points[i + 1]));
      if (rand() < 0.02) await sleep(Math.floor(rand() * 80));
    }
    stream.end();
    await ended;
    expect(state.out).toBe(`begin\n${MASK}\nend\n`);
  }, 60_000);

  it('(c) property: however the output is split, no 4-character window of any value survives', async () => {
    // Values and fillers from disjoint alphabets, so any surviving window can only come from a value.
    const valueChar = fc.constantFrom(...'abcxyzABC0189+/-_é密🔑'.match(/./gu)!);
    const fillerChar = fc.constantFrom(' ', '\n', ':', '.', ',', '#');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: valueChar, minLength: 4, maxLength: 40 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.string({ unit: fillerChar, maxLength: 8 }), { minLength: 5, maxLength: 5 }),
        fc.array(fc.nat({ max: 1000 }), { maxLength: 16 }),
        async (values, fillers, cutSeeds) => {
          const r = new Redactor();
          for (const v of values) r.add(v);
          const text = values.map((v, i) => `${fillers[i]}${v}`).join('') + fillers[4];
          const bytes = Buffer.from(text);
          const cuts = [...new Set(cutSeeds.map((x) => x % (bytes.length + 1)))].sort((x, y) => x - y);
          const chunks: Buffer[] = [];
          let at = 0;
          for (const c of [...cuts, bytes.length]) {
            chunks.push(bytes.subarray(at, c));
            at = c;
          }
          const out = await through(r, chunks);
          expect(out).toBe(r.redact(text));
          for (const v of values) expect(leakedWindows(v, out)).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  }, 60_000);

  it('masks values added after the stream started, including in text it holds', async () => {
    const r = new Redactor();
    r.add('first-value');
    const stream = r.createStream();
    const { state, ended } = collect(stream);
    stream.write('a first-');
    r.add('late-secret');
    r.add('first-late');
    stream.write('late b late-secret c');
    stream.end();
    await ended;
    expect(state.out).toBe(`a ${MASK} b ${MASK} c`);
  });

  it('passes bytes that are not UTF-8 through unchanged (binary output), masking a value among them', async () => {
    const r = new Redactor();
    const value = 'binary-neighbour-s3cret';
    r.add(value);
    // Every byte value, truncated and overlong sequences, a lone surrogate encoded in UTF-8
    // (ED A0 80), F5+ leads: a pg_dump or tar stream holds all of them.
    const noise = Buffer.concat([
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.from([0xe2, 0x82, 0x41, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf5, 0x80, 0xf0, 0x9f, 0x94, 0xff, 0xc3]),
    ]);
    const input = Buffer.concat([noise, Buffer.from(value), noise, Buffer.from('é🔑'), noise]);
    const expected = Buffer.concat([noise, Buffer.from(MASK), noise, Buffer.from('é🔑'), noise]);
    for (const size of [1, 2, 3, 7, 64, input.length]) {
      const stream = r.createStream();
      const out: Buffer[] = [];
      stream.on('data', (c: Buffer) => out.push(c));
      const ended = new Promise<void>((resolve) => stream.on('end', resolve));
      for (let i = 0; i < input.length; i += size) stream.write(input.subarray(i, i + size));
      stream.end();
      await ended;
      expect(Buffer.concat(out).equals(expected), `chunks of ${size}`).toBe(true);
    }
  });

  it('decodes UTF-8 split inside a character and masks multi-byte values', async () => {
    const r = new Redactor();
    const value = 'ключ-🔑-密码';
    r.add(value);
    const bytes = Buffer.from(`[${value}]`);
    const chunks = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
    expect(await through(r, chunks)).toBe(`[${MASK}]`);
  });
});

class FailingMatcher extends FormMatcher {
  failAfter = 0;
  override snapshot(): MatcherSnapshot {
    if (this.failAfter-- <= 0) throw new Error('matcher failed holding hunter2-topsecret');
    return super.snapshot();
  }
}

class FailingRedactor extends Redactor {
  protected override createMatcher(): FormMatcher {
    return new FailingMatcher();
  }
  failAfter(n: number): this {
    (this.matcher as FailingMatcher).failAfter = n;
    return this;
  }
}

describe('masking stream fails closed', () => {
  it('writes the notice and withholds everything after a failure, without emitting an error', async () => {
    const r = new FailingRedactor().failAfter(1);
    r.add('hunter2-topsecret');
    const stream = r.createStream();
    let errored = false;
    stream.on('error', () => {
      errored = true;
    });
    const { state, ended } = collect(stream);
    stream.write('ok line hunter2-topsecret\n');
    stream.write('hunter2-topsecret again\n');
    stream.write('more output\n');
    stream.end();
    await ended;
    expect(errored).toBe(false);
    expect(state.out).toBe(`ok line ${MASK}\n\n${MASKING_FAILED}\n`);
    expect(r.failures).toBe(1);
  });
});
