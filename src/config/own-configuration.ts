/**
 * What holds Sesame's own configuration in this process, which no store serves.
 *
 * Environment variables: those a config file reads with `${env:NAME}` (a database password,
 * another store's credentials), the master key's (`masterKey: { env: NAME }`), and the variables
 * Sesame reads keys and tokens from itself ({@link SESAME_SECRET_VARIABLES}): a runtime token
 * could otherwise read the master key with `secret://env/SESAME_MASTER_KEY`.
 *
 * Files: the master key file, the SQLite database (and its -wal and -shm), the audit checkpoint,
 * the config file and the files it reads with `${file:…}`: a file store whose root holds them
 * (`root: .` beside the config) served `.sesame/master.key`. Compared by device and inode, so no
 * other path, link or hard link reaches them.
 *
 * Process-wide, as the environment and the file system are: every config loaded in this process
 * adds to it, and nothing is removed (what was once configuration stays refused).
 */
import { statSync } from 'node:fs';
import path from 'node:path';

/** Variables Sesame reads its own tokens from (`src/cli/remote.ts`, `sesame serve`). */
export const TOKEN_VARIABLES = ['SESAME_TOKEN', 'SESAME_AGENT_TOKEN', 'SESAME_ADMIN_TOKEN'] as const;

/** Variables Sesame reads a key or a token from, whatever the config says. */
export const SESAME_SECRET_VARIABLES: ReadonlySet<string> = new Set([...TOKEN_VARIABLES, 'SESAME_MASTER_KEY']);

const interpolated = new Set<string>();
const masterKeys = new Set<string>();

/** A config read `${env:NAME}`. */
export function noteInterpolatedVariable(name: string): void {
  interpolated.add(name);
}

/** A config takes its master key from the variable `name`. */
export function noteMasterKeyVariable(name: string): void {
  masterKeys.add(name);
}

const files = new Map<string, string>();

/** `file` (absolute) is Sesame's own: `what` says which, in messages. */
export function noteOwnFile(file: string, what: string): void {
  if (!files.has(file)) files.set(file, what);
}

/** The files of a config: its source, master key file, SQLite database and audit checkpoint. */
export function noteConfigFiles(config: {
  baseDir: string;
  source?: string | undefined;
  database: string;
  masterKey: { file: string } | { env: string };
}): void {
  if (config.source !== undefined) noteOwnFile(path.resolve(config.source), 'the config file');
  const dirs: string[] = [];
  if ('file' in config.masterKey) {
    const key = path.resolve(config.baseDir, config.masterKey.file);
    noteOwnFile(key, 'the master key file');
    dirs.push(path.dirname(key));
  }
  if (config.database.startsWith('sqlite:')) {
    const db = config.database.slice('sqlite:'.length);
    if (db !== ':memory:') {
      const file = path.resolve(config.baseDir, db);
      for (const suffix of ['', '-wal', '-shm', '-journal']) noteOwnFile(file + suffix, 'the database');
      dirs.push(path.dirname(file));
    }
  }
  // Where the audit head is checkpointed (encrypted-store/audit-key.ts): next to the key file or
  // the database, or where SESAME_AUDIT_HEAD says.
  for (const dir of dirs) noteOwnFile(path.join(dir, 'audit.head'), 'the audit checkpoint');
  const explicit = process.env['SESAME_AUDIT_HEAD'];
  if (explicit?.trim()) noteOwnFile(path.resolve(config.baseDir, explicit), 'the audit checkpoint');
}

/**
 * Sesame's own files as they are now, by device and inode: each noted file that exists is looked
 * at, so one created since it was noted (the master key on first use) is known as well. Take it
 * once for many files (a listing).
 */
export function ownFiles(): (stat: { dev: number; ino: number }) => string | undefined {
  const byInode = new Map<string, string>();
  for (const [file, what] of files) {
    try {
      const own = statSync(file);
      byInode.set(`${own.dev}:${own.ino}`, what);
    } catch {
      // Not there (yet): nothing to refuse.
    }
  }
  return (stat) => byInode.get(`${stat.dev}:${stat.ino}`);
}

/** Which of Sesame's own files `stat` (of a file about to be served) is, or undefined. */
export function ownFile(stat: { dev: number; ino: number }): string | undefined {
  return ownFiles()(stat);
}

/** Why `variable` is Sesame's own configuration, or undefined when it is not. */
export function ownConfiguration(variable: string): string | undefined {
  if (masterKeys.has(variable)) return 'it holds the master key';
  if (interpolated.has(variable)) return `the config file reads it with \${env:${variable}}`;
  if (SESAME_SECRET_VARIABLES.has(variable)) return 'Sesame reads a key or a token from it';
  return undefined;
}
