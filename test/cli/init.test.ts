/**
 * First use of a folder: `sesame init`, `sesame keys init`, and the master key made on first
 * use of an empty database (and only of an empty one), through the real bin.
 */
import { existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { INIT_CONFIG, INIT_DATABASE, INIT_MASTER_KEY } from '../../src/cli/commands/init.js';
import { loadConfig } from '../../src/config/load.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { runner, tempDir } from './first-use-helpers.js';

const sesame = runner();
const mode = (file: string) => statSync(file).mode & 0o777;

/** The first YAML block of the README's Configuration section, as a user would copy it. */
function readmeConfigurationBlock(): string {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Configuration'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README has no yaml block under ## Configuration');
  return block;
}

describe('sesame init', () => {
  it('makes a commented sesame.yaml, a 0600 master key in a 0700 .sesame, the database and a .gitignore entry, and says what is next', async () => {
    const cwd = tempDir();
    const r = await sesame(['init'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(readFileSync(path.join(cwd, 'sesame.yaml'), 'utf8')).toBe(INIT_CONFIG);
    expect(mode(path.join(cwd, '.sesame', 'master.key'))).toBe(0o600);
    expect(mode(path.join(cwd, '.sesame'))).toBe(0o700);
    expect(existsSync(path.join(cwd, '.sesame', 'sesame.db'))).toBe(true);
    expect(readFileSync(path.join(cwd, '.gitignore'), 'utf8')).toContain('\n.sesame/\n');
    expect(r.stdout).toMatch(/^sesame: created sesame\.yaml /);
    expect(r.stdout).toMatch(
      /sesame: created master key [0-9a-f]{16} in \.sesame\/master\.key \(mode 0600\): back it up/,
    );
    expect(r.stdout).toContain('sesame: created database .sesame/sesame.db');
    expect(r.stdout).toContain('Next:\n  sesame secrets set db/password');
    // What it says to do next works.
    expect((await sesame(['secrets', 'set', 'db/password'], { cwd, input: 'init-pw-1618' })).code).toBe(0);
    expect(await sesame(['resolve', 'secret://builtin/db/password'], { cwd })).toMatchObject({
      code: 0,
      stdout: 'init-pw-1618\n',
    });
  }, 120_000);

  it('refuses to replace sesame.yaml without --force; --force replaces it and keeps the key and the secrets', async () => {
    const cwd = tempDir();
    expect((await sesame(['init'], { cwd })).code).toBe(0);
    expect((await sesame(['secrets', 'set', 'kept', 'kept-value-1'], { cwd })).code).toBe(0);
    const key = readFileSync(path.join(cwd, '.sesame', 'master.key'), 'utf8');
    writeFileSync(path.join(cwd, 'sesame.yaml'), '# mine\n');

    const refused = await sesame(['init'], { cwd });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      'sesame: sesame.yaml exists: nothing was changed (pass --force to replace it; the master key and database are kept)\n',
    );
    expect(readFileSync(path.join(cwd, 'sesame.yaml'), 'utf8')).toBe('# mine\n');

    const forced = await sesame(['init', '--force'], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/replaced sesame\.yaml .*\n.*kept master key [0-9a-f]{16}/);
    expect(forced.stdout).toContain('kept database .sesame/sesame.db');
    expect(forced.stdout).toContain('.gitignore already ignores .sesame/');
    expect(readFileSync(path.join(cwd, '.sesame', 'master.key'), 'utf8')).toBe(key);
    expect(await sesame(['resolve', 'secret://builtin/kept'], { cwd })).toMatchObject({
      code: 0,
      stdout: 'kept-value-1\n',
    });
  }, 120_000);

  it('adds .sesame/ to an existing .gitignore once, keeping what it held', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, '.gitignore'), 'node_modules');
    expect((await sesame(['init'], { cwd })).code).toBe(0);
    const text = readFileSync(path.join(cwd, '.gitignore'), 'utf8');
    expect(text.startsWith('node_modules\n')).toBe(true);
    expect(text.match(/^\.sesame\/$/gm)).toHaveLength(1);
  }, 120_000);

  it('writes to --config in another folder and names it in the next steps', async () => {
    const cwd = tempDir();
    mkdirSync(path.join(cwd, 'deploy'));
    const r = await sesame(['init', '--config', 'deploy/sesame.yaml'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(mode(path.join(cwd, 'deploy', '.sesame', 'master.key'))).toBe(0o600);
    expect(r.stdout).toContain('sesame secrets set db/password --config deploy/sesame.yaml');
    expect((await sesame(['init', '--config', 'x.json'], { cwd })).code).toBe(2);
  }, 120_000);

  it('creates the folders of --config that do not exist yet (as git init <path> does), and says so', async () => {
    const cwd = tempDir();
    const r = await sesame(['init', '--config', 'deploy/prod/sesame.yaml'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(cwd, 'deploy', 'prod', 'sesame.yaml'))).toBe(true);
    expect(mode(path.join(cwd, 'deploy', 'prod', '.sesame', 'master.key'))).toBe(0o600);
    expect(r.stdout).toContain(`sesame: created folder ${path.join('deploy', 'prod')}\n`);
    expect(r.stdout).toContain('sesame secrets set db/password --config deploy/prod/sesame.yaml');
    // A path through a file is still refused, in one line that says what to do.
    writeFileSync(path.join(cwd, 'afile'), 'x');
    const bad = await sesame(['init', '--config', 'afile/sesame.yaml'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      `sesame: cannot create the folder afile for the config: afile is a file; pick another --config path\n`,
    );
  }, 120_000);

  it('writes a config that loads and names the database and key init makes', () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'sesame.yaml'), INIT_CONFIG);
    const config = loadConfig({ cwd, registry: defaultStoreTypes() });
    expect(config.database).toBe(INIT_DATABASE);
    expect(config.masterKey).toEqual(INIT_MASTER_KEY);
    expect(config.stores.map((s) => s.name).sort()).toEqual(['builtin', 'env']);
  });
});

