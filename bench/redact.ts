/**
 * Redaction benchmarks (issue: masking audit):
 *  (a) throughput of `redact()` and of the masking stream over 4 MB of log-like text, with 1,000
 *      known values of 20 bytes (some occurring in the text);
 *  (b) cost of adding values: N values of 20 bytes added, then one scan (which builds them in),
 *      per value; and the marginal cost of one more value plus a scan once N are known;
 *  (c) 1 MB values: time to add one and scan, and the matcher's memory per value.
 */
import { Bench } from 'tinybench';
import { Redactor } from '../src/redact/redactor.js';
import { growth } from './curves.js';

interface Throughput {
  textMB: number;
  knownValues: number;
  valueBytes: number;
  redactMBps: number;
  streamMBps: number;
}

export interface RedactBenchResult {
  throughput: Throughput & { long: Throughput };
  adds: { known: number; bulkUsPerValue: number; oneMoreUs: number; matcherMB: number; scanLineUs: number; scanMBps: number }[];
  big: { known: number; addAndScanMs: number; matcherMB: number; heapMB: number }[];
}

function value20(i: number): string {
  // 20 bytes, token-like.
  let x = (i + 1) * 2654435761;
  let out = 'tk_';
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  for (let k = 0; k < 17; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += alphabet[(x >>> 8) % alphabet.length];
  }
  return out;
}

function bigValue(length: number, seed: number): string {
  const parts: string[] = [];
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    parts.push(String.fromCharCode(33 + ((x >>> 8) % 94)));
  }
  return parts.join('');
}

function logText(bytes: number, values: string[]): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line =
      i % 50 === 0
        ? `2026-11-23T15:45:${String(i % 60).padStart(2, '0')}.123Z WARN token=${values[i % values.length]} rejected for user=alice\n`
        : `2026-11-23T15:45:${String(i % 60).padStart(2, '0')}.123Z INFO GET /api/v1/items/${i} status=200 dur=${i % 97}ms user=alice req=${(i * 7919).toString(36)}\n`;
    lines.push(line);
    size += line.length;
  }
  return lines.join('');
}

/** The heap in use after a full collection (the bench runs with --expose-gc). */
const heapMB = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

const matcherMB = (r: Redactor) => (r as unknown as { matcher: { bytes: number } }).matcher.bytes / 2 ** 20;

/** MB/s of `redact()` and of the masking stream over log-like text holding some of `known`. */
async function throughputOf(known: string[], quick: boolean) {
  const r = new Redactor();
  for (const v of known) r.add(v);
  const text = logText((quick ? 1 : 4) * 2 ** 20, known);
  r.redact('warm up');
  let sink = '';
  let streamed = '';
  const bench = new Bench({ time: quick ? 500 : 3000, warmup: true, warmupTime: quick ? 100 : 500 });
  bench
    .add('redact()', () => {
      sink = r.redact(text);
    })
    .add('stream in 64 KiB chunks', async () => {
      const stream = r.createStream();
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      const ended = new Promise((resolve) => stream.on('end', resolve));
      const buf = Buffer.from(text);
      for (let i = 0; i < buf.length; i += 65536) stream.write(buf.subarray(i, i + 65536));
      stream.end();
      await ended;
      streamed = Buffer.concat(parts).toString();
    });
  await bench.run();
  if (!sink.includes('***') || sink.includes(known[0]!)) throw new Error('redaction did not mask');
  if (streamed !== sink) throw new Error('the stream and redact() disagree');
  const meanMs = (i: number) => {
    const res = bench.tasks[i]?.result as { latency?: { mean: number } } | undefined;
    if (!res?.latency) throw new Error(`task ${i} has no result`);
    return res.latency.mean;
  };
  const mb = text.length / 2 ** 20;
  return {
    textMB: mb,
    knownValues: known.length,
    valueBytes: known[0]!.length,
    redactMBps: mb / (meanMs(0) / 1000),
    streamMBps: mb / (meanMs(1) / 1000),
  };
}

