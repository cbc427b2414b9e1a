/**
 * The stores that need no service, through the real CLI, as docs/stores.md describes them:
 * `env` (implicit, and declared with a prefix), `file` (root relative to the config, maxSize),
 * and pins on stores that keep no versions, which are refused instead of serving the current
 * value. Needs `npm run build`.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import {
  expectFailure,
  expectValue,
  failedStep,
  okStep,
  sesame,
  show,
  type Workdir,
  workdir,
} from './support.js';

describe('env and file stores through the CLI', () => {
  let wd: Workdir;

  beforeAll(() => {
    wd = workdir('local');
    mkdirSync(path.join(wd.dir, 'secrets', 'db'), { recursive: true });
    wd.file('secrets/db/password', 'file-db-password-5c1e\n');
    wd.file('secrets/big', 'x'.repeat(64));
    wd.config({
      stores: [
        { name: 'files', type: 'file', root: './secrets', maxSize: 32 },
        { name: 'app-env', type: 'env', prefix: 'APP_' },
      ],
    });
  });
  afterAll(() => wd?.remove());

  it('the implicit env store reads a variable of the process', async () => {
    expectValue(
      await sesame(wd, ['resolve', 'secret://env/DB_PASSWORD'], { env: { DB_PASSWORD: 'env-db-pass-1f2e' } }),
      'env-db-pass-1f2e',
    );
  });

  it('a declared env store prepends its prefix', async () => {
    expectValue(
      await sesame(wd, ['resolve', 'secret://app-env/TOKEN'], { env: { APP_TOKEN: 'app-token-3d4c' } }),
      'app-token-3d4c',
    );
    const r = await sesame(wd, ['resolve', 'secret://app-env/TOKEN'], { env: { TOKEN: 'unprefixed-9a8b' } });
    expect(expectFailure(r, 1, ['unprefixed-9a8b'])).toContain('environment variable APP_TOKEN is not set');
  });

  it('a file store reads a file under its root (relative to the config), as it is', async () => {
    expectValue(await sesame(wd, ['resolve', 'secret://files/db/password']), 'file-db-password-5c1e\n');
  });

  it('relative paths in settings resolve against the config file, not the working directory', async () => {
    const r = await runCli(
      ['resolve', 'secret://files/db/password', '--config', path.join(wd.dir, 'sesame.yaml')],
      {
        cwd: tmpdir(),
      },
    );
    expectValue(r, 'file-db-password-5c1e\n');
  });

  it('a file store refuses files above maxSize and names leaving the root', async () => {
    expect(expectFailure(await sesame(wd, ['resolve', 'secret://files/big']), 1, [])).toContain(
      'above maxSize 32',
    );
    // Refused by the resolver before the store sees it: bad input (exit 2) that says what is wrong.
    expect(expectFailure(await sesame(wd, ['resolve', 'secret://files/../sesame.yaml']), 2, [])).toContain(
      'has a "." or ".." path segment',
    );
    const nul = expectFailure(await sesame(wd, ['resolve', 'secret://files/db%00password']), 2, []);
    expect(nul).toContain('contains a control character (U+0000)');
    expect(nul).not.toContain('..');
  });

  it('stores test on env and file', async () => {
    const env = await sesame(wd, ['stores', 'test', 'app-env', '--sample', 'TOKEN']);
    expect(env.code, show(env)).toBe(1);
    expect(failedStep(env, 'read').fix).toBe(
      'set APP_TOKEN in the environment of the process that runs sesame, or check the name and the store prefix (APP_)',
    );
    const files = await sesame(wd, ['stores', 'test', 'files', '--sample', 'db/password']);
    expect(files.code, show(files)).toBe(0);
    for (const step of ['root', 'list', 'read']) expect(okStep(files, step), show(files)).toBeDefined();
    expect(files.stdout).not.toContain('file-db-password-5c1e');
  });

  it('refuses ?version= and ?stage= on stores without versions (exit 2) instead of serving the current value', async () => {
    const env = { DB_PASSWORD: 'env-db-pass-1f2e' };
    for (const ref of ['secret://env/DB_PASSWORD?version=2', 'secret://env/DB_PASSWORD?stage=AWSPREVIOUS']) {
      const line = expectFailure(await sesame(wd, ['resolve', ref], { env }), 2, ['env-db-pass-1f2e']);
      expect(line).toContain(
        ref.includes('stage')
          ? '[env] ?stage= pins an AWS staging label; stores of type env have no stages: drop ?stage='
          : '[env] stores of type env keep no versions: drop ?version=',
      );
    }
    const line = expectFailure(await sesame(wd, ['resolve', 'secret://files/db/password?version=1']), 2, [
      'file-db-password-5c1e',
    ]);
    expect(line).toContain('[files] stores of type file keep no versions: drop ?version=');
  });
});
