/**
 * A PostgreSQL URL's libpq time limits: `connect_timeout` (seconds) bounds connecting,
 * `statement_timeout` (ms, also sent to the server) moves the client's own statement limit past the
 * server's. Sesame never waits for ever: a 0 connect_timeout is refused.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { parseDatabaseUrl } from '../../src/db/url.js';
import { ConfigError } from '../../src/errors.js';

describe('PostgreSQL time limits from the URL', () => {
  it('defaults to 5 s to connect and 10 s a statement', () => {
    expect(parseDatabaseUrl('postgres://u@h:5432/db')).toMatchObject({ connectTimeoutMs: 5000, statementTimeoutMs: 10_000 });
  });

  it("takes libpq's connect_timeout (seconds) and statement_timeout (ms, plus 5 s for the server's cancel)", () => {
    expect(parseDatabaseUrl('postgres://u@h/db?connect_timeout=12&statement_timeout=30000')).toMatchObject({
      connectTimeoutMs: 12_000,
      statementTimeoutMs: 35_000,
    });
    // statement_timeout=0 turns the server's limit off; Sesame's own stays.
    expect(parseDatabaseUrl('postgres://u@h/db?statement_timeout=0')).toMatchObject({ statementTimeoutMs: 10_000 });
  });

  it('refuses a limit that is not whole, or a connect_timeout of 0 (wait for ever), saying what to write', () => {
    for (const [url, said] of [
      ['postgres://u@h/db?connect_timeout=0', /connect_timeout=0 .* would wait for ever.*connect_timeout=10/],
      ['postgres://u@h/db?connect_timeout=2.5', /connect_timeout=2\.5 .* not a whole number.*seconds/],
      ['postgres://u@h/db?statement_timeout=30s', /statement_timeout=30s .* not a whole number.*milliseconds/],
      ['postgres://u:pw@h/db?connect_timeout=-1', /connect_timeout=-1/],
    ] as const) {
      const err = (() => {
        try {
          parseDatabaseUrl(url);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(said);
      expect((err as Error).message).not.toContain('pw');
    }
  });

  describe('against a server that accepts and never answers', () => {
    let silent: Server;
    let port = 0;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      silent = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      port = (silent.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });

    it('gives up connecting after connect_timeout, not the 5 s default', async () => {
      const started = Date.now();
      const err = await openDatabase(`postgres://u@127.0.0.1:${port}/db?connect_timeout=1`).then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = Date.now() - started;
      expect((err as Error).message).toMatch(/could not connect to database/);
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(4500);
    });
  });
});
