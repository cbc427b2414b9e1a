/**
 * The excerpt a syntax error shows (`file:line:col`, the line, a caret) prints the line of the
 * user's file that failed to parse. A JSON config or document is often one line (written by a
 * tool, minified into a variable): that line is the whole file, every credential in it. The
 * excerpt shows the part around the fault with credentials starred out, wherever on the line they
 * are. The real bin: `npx tsc -p tsconfig.build.json` first.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-excerpt-'));
const secret = (label: string) => `${label}-${randomBytes(8).toString('hex')}`;

function expectNone(text: string, secrets: Record<string, string>): void {
  const shown = Object.entries(secrets)
    .filter(([, v]) => Array.from({ length: v.length - 7 }, (_, i) => v.slice(i, i + 8)).some((p) => text.includes(p)))
    .map(([k]) => k);
  expect(shown, text.replace(/[0-9a-f]{16}/g, '<hex>')).toEqual([]);
}

describe('the excerpt of a syntax error', () => {
  it('of a one-line JSON config shows no credential of it, and still points at the fault', async () => {
    const cwd = dir();
    const s = { token: secret('hvs'), password: secret('pw'), dsn: secret('dsn') };
    const config = JSON.stringify({
      database: 'sqlite:./.sesame/s.db',
      stores: [{ name: 'v', type: 'vault', address: 'http://vault:8200', auth: { method: 'token', token: s.token } }],
      connections: [{ name: 'c', type: 'generic', fields: { password: s.password, dsn: `mysql://app:${s.dsn}@db/app` } }],
    });
    // A stray token just before the end, after every credential.
    writeFileSync(path.join(cwd, 'sesame.json'), `${config.slice(0, -1)} x}`);

    const r = await runCli(['resolve', 'secret://env/HOME', '--config', 'sesame.json'], { cwd });

    expect(r.code).toBe(2);
    expectNone(r.stderr, s);
    expect(r.stderr).toMatch(/^sesame: config sesame\.json:1:\d+: Expected ',' or '}' after property value \(not valid JSON\)\n/);
    // The caret sits under the stray "x".
    const [, line = '', caret = ''] = r.stderr.split('\n');
    expect(line.charAt(caret.indexOf('^'))).toBe('x');
  });

  it('of a resolve --file document on one line shows no value of a credential field', async () => {
    const cwd = dir();
    const s = { password: secret('pw'), apiKey: secret('key') };
    writeFileSync(path.join(cwd, 'doc.json'), `{"db": {"password": "${s.password}"}, "apiKey": "${s.apiKey}", "b": "x" "c"}`);

    const r = await runCli(['resolve', '--file', 'doc.json'], { cwd });

    expect(r.code).toBe(2);
    expectNone(r.stderr, s);
    expect(r.stderr).toContain('doc.json:1:');
  });

  it('of a YAML line with a URL holding a password stars its user and password', async () => {
    const cwd = dir();
    const s = { url: secret('urlpw') };
    writeFileSync(path.join(cwd, 'sesame.yaml'), ['stores:', '  - name: w', '    type: http', `    url: http://reader:${s.url}@h/{name}: x`, ''].join('\n'));

    const r = await runCli(['resolve', 'secret://env/HOME'], { cwd });

    expect(r.code).toBe(2);
    expectNone(r.stderr, s);
    expect(r.stderr).toMatch(/\| {5}url: http:\/\/\*+@h\/\{name\}: x\n/);
  });
});