export async function benchRedact(options: { quick?: boolean } = {}): Promise<RedactBenchResult> {
  const quick = options.quick === true;
  // (a) throughput
  const short = await throughputOf(
    Array.from({ length: 1000 }, (_, i) => value20(i)),
    quick,
  );
  // Certificate-sized values (past the matcher's head length: found by their head, confirmed by hashes).
  const long = await throughputOf(
    Array.from({ length: quick ? 100 : 1000 }, (_, i) => bigValue(4096, i + 1)),
    quick,
  );
  const throughput = { ...short, long };

  // (b) adding values of 20 bytes
  const adds: RedactBenchResult['adds'] = [];
  // A log line of ~1 KB and 1 MB of log text, scanned with N values known (the cost curve of issue #17).
  const line = logText(1024, ['none-of-the-values']).slice(0, 1024);
  const mbText = logText(2 ** 20, [value20(0)]);
  for (const n of quick ? [100, 1000, 10_000] : [100, 10_000, 100_000]) {
    const red = new Redactor();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) red.add(value20(i));
    red.redact('one scan builds them in');
    const bulk = performance.now() - t0;
    const extra = 1000;
    const t1 = performance.now();
    for (let i = 0; i < extra; i++) {
      red.add(value20(n + i));
      red.redact('a log line after each add');
    }
    const more = performance.now() - t1;
    const lines = 2000;
    const t2 = performance.now();
    for (let i = 0; i < lines; i++) red.redact(line);
    const scanLineUs = ((performance.now() - t2) * 1000) / lines;
    const t3 = performance.now();
    const masked = red.redact(mbText);
    const scanMBps = mbText.length / 2 ** 20 / ((performance.now() - t3) / 1000);
    if (masked.includes(value20(0))) throw new Error('a known value was not masked');
    adds.push({ known: n, bulkUsPerValue: (bulk * 1000) / n, oneMoreUs: (more * 1000) / extra, matcherMB: matcherMB(red), scanLineUs, scanMBps });
  }

  // (c) 1 MB values
  const big: RedactBenchResult['big'] = [];
  const red = new Redactor();
  // Quick: no 1 MB values (seconds each); the table says so.
  for (let k = 1; k <= (quick ? 0 : 4); k++) {
    const v = bigValue(2 ** 20, k);
    const heap0 = heapMB();
    const t0 = performance.now();
    red.add(v);
    const out = red.redact(`x ${v} y`);
    const ms = performance.now() - t0;
    if (out !== 'x *** y') throw new Error('1 MB value not masked');
    // The heap grows by the matcher and by the value itself (kept so a bounded redactor can rebuild).
    if (k === 1 || k === 4) big.push({ known: k, addAndScanMs: ms, matcherMB: matcherMB(red), heapMB: heapMB() - heap0 });
  }
  return { throughput, adds, big };
}

export function formatRedactBench(b: RedactBenchResult): string {
  const fmt = (n: number, d = 1) => n.toFixed(d);
  return [
    '## Redaction (masking)',
    '',
    'Aho–Corasick automata over every masked form of every value (value, base64 at 3 byte alignments,',
    'base64url, URL-encoded, JSON-escaped, hex up to 4 KiB, lines), extended incrementally as values are added.',
    'Forms longer than 128 characters are indexed by their first 128 and confirmed by hashes where those match.',
    '',
    `### (a) Throughput over ${fmt(b.throughput.textMB, 0)} MB of log-like text (every 50th line holds a known value)`,
    '',
    '| known values | `redact()` on the whole text | masking stream, 64 KiB chunks |',
    '|---|---|---|',
    ...[b.throughput, b.throughput.long].map(
      (t) => `| ${t.knownValues.toLocaleString('en-US')} of ${t.valueBytes.toLocaleString('en-US')} bytes | ${fmt(t.redactMBps)} MB/s | ${fmt(t.streamMBps)} MB/s |`,
    ),
    '',
    '### (b) Adding values of 20 bytes',
    '',
    '"bulk": N adds then one scan (which builds them in), per value. "one more": with N known, one',
    'add followed by one `redact()` of a log line, averaged over 1,000 such pairs (amortized merges included).',
    '',
    '"scan": `redact()` of a 1 KB log line (mean of 2,000) and of 1 MB of log text, with N values known.',
    '',
    '| known values | bulk, µs per value | one more add + scan, µs | scan of a 1 KB line | scan of 1 MB | matcher memory |',
    '|---|---|---|---|---|---|',
    ...b.adds.map(
      (a) =>
        `| ${a.known.toLocaleString('en-US')} | ${fmt(a.bulkUsPerValue)} | ${fmt(a.oneMoreUs)} | ${fmt(a.scanLineUs, 2)} µs | ` +
        `${fmt(a.scanMBps)} MB/s | ${fmt(a.matcherMB)} MiB |`,
    ),
    '',
    `Order of growth in the number of known values: scan of a line ${growth(b.adds.map((a) => ({ x: a.known, y: a.scanLineUs })))}; ` +
      `matcher memory ${growth(b.adds.map((a) => ({ x: a.known, y: a.matcherMB })))}; ` +
      `bulk adding, total ${growth(b.adds.map((a) => ({ x: a.known, y: a.bulkUsPerValue * a.known })))}.`,
    '',
    '### (c) Values of 1 MB (random printable ASCII)',
    '',
    b.big.length === 0
      ? 'Not measured in this run (quick mode).'
      : `Measured with ${b.big.map((x) => x.known).join(' and with ')} known 1 MB value${b.big.length > 1 ? 's' : ''} (not 100,000: that would be 100 GB of values).`,
    'Time = adding the last value plus the first scan that builds it in.',
    '',
    '"heap": what the heap grew by for the last value (after a full collection): the matcher, and the',
    'value itself, which the redactor keeps so a bounded one can rebuild its matcher.',
    '',
    '| known 1 MB values | add + scan of the last one | matcher memory | heap |',
    '|---|---|---|---|',
    ...b.big.map((x) => `| ${x.known} | ${fmt(x.addAndScanMs, 0)} ms | ${fmt(x.matcherMB, 2)} MiB | ${fmt(x.heapMB, 1)} MiB |`),
    '',
  ].join('\n');
}
