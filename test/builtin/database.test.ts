import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  MIGRATIONS,
  type Migration,
  openDatabase,
  parseDatabaseUrl,
  redactDatabaseUrl,
  SchemaTooNewError,
} from '../../src/db/index.js';
import { ConfigError } from '../../src/errors.js';
import { openBackend, tempDir, useDatabases } from './helpers.js';

const databases = useDatabases();

describe('parseDatabaseUrl', () => {
  it('resolves a relative SQLite path against the base directory', () => {
    expect(parseDatabaseUrl('sqlite:./.sesame/sesame.db', '/srv/app')).toEqual({
      kind: 'sqlite',
      file: '/srv/app/.sesame/sesame.db',
    });
    expect(parseDatabaseUrl('sqlite:/var/lib/sesame.db', '/srv/app')).toEqual({ kind: 'sqlite', file: '/var/lib/sesame.db' });
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ kind: 'sqlite', file: ':memory:' });
  });

  it('accepts postgres:// and postgresql:// URLs', () => {
    expect(parseDatabaseUrl('postgres://u@h:5432/db').kind).toBe('postgres');
    expect(parseDatabaseUrl('postgresql://u@h/db').kind).toBe('postgres');
  });

  it('rejects other URLs with a config error that hides the password', () => {
    const err = (() => {
      try {
        parseDatabaseUrl('mysql://root:hunter2@db/x');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toContain('mysql://root:***@db/x');
    expect(err?.message).not.toContain('hunter2');
    expect(() => parseDatabaseUrl('sqlite:')).toThrow('"sqlite:" needs a file path');
  });

  it('redacts the password of a PostgreSQL URL', () => {
    expect(redactDatabaseUrl('postgres://app:s3cr3t@db:5432/sesame')).toBe('postgres://app:***@db:5432/sesame');
    expect(redactDatabaseUrl('postgres://app@db/sesame')).toBe('postgres://app@db/sesame');
  });
});

describe('MIGRATIONS', () => {
  it('is numbered 1, 2, 3… in order with no gap', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    for (const m of MIGRATIONS) expect(m.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });

  it('refuses a list with a gap before touching the database', async () => {
    const broken: Migration[] = [{ ...(MIGRATIONS[0] as Migration), version: 2 }];
    await expect(openDatabase('sqlite::memory:', { migrations: broken })).rejects.toThrow('versions must be 1, 2, 3');
  });
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`migrate on ${dialect}`, () => {
    it('applies every migration once and records it', async () => {
      const database = await openDatabase(await databases.url(dialect));
      try {
        const first = await database.migrate();
        expect(first).toEqual({ from: 0, to: MIGRATIONS.length, applied: MIGRATIONS.map((m) => `${m.version}-${m.name}`) });
        const second = await database.migrate();
        expect(second.applied).toEqual([]);
        expect(await database.schemaVersion()).toBe(MIGRATIONS.length);
      } finally {
        await database.close();
      }
    });

    it('applies an appended migration to an existing database', async () => {
      const url = await databases.url(dialect);
      const before = await openDatabase(url);
      await before.migrate();
      await before.close();
      const audit: Migration = {
        version: MIGRATIONS.length + 1,
        name: 'test-audit',
        async up(db, { types }) {
          await db.schema
            .createTable('test_audit')
            .addColumn('id', 'integer', (c) => c.primaryKey())
            .addColumn('digest', types.binary, (c) => c.notNull())
            .execute();
        },
      };
      const after = await openDatabase(url, { migrations: [...MIGRATIONS, audit] });
      try {
        expect((await after.migrate()).applied).toEqual([`${audit.version}-test-audit`]);
        await sql`insert into test_audit (id, digest) values (1, ${Buffer.from([1, 2, 3])})`.execute(after.kysely);
        const rows = await sql<{ digest: Buffer }>`select digest from test_audit`.execute(after.kysely);
        expect(Buffer.from(rows.rows[0]?.digest ?? []).equals(Buffer.from([1, 2, 3]))).toBe(true);
      } finally {
        await after.close();
      }
    });

    it('rolls back a migration that fails, leaving the schema version as it was', async () => {
      const url = await databases.url(dialect);
      const failing: Migration = {
        version: MIGRATIONS.length + 1,
        name: 'test-failing',
        async up(db) {
          await db.schema.createTable('half_done').addColumn('id', 'integer').execute();
          throw new Error('boom');
        },
      };
      const database = await openDatabase(url, { migrations: [...MIGRATIONS, failing] });
      try {
        await expect(database.migrate()).rejects.toThrow('boom');
        expect(await database.schemaVersion()).toBe(0);
        await expect(sql`select * from half_done`.execute(database.kysely)).rejects.toThrow();
      } finally {
        await database.close();
      }
    });

    it('refuses a schema newer than this Sesame with a message saying to upgrade', async () => {
      const url = await databases.url(dialect);
      const database = await openDatabase(url);
      await database.migrate();
      await database.kysely
        .insertInto('schema_migrations')
        .values({ version: 99, name: 'from-the-future', applied_at: new Date().toISOString() })
        .execute();
      await database.close();

      const err = await openBackend({ database: url }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaTooNewError);
      expect((err as Error).message).toBe(
        `database schema version 99 is newer than this Sesame (${MIGRATIONS.length}): upgrade Sesame`,
      );
    });
  });
}

describe('openDatabase', () => {
  it('opens SQLite in WAL mode with full fsync at commit', async () => {
    const database = await openDatabase(`sqlite:${path.join(tempDir(), 'x.db')}`);
    try {
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.kysely);
      const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(database.kysely);
      expect(mode.rows[0]?.journal_mode).toBe('wal');
      expect(sync.rows[0]?.synchronous).toBe(2);
    } finally {
      await database.close();
    }
  });

  it('reports an unreachable PostgreSQL without its password', async () => {
    const err = await openDatabase('postgres://app:pw-not-shown@127.0.0.1:1/sesame').catch((e: unknown) => e);
    expect((err as Error).message).toContain('could not connect to database postgres://app:***@127.0.0.1:1/sesame');
    expect((err as Error).message).not.toContain('pw-not-shown');
  });
});
