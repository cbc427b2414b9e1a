/**
 * `sesame migrate --dry-run` "reads and compares, writes nothing" (docs/migrate.md). Into (or
 * out of) a builtin store in a folder where it was never used, it created a master key file and
 * a database, and said "created master key …; back it up". Through the real bin (needs
 * `npm run build`).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectNoSecrets, sesame, show, type Workdir, workdir } from '../e2e/support.js';

const VALUE = 'dry-run-value-5d2e71';

describe('sesame migrate --dry-run with a builtin store never used', () => {
  const dirs: Workdir[] = [];
  afterAll(() => {
    for (const wd of dirs) wd.remove();
  });
  const setup = () => {
    const wd = workdir('migrate-dry');
    dirs.push(wd);
    mkdirSync(path.join(wd.dir, 'secrets/app'), { recursive: true });
    writeFileSync(path.join(wd.dir, 'secrets/app/a'), VALUE);
    wd.config({ stores: [{ name: 'files', type: 'file', root: './secrets' }] });
    return wd;
  };

  it('into it: lists what would be copied, creates no key and no database', async () => {
    const wd = setup();
    const r = await sesame(wd, ['migrate', '--from', 'files', '--to', 'builtin', '--dry-run']);
    expectNoSecrets(r, [VALUE]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('would copy app/a\n');
    expect(r.stdout).toContain('dry run: files → builtin: 1 secret, 1 to copy, 0 already equal, 0 failed');
    expect(r.stderr).not.toContain('created master key');
    expect(existsSync(path.join(wd.dir, '.sesame')), readdirSync(wd.dir).join(' ')).toBe(false);

    // The real run then copies it (and makes the key, saying so).
    const real = await sesame(wd, ['migrate', '--from', 'files', '--to', 'builtin']);
    expect(real.code, show(real)).toBe(0);
    expect(real.stdout).toContain('copied app/a\n');
    expect(existsSync(path.join(wd.dir, '.sesame/master.key'))).toBe(true);
    const again = await sesame(wd, ['migrate', '--from', 'files', '--to', 'builtin', '--dry-run']);
    expect(again.stdout, show(again)).toContain('dry run: files → builtin: 1 secret, 0 to copy, 1 already equal, 0 failed');
  });

  it('out of it: nothing to copy, creates no key and no database', async () => {
    const wd = setup();
    wd.config({
      stores: [
        { name: 'files', type: 'file', root: './secrets' },
        { name: 'other', type: 'builtin' },
      ],
    });
    const r = await sesame(wd, ['migrate', '--from', 'builtin', '--to', 'other', '--dry-run']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('dry run: builtin → other: 0 secrets, 0 to copy, 0 already equal, 0 failed');
    expect(existsSync(path.join(wd.dir, '.sesame'))).toBe(false);
  });
});
