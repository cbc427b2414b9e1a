/**
 * `sesame init`: make a folder ready for Sesame — a commented `sesame.yaml` holding the defaults
 * spelled out, the master key (0600, in a 0700 `.sesame/`), the database, and `.sesame/` in
 * `.gitignore` — then say what was made and what to do next. An existing `sesame.yaml` is
 * replaced only with `--force`; an existing master key is never replaced (a new key cannot read
 * what the old one encrypted: `sesame keys rotate` replaces keys), and a database that expects a
 * key that is missing stays an error.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { openBuiltinBackend } from '../../encrypted-store/index.js';
import { UsageError } from '../../errors.js';
import { type CliContext, example, writeJson } from '../context.js';
import { readHostFile } from '../../host-file.js';

/** The file `sesame init` writes: the defaults spelled out, and the rest as commented examples. */
export const INIT_CONFIG = `# Sesame configuration. Docs: the README's Configuration section and docs/stores.md.
# \${env:NAME} and \${file:/path} are replaced in every string; unknown keys are errors.

# Sesame's own database: builtin secrets, API tokens, the audit trail.
database: sqlite:./.sesame/sesame.db          # or postgres://user@host:5432/sesame

# The key that encrypts the builtin secrets. Back it up: without it they cannot be read.
masterKey: { file: ./.sesame/master.key }     # or { env: SESAME_MASTER_KEY } (base64 of 32 bytes)

# Namespaces are dotted paths; a child inherits its parents' stores, secrets and connections.
# namespaces:
#   acme.secure: { isolated: true }           # does not inherit from acme

# Two stores exist without being declared: builtin (encrypted in the database above) and env.
# stores:
#   - name: aws
#     namespace: acme                         # default: the root namespace
#     type: aws-secrets-manager
#     region: us-east-1
#     auth: { method: default }
#     cache: { ttl: 5m, maxEntries: 1000, staleIfError: 1h }
#   - name: files
#     type: file
#     root: /run/secrets

# Connections hold references, never values.
# connections:
#   - name: jira
#     namespace: acme.devops
#     type: http
#     fields:
#       baseUrl: https://jira.example.com
#       auth: { method: bearer, token: "{{ secret://builtin/jira/token }}" }
`;

/** What INIT_CONFIG names (a test loads INIT_CONFIG and checks they agree). */
export const INIT_DATABASE = 'sqlite:./.sesame/sesame.db';
export const INIT_MASTER_KEY = { file: './.sesame/master.key' };

const GITIGNORE_ENTRY = '.sesame/';

/**
 * A path as one word of a POSIX shell command line, so that a printed command works when pasted:
 * left as is when it holds only characters no shell splits or expands, else in single quotes
 * (a `'` inside written `'\''`).
 */
