/**
 * `file` store: a secret is a file under a root such as `/run/secrets` (Docker and Kubernetes
 * mounts). Names are paths relative to the root; `..` segments and symlinks that leave the root
 * are refused, so a reference can never read outside the mounted directory.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ownFile, ownFiles } from '../../config/own-configuration.js';
import {
  AccessDeniedError,
  SecretNotFoundError,
  SecretStateError,
  StoreUnavailableError,
  UsageError,
} from '../../errors.js';
import type { CheckReport, CheckStep, FetchedSecret, HostAccess, ListPage, StoreClient, StoreContext, StoreType } from '../contract.js';
import { fileKind, valueOfBytes } from '../core/index.js';

const settings = z.strictObject({
  root: z.string().min(1, 'root is the directory that holds the secret files, e.g. /run/secrets'),
  /** Largest file served, in bytes: a secret is small, a 1 GB file is a mistake. */
  maxSize: z.number().int().positive().default(1024 * 1024),
});
export type FileStoreSettings = z.infer<typeof settings>;

/** Names per page when the caller does not say, and at most. */
const DEFAULT_PAGE = 1_000;
const MAX_PAGE = 10_000;

/** Walk order: segment by segment, each compared as the walk sorts a directory's entries. */
function compareSegments(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = (a[i] as string).localeCompare(b[i] as string);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function isPrefixOf(dir: readonly string[], name: readonly string[]): boolean {
  return dir.length < name.length && dir.every((segment, i) => segment === name[i]);
}

function encodeCursor(name: string): string {
  return Buffer.from(JSON.stringify({ after: name }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string') return parsed.after;
  } catch {
    // the error below
  }
  throw new UsageError('invalid list cursor: pass the cursor a previous page returned');
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class FileStoreClient implements StoreClient {
  readonly #root: string;
  #realRoot: Promise<string> | undefined;

  constructor(
    private readonly settings: FileStoreSettings,
    private readonly context: StoreContext,
  ) {
    this.#root = path.resolve(context.baseDir ?? process.cwd(), settings.root);
  }

  get #tag(): string {
    return `[${this.context.storeName}]`;
  }

  async #rootReal(): Promise<string> {
    this.#realRoot ??= fs.realpath(this.#root).catch((err: unknown) => {
      this.#realRoot = undefined;
      if (errno(err) === 'ENOENT') {
        throw new StoreUnavailableError(`${this.#tag} root directory ${this.#root} does not exist: create or mount it`);
      }
      throw new StoreUnavailableError(`${this.#tag} cannot open root directory ${this.#root} (${errno(err)})`);
    });
    return this.#realRoot;
  }

  /** Map a name to a path inside the root, refusing escapes. */
  async #locate(name: string): Promise<string> {
    const segments = name.split('/');
    // The resolver refuses both before a store sees the name; checked again here, each with its own reason.
    if (name.includes('\0')) {
      throw new AccessDeniedError(`${this.#tag} the name contains a NUL character, which no file name can hold: remove it`);
    }
    if (segments.includes('..')) {
      throw new AccessDeniedError(`${this.#tag} "${name}" contains a ".." segment: names must stay under ${this.#root}`);
    }
    const root = await this.#rootReal();
    const candidate = path.resolve(root, name.replace(/^\/+/, ''));
    let real: string;
    try {
      real = await fs.realpath(candidate);
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') {
        throw new SecretNotFoundError(`${this.#tag} no file ${name} under ${this.#root}`);
      }
      if (errno(err) === 'EACCES') throw this.#denied(name);
      throw new StoreUnavailableError(`${this.#tag} cannot resolve ${name} (${errno(err)})`);
    }
    if (real !== root && !real.startsWith(root + path.sep)) {
      throw new AccessDeniedError(`${this.#tag} ${name} is a symlink that leaves ${this.#root}: refused`);
    }
    return real;
  }

  #notAFile(name: string, kind: string): SecretStateError {
    return new SecretStateError(
      `${this.#tag} ${name} is ${kind}, not a regular file: a secret is a file's contents`,
    );
  }

  #denied(name: string): AccessDeniedError {
    const uid = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    return new AccessDeniedError(
      `${this.#tag} ${name} is not readable: make it readable by the user that runs sesame${uid}`,
    );
  }

  async get(request: { name: string; version?: string | undefined; stage?: string | undefined }): Promise<FetchedSecret> {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const file = await this.#locate(request.name);
    // Opened before it is looked at, without blocking: a named pipe would otherwise hold the
    // open (and a thread of the process's file pool) until something writes to it, and what is
    // checked is then the very file read, not one swapped in after the check.
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new SecretNotFoundError(`${this.#tag} no file ${request.name}`);
      if (errno(err) === 'EACCES') throw this.#denied(request.name);
      if (errno(err) === 'EISDIR') throw this.#notAFile(request.name, 'a directory');
      throw new StoreUnavailableError(`${this.#tag} cannot open ${request.name} (${errno(err)})`);
    }
    let bytes: Buffer;
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw this.#notAFile(request.name, fileKind(stat));
      const own = ownFile(stat);
      if (own !== undefined) {
        const err = new AccessDeniedError(`${this.#tag} ${request.name} is Sesame's own file (${own}): the file store does not serve it`);
        err.fix = 'keep secrets for workflows in other files, outside .sesame and the config';
        throw err;
      }
      if (stat.size > this.settings.maxSize) {
        throw new SecretStateError(
          `${this.#tag} ${request.name} is ${stat.size} bytes, above maxSize ${this.settings.maxSize}: raise maxSize if it is really a secret`,
        );
      }
      try {
        bytes = await handle.readFile();
      } catch (err) {
        if (errno(err) === 'EACCES') throw this.#denied(request.name);
        throw new StoreUnavailableError(`${this.#tag} cannot read ${request.name} (${errno(err)})`);
      }
    } finally {
      await handle.close().catch(() => {});
    }
    return { value: valueOfBytes(bytes) };
  }

  /**
   * Names under the root in walk order (each directory's entries sorted), a page at a time: the
   * cursor is the last name of the previous page, and a page resumes after it. No cap: a root of
   * any size is listed to its end, page by page.
   */
  async list(options: { prefix?: string | undefined; limit?: number | undefined; cursor?: string | undefined }): Promise<ListPage> {
    const root = await this.#rootReal();
    const limit = Math.min(Math.max(1, Math.floor(options.limit ?? DEFAULT_PAGE)), MAX_PAGE);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor).split('/');
    const items: ListPage['items'] = [];
    let more = false;
    const own = ownFiles();
    const walk = async (dir: string, rel: string): Promise<boolean> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (errno(err) === 'EACCES') throw new AccessDeniedError(`${this.#tag} cannot list ${dir}: grant read and execute on it`);
        throw err;
      }
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const entry of entries) {
        // Kubernetes mounts keep real files under ..data-style hidden dirs; show the links only.
        if (entry.name.startsWith('..')) continue;
        const name = rel ? `${rel}/${entry.name}` : entry.name;
        const full = path.join(dir, entry.name);
        let target = full;
        if (entry.isSymbolicLink()) {
          try {
            target = await fs.realpath(full);
          } catch {
            continue;
          }
          if (!target.startsWith(root + path.sep)) continue;
        }
        const stat = await fs.stat(target).catch(() => undefined);
        if (!stat) continue;
        if (stat.isDirectory()) {
          // A directory wholly before the cursor holds nothing of this page.
          if (after !== undefined && compareSegments(name.split('/'), after) < 0 && !isPrefixOf(name.split('/'), after)) continue;
          if (!entry.isSymbolicLink() && (await walk(full, name))) return true;
        } else if (!stat.isFile() || own(stat) !== undefined) {
          // A named pipe, socket or device is no secret (reading it could wait for ever); Sesame's
          // own files (the master key, the database) are not served.
          continue;
        } else if ((!options.prefix || name.startsWith(options.prefix)) && (after === undefined || compareSegments(name.split('/'), after) > 0)) {
          if (items.length === limit) {
            more = true;
            return true;
          }
          items.push({ name, updatedAt: stat.mtime.toISOString() });
        }
      }
      return false;
    };
    await walk(root, '');
    const last = items[items.length - 1];
    return more && last ? { items, cursor: encodeCursor(last.name) } : { items };
  }

  async check(options: { sample?: string | undefined }): Promise<CheckReport> {
    const steps: CheckStep[] = [];
    try {
      const root = await this.#rootReal();
      await fs.access(root, (await import('node:fs')).constants.R_OK | (await import('node:fs')).constants.X_OK);
      steps.push({ step: 'root', ok: true, detail: `${this.#root} exists and is readable` });
    } catch (err) {
      steps.push({
        step: 'root',
        ok: false,
        detail: err instanceof Error ? err.message : String(err),
        fix: `create or mount ${this.#root} and make it readable by the user that runs sesame`,
      });
      return { ok: false, steps };
    }
    try {
      const n = (await this.list({})).items.length;
      steps.push({ step: 'list', ok: true, detail: `${n} file${n === 1 ? '' : 's'} under ${this.#root}` });
    } catch (err) {
      steps.push({ step: 'list', ok: false, detail: (err as Error).message, fix: 'grant read and execute on the directories' });
    }
    if (options.sample) {
      try {
        await this.get({ name: options.sample });
        steps.push({ step: 'read', ok: true, detail: `${options.sample} is readable` });
      } catch (err) {
        steps.push({
          step: 'read',
          ok: false,
          detail: (err as Error).message,
          fix: err instanceof SecretNotFoundError ? `create ${path.join(this.#root, options.sample)}` : 'make the file readable by the user that runs sesame',
        });
      }
    }
    return { ok: steps.every((s) => s.ok), steps };
  }

  async close(): Promise<void> {}
}

export const fileStoreType = {
  type: 'file',
  capabilities: { write: false, batch: false, versions: false, stages: false, namespaced: false, restore: false },
  settings,
  hostAccess: (s: FileStoreSettings): HostAccess[] => [{ kind: 'files', setting: 'root', path: s.root }],
  create: (s: FileStoreSettings, context: StoreContext) => new FileStoreClient(s, context),
} satisfies StoreType<FileStoreSettings>;