describe('the master key on first use', () => {
  it("makes the key of the README's configuration in a fresh folder, with a notice on stderr", async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'sesame.yaml'), readmeConfigurationBlock());
    const set = await sesame(['secrets', 'set', 'db/password', 'readme-pw-2236'], { cwd });
    expect(set.code, set.stderr).toBe(0);
    const keyFile = path.join(cwd, '.sesame', 'master.key');
    expect(set.stderr).toMatch(
      new RegExp(
        `^sesame: created master key [0-9a-f]{16} in ${keyFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}; back it up`,
      ),
    );
    expect(mode(keyFile)).toBe(0o600);
    const again = await sesame(['resolve', 'secret://builtin/db/password'], { cwd });
    expect(again).toMatchObject({ code: 0, stdout: 'readme-pw-2236\n', stderr: '' });
  }, 120_000);

  it('stays an error for a database that holds secrets when its key file is missing, and makes no key', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'sesame.yaml'), readmeConfigurationBlock());
    expect((await sesame(['secrets', 'set', 'x', 'value-of-x-1'], { cwd })).code).toBe(0);
    const keyFile = path.join(cwd, '.sesame', 'master.key');
    unlinkSync(keyFile);
    const r = await sesame(['resolve', 'secret://builtin/x'], { cwd });
    // A master key problem is one of configuration: exit 2, as before this change.
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /master key file .* does not exist: restore it from your backup.*expects master key [0-9a-f]{16}/,
    );
    expect(existsSync(keyFile)).toBe(false);
    const keysInit = await sesame(['keys', 'init'], { cwd });
    expect(keysInit.code).toBe(2);
    expect(keysInit.stderr).toContain('restore it from your backup');
    expect(existsSync(keyFile)).toBe(false);
    // init refuses the same way, before writing anything.
    unlinkSync(path.join(cwd, 'sesame.yaml'));
    const init = await sesame(['init'], { cwd });
    expect(init.code).toBe(2);
    expect(init.stderr).toContain('restore it from your backup');
    expect(existsSync(path.join(cwd, 'sesame.yaml'))).toBe(false);
    expect(existsSync(keyFile)).toBe(false);
  }, 120_000);
});

describe('sesame keys init', () => {
  it('makes the key file the config names; refuses one that exists, and a key from the environment', async () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      'database: sqlite:./data/s.db\nmasterKey: { file: ./keys/master.key }\n',
    );
    const r = await sesame(['keys', 'init'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const keyFile = path.join(cwd, 'keys', 'master.key');
    expect(r.stdout).toMatch(
      /^created master key [0-9a-f]{16} in .*keys\/master\.key \(mode 0600\): back it up/,
    );
    expect(mode(keyFile)).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8');

    const again = await sesame(['keys', 'init'], { cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(
      /exists and holds master key [0-9a-f]{16}: nothing was changed \(sesame keys rotate replaces a key\)/,
    );
    expect(readFileSync(keyFile, 'utf8')).toBe(key);

    writeFileSync(
      path.join(cwd, 'env.yaml'),
      'database: sqlite:./data/e.db\nmasterKey: { env: MY_SESAME_KEY }\n',
    );
    const fromEnv = await sesame(['keys', 'init', '--config', 'env.yaml'], { cwd });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('masterKey comes from the environment variable MY_SESAME_KEY');
  }, 120_000);
});