export function shellWord(p: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

interface Flags {
  config?: string;
  force?: boolean;
  json?: boolean;
}

/** Write a file whole or not at all (temporary file, then rename). */
function writeAtomically(file: string, text: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}

/** Add `.sesame/` to the folder's `.gitignore` unless a line already ignores it. */
function ignoreDataDir(dir: string): { file: string; added: boolean; created: boolean } {
  const file = path.join(dir, '.gitignore');
  const existing = existsSync(file) ? readHostFile(file, { maxBytes: 16 * 1024 * 1024 }) : undefined;
  const lines = (existing ?? '').split(/\r?\n/).map((l) => l.trim());
  if (
    lines.some((l) => ['.sesame', '.sesame/', '/.sesame', '/.sesame/', '.sesame/*', '/.sesame/*'].includes(l))
  ) {
    return { file, added: false, created: false };
  }
  const block = `# Sesame's database and master key (never commit them)\n${GITIGNORE_ENTRY}\n`;
  if (existing === undefined) writeFileSync(file, block);
  else writeFileSync(file, `${existing}${existing === '' || existing.endsWith('\n') ? '' : '\n'}${block}`);
  return { file, added: true, created: existing === undefined };
}

export function registerInit(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('init')
    .description(
      'make this folder ready: a commented sesame.yaml, the master key, the database, .gitignore entries',
    )
    .addOption(new Option('-c, --config <file>', 'the config file to write').default('sesame.yaml'))
    .option('--force', 'replace an existing config file (the master key and database are kept)')
    .option('--json', 'print what was made as JSON');
  example(cmd, 'sesame init', 'sesame init --config deploy/sesame.yaml');
  cmd.action(async (flags: Flags) => {
    const file = path.resolve(ctx.cwd, flags.config ?? 'sesame.yaml');
    const dir = path.dirname(file);
    const shown = (p: string) => path.relative(ctx.cwd, p) || '.';
    if (!/\.ya?ml$/i.test(file))
      throw new UsageError(
        `sesame init writes YAML: give a .yaml path, e.g. --config ${shellWord(`${shown(dir)}/sesame.yaml`)}`,
      );
    // The folders of --config are made when missing (as `git init <path>` does), not refused:
    // only a path through a file is. The nearest existing one must be a folder.
    let nearest = dir;
    while (!existsSync(nearest)) nearest = path.dirname(nearest);
    if (!statSync(nearest).isDirectory()) {
      throw new UsageError(
        `cannot create the folder ${shown(dir)} for the config: ${shown(nearest)} is a file; pick another --config path`,
      );
    }
    const makeFolder = nearest !== dir;
    const replacing = existsSync(file);
    if (replacing && !flags.force) {
      throw new UsageError(
        `${shown(file)} exists: nothing was changed (pass --force to replace it; the master key and database are kept)`,
      );
    }
    // The key and database first: if the database refuses (it expects a key that is missing),
    // nothing else is touched.
    if (makeFolder) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        throw new UsageError(
          `cannot create the folder ${shown(dir)} for the config (${(err as NodeJS.ErrnoException).code ?? String(err)}): pick another --config path`,
        );
      }
    }
    const databaseFile = path.resolve(dir, '.sesame', 'sesame.db');
    const databaseExisted = existsSync(databaseFile);
    const backend = await openBuiltinBackend({
      database: INIT_DATABASE,
      masterKey: INIT_MASTER_KEY,
      baseDir: dir,
      env: ctx.env,
      // Said below, with the rest of what was made.
      notice: () => {},
    });
    const key = backend.keyring.loaded;
    await backend.close();
    writeAtomically(file, INIT_CONFIG, 0o644);
    const gitignore = ignoreDataDir(dir);

    const made = {
      config: { file, created: !replacing, replaced: replacing },
      masterKey: { file: key.file, id: key.keys[0]?.id, created: key.created },
      database: { file: databaseFile, created: !databaseExisted },
      gitignore,
    };
    if (flags.json) return writeJson(ctx, made);
    const lines = [
      ...(makeFolder ? [`created folder ${shown(dir)}`] : []),
      `${replacing ? 'replaced' : 'created'} ${shown(file)} (the defaults spelled out; stores, namespaces and connections as comments)`,
      key.created
        ? `created master key ${made.masterKey.id} in ${shown(key.file ?? '')} (mode 0600): back it up, the builtin secrets cannot be read without it`
        : `kept master key ${made.masterKey.id} in ${shown(key.file ?? '')}`,
      `${databaseExisted ? 'kept' : 'created'} database ${shown(databaseFile)}`,
      gitignore.added
        ? `${gitignore.created ? 'created' : 'added .sesame/ to'} ${shown(gitignore.file)}${gitignore.created ? ' ignoring .sesame/' : ''}`
        : `${shown(gitignore.file)} already ignores .sesame/`,
    ];
    const configFlag =
      path.basename(file) === 'sesame.yaml' && dir === ctx.cwd ? '' : ` --config ${shellWord(shown(file))}`;
    const next = [
      [`sesame secrets set db/password${configFlag}`, 'asks for the value twice, input hidden'],
      [`sesame resolve secret://builtin/db/password${configFlag}`, 'prints it'],
      [
        `sesame run --env DB_PASSWORD=secret://builtin/db/password${configFlag} -- ./job.sh`,
        'runs a job with it, masked in its output',
      ],
      [`sesame serve${configFlag}`, 'the API and admin UI on http://127.0.0.1:7373'],
    ];
    const width = Math.max(...next.map(([command]) => (command ?? '').length));
    ctx.stdout.write(
      `${lines.map((l) => `sesame: ${l}`).join('\n')}\n\nNext:\n` +
        next.map(([command, what]) => `  ${(command ?? '').padEnd(width)}  # ${what}\n`).join(''),
    );
  });
}
