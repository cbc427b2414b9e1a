/**
 * A `database: sqlite:<path>` that cannot be a database said only what SQLite says ("unable to
 * open database file", "file is not a database"), without which path was wrong or what to do.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const ENV = { SESAME_LOG_LEVEL: 'warn' };

async function listWith(database: string, setup: (cwd: string) => void) {
  const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-sqlite-open-'));
  setup(cwd);
  writeFileSync(path.join(cwd, 'sesame.yaml'), `database: ${database}\n`);
  return { cwd, result: await runCli(['secrets', 'list'], { cwd, env: ENV }) };
}

describe('a SQLite path that cannot be a database', () => {
  it('a directory: name a file inside it', async () => {
    const { cwd, result } = await listWith('sqlite:./data', (d) => mkdirSync(path.join(d, 'data')));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `sesame: [builtin] could not open database sqlite:${cwd}/data: it is a directory; name a file in it, e.g. sqlite:${cwd}/data/sesame.db\n`,
    );
  });

  it('a file that is not a SQLite database: the path names another file', async () => {
    const { cwd, result } = await listWith('sqlite:./sesame.key', (d) => writeFileSync(path.join(d, 'sesame.key'), 'not a database at all, but long enough to have a header page'));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `sesame: [builtin] could not open database sqlite:${cwd}/sesame.key: file is not a database; the path names a file that is not a SQLite database (another file, or one damaged): check database: in the config, or restore it from a backup\n`,
    );
  });

  it('a directory on the way that is a file: the path cannot be made', async () => {
    const { cwd, result } = await listWith('sqlite:./notes.txt/sesame.db', (d) => writeFileSync(path.join(d, 'notes.txt'), 'x'));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `sesame: [builtin] could not open database sqlite:${cwd}/notes.txt/sesame.db: its directory ${cwd}/notes.txt cannot be created (a part of the path is a file, not a directory); check database: in the config\n`,
    );
  });
});
