/**
 * Names as long as the stores take them, through the API. Fastify refuses a path parameter over
 * 100 characters by default, so a builtin secret named with more (the builtin takes 512; AWS 512,
 * and an ARN is often past 100) could be written by the CLI but not read, listed by name, changed
 * or deleted through the API, the admin UI or `--server`: a 414 in Fastify's own shape, which
 * echoed the whole path. And a path that is not valid percent-encoding got Fastify's shape too.
 * Every such answer is now Sesame's `{ error: { code, message, fix } }`, without the path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let admin: string;

beforeAll(async () => {
  t = await startTestServer();
  admin = (await t.token('admin', { reveal: true })).token;
});
afterAll(() => t.close());

const segment = (name: string) => encodeURIComponent(name);

describe('long names through the API', () => {
  it('a builtin secret with the longest name the builtin takes (512) is written, read, described, deleted and restored', async () => {
    const name = `team/${'n'.repeat(507)}`;
    expect(name).toHaveLength(512);
    const put = await t.call('PUT', `/api/v1/secrets/${segment(name)}`, { token: admin, body: { value: 'long-name-value-7d21' } });
    expect(put.status, put.text).toBe(200);
    expect(put.body.name).toBe(name);
    const value = await t.call('GET', `/api/v1/secrets/${segment(name)}/value`, { token: admin });
    expect(value.status, value.text).toBe(200);
    expect(value.body.value).toBe('long-name-value-7d21');
    const described = await t.call('GET', `/api/v1/secrets/${segment(name)}`, { token: admin });
    expect(described.status, described.text).toBe(200);
    expect((await t.call('GET', `/api/v1/secrets/${segment(name)}/versions`, { token: admin })).status).toBe(200);
    expect((await t.call('DELETE', `/api/v1/secrets/${segment(name)}`, { token: admin })).status).toBe(200);
    const after = await t.call('GET', `/api/v1/secrets/${segment(name)}`, { token: admin });
    expect(after.body.deletedAt, after.text).toEqual(expect.any(String));
    expect((await t.call('POST', `/api/v1/secrets/${segment(name)}/restore`, { token: admin })).status).toBe(200);
    expect((await t.call('GET', `/api/v1/secrets/${segment(name)}/value`, { token: admin })).body.value).toBe(
      'long-name-value-7d21',
    );
  });

  it('so is a name of 300 non-ASCII characters (1,800 characters percent-encoded)', async () => {
    const name = 'é'.repeat(300);
    expect(segment(name)).toHaveLength(1800);
    const put = await t.call('PUT', `/api/v1/secrets/${segment(name)}`, { token: admin, body: { value: 'v' } });
    expect(put.status, put.text).toBe(200);
    expect((await t.call('GET', `/api/v1/secrets/${segment(name)}`, { token: admin })).body.name).toBe(name);
  });

  it('a name past the builtin limit is the builtin refusing it, with its limit, not the router', async () => {
    const r = await t.call('PUT', `/api/v1/secrets/${'n'.repeat(513)}`, { token: admin, body: { value: 'v' } });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/longer than 512 characters/);
  });
});

describe("the router's refusals are Sesame's answers", () => {
  it('a path segment past any name (over 8,192 characters): 414 with what to do, the path not echoed', async () => {
    const r = await t.call('GET', `/api/v1/secrets/${'x'.repeat(9000)}`, { token: admin });
    expect(r.status).toBe(414);
    expect(r.body).toEqual({
      error: {
        code: 'uri_too_long',
        message: 'a segment of the request path is longer than 8192 characters',
        fix: 'names are at most 512 characters in the builtin store (each store has its own limit): check the name',
      },
    });
    expect(r.text).not.toContain('xxxxxxxx');
  });

  it('a path that is not valid percent-encoding: 400 with what to do, the path not echoed', async () => {
    const r = await t.call('GET', '/api/v1/secrets/bad%E0%A4%Aname', { token: admin });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: {
        code: 'bad_url',
        message: 'the request path is not valid percent-encoding',
        fix: 'encode each name in the path as encodeURIComponent does (a % must start %XX of UTF-8 bytes)',
      },
    });
    expect(r.text).not.toContain('bad%E0');
  });
});
