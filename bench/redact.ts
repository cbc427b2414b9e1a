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

export interface RedactBenchResult {
  throughput: { textMB: number; knownValues: number; redactMBps: number; streamMBps: number };
  adds: { known: number; bulkUsPerValue: number; oneMoreUs: number; matcherMB: number; scanLineUs: number; scanMBps: number }[];
  big: { known: number; addAndScanMs: number; matcherMB: number }[];
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

const matcherMB = (r: Redactor) => (r as unknown as { matcher: { bytes: number } }).matcher.bytes / 2 ** 20;

export async function benchRedact(options: { quick?: boolean } = {}): Promise<RedactBenchResult> {
  const quick = options.quick === true;
  // (a) throughput
  const r = new Redactor();
  const known = Array.from({ length: 1000 }, (_, i) => value20(i));
  for (const v of known) r.add(v);
  const text = logText((quick ? 1 : 4) * 2 ** 20, known);
  r.redact('warm up');
  let sink = '';
  const bench = new Bench({ time: quick ? 500 : 3000, warmup: true, warmupTime: quick ? 100 : 500 });
  bench
    .add('redact() 4 MB', () => {
      sink = r.redact(text);
    })
    .add('stream 4 MB in 64 KiB chunks', async () => {
      const stream = r.createStream();
      let n = 0;
      stream.on('data', (c: Buffer) => {
        n += c.length;
      });
      const ended = new Promise((resolve) => stream.on('end', resolve));
      const buf = Buffer.from(text);
      for (let i = 0; i < buf.length; i += 65536) stream.write(buf.subarray(i, i + 65536));
      stream.end();
      await ended;
      if (n === 0) throw new Error('stream wrote nothing');
    });
  await bench.run();
  if (!sink.includes('***') || sink.includes(known[0]!)) throw new Error('redaction did not mask');
  const meanMs = (i: number) => {
    const res = bench.tasks[i]?.result as { latency?: { mean: number } } | undefined;
    if (!res?.latency) throw new Error(`task ${i} has no result`);
    return res.latency.mean;
  };
  const mb = text.length / 2 ** 20;
  const throughput = { textMB: mb, knownValues: known.length, redactMBps: mb / (meanMs(0) / 1000), streamMBps: mb / (meanMs(1) / 1000) };

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
    const t0 = performance.now();
    red.add(v);
    const out = red.redact(`x ${v} y`);
    const ms = performance.now() - t0;
    if (out !== 'x *** y') throw new Error('1 MB value not masked');
    if (k === 1 || k === 4) big.push({ known: k, addAndScanMs: ms, matcherMB: matcherMB(red) });
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
    '',
    `### (a) Throughput over ${fmt(b.throughput.textMB, 0)} MB of log-like text, ${b.throughput.knownValues} known values of 20 bytes`,
    '',
    '| path | MB/s |',
    '|---|---|',
    `| \`redact()\` on the whole text | ${fmt(b.throughput.redactMBps)} |`,
    `| masking stream, 64 KiB chunks | ${fmt(b.throughput.streamMBps)} |`,
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
    '| known 1 MB values | add + scan of the last one | matcher memory |',
    '|---|---|---|',
    ...b.big.map((x) => `| ${x.known} | ${fmt(x.addAndScanMs, 0)} ms | ${fmt(x.matcherMB)} MiB |`),
    '',
  ].join('\n');
}
