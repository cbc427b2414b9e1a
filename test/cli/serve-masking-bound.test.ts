/**
 * `sesame serve` bounds what its masking holds (docs/security.md, Masking limits): a server that
 * resolves more large values than fit keeps the newest, warns with counts only, and its output
 * holds none of the values.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Serving, serve, tempDir } from './first-use-helpers.js';

let server: Serving | undefined;
afterAll(async () => {
  await server?.stop();
});

describe('sesame serve: masking memory', () => {
  // A 4 KB value of random text costs masking about 35 KiB (its long forms are found by their
  // first 128 characters and confirmed by hashes: test/redact/long-values.test.ts), so 64 MiB
  // holds about 1,900 of them. Values that repeat a short block inside themselves are indexed
  // whole, at about 0.4 MiB each: 200 of them pass the bound quickly.
  it('resolving 200 values of 4 KB that repeat a 30-character block (about 77 MiB of masking) keeps it under 64 MiB, warns with counts only, and logs no value', async () => {
    const cwd = tempDir('sesame-mask-bound-');
    mkdirSync(path.join(cwd, 'secrets'));
    const values: string[] = [];
    for (let i = 0; i < 200; i++) {
      const v = randomBytes(15).toString('hex').repeat(137).slice(0, 4096);
      values.push(v);
      writeFileSync(path.join(cwd, 'secrets', `s${i}`), v);
    }
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'stores:\n  - name: files\n    type: file\n    root: ./secrets\n');
    server = await serve({ cwd, env: { SESAME_LOG_LEVEL: 'info' } });
    const { url, adminToken } = server;
    const created = await fetch(`${url}/api/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'runtime' }),
    });
    const createdBody = (await created.json()) as { token: string };
    expect(created.status, JSON.stringify(createdBody)).toBe(201);
    for (let i = 0; i < values.length; i++) {
      const r = await fetch(`${url}/api/v1/resolve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${createdBody.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reference: `secret://files/s${i}` }),
      });
      const body = (await r.json()) as { value: string };
      expect(r.status).toBe(200);
      expect(body.value).toBe(values[i]);
    }
    // Masking builds what it learnt at its next scan (resolves are not logged): a request the
    // server logs, then the matcher is built, found above the bound, and rebuilt.
    const missing = await fetch(`${url}/api/v1/no-such-route`);
    expect(missing.status).toBe(404);
    await expect.poll(() => server!.output(), { timeout: 20_000 }).toMatch(/masking memory reached 64 MiB: the \d+ values least recently resolved are no longer masked/);
    const out = server.output();
    // A value's first 30 characters are its whole block.
    for (const v of values) expect(out.includes(v.slice(0, 30)), 'a value in the server output').toBe(false);
  }, 180_000);
});
