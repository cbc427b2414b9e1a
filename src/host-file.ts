/**
 * Files of the host that an operator names (a `${file:…}` in the config, a store's certificate or
 * token file, a value given with `--from-file`, the master key file), read synchronously and
 * bounded. Every such read used to be `readFileSync`: a named pipe with no writer stopped the
 * whole process, `/dev/zero` filled its memory, and a wrong file (an image, a log) was read whole
 * before anything said it was too big.
 *
 * - A regular file is measured on its handle before it is read: more than `maxBytes` is refused.
 * - A named pipe, socket or device is refused, unless the caller reads streams (`streams: true`:
 *   the CLI's `--from-file <(pass show x)`); then it is read up to `maxBytes` and refused past it.
 * - Without `streams`, the file is opened without blocking, so a pipe with no writer is refused
 *   instead of waited for.
 *
 * Failures are {@link HostFileError}s: `reason` is worded to follow the file's name in a message
 * (`does not exist`, `is a named pipe, not a regular file`, `is 70000000 bytes, more than 1 MiB`).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';

export class HostFileError extends Error {
  /** Why, worded to follow the file's name. */
  readonly reason: string;
  /** The errno code, when the system refused (ENOENT, EACCES, EISDIR…). */
  readonly code: string | undefined;

  constructor(reason: string, code?: string) {
    super(reason);
    this.name = 'HostFileError';
    this.reason = reason;
    this.code = code;
  }
}

/** What the usual errno codes mean for someone fixing the path. */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist',
  EACCES: 'cannot be read by this process (EACCES)',
  EPERM: 'cannot be read by this process (EPERM)',
  EISDIR: 'is a folder, not a file',
};

/** What a path that is not a regular file is, for a message that refuses it. */
export function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a named pipe';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return stat.isFile() ? 'a regular file' : 'not a file';
}

/** A size in words: `1 MiB`, `64 KiB`, `300 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

export interface ReadHostFileOptions {
  /** The most the file may hold. */
  maxBytes: number;
  /** Read a named pipe or a device up to `maxBytes` instead of refusing it (it may then block). */
  streams?: boolean | undefined;
  /** Whose limit `maxBytes` is, for the refusal: `a certificate, key or token file may hold`. */
  limitOf?: string | undefined;
}

/** The system's refusal (an errno) as a {@link HostFileError} worded for someone fixing the path. */
export function systemError(err: unknown): HostFileError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new HostFileError(REASONS[code] ?? `cannot be read (${code})`, code);
}

function tooBig(options: ReadHostFileOptions, size: number | undefined): HostFileError {
  const { maxBytes, limitOf } = options;
  const limit = limitOf ? `the ${formatBytes(maxBytes)} ${limitOf}` : formatBytes(maxBytes);
  return new HostFileError(`${size === undefined ? 'holds' : `is ${size} bytes,`} more than ${limit}`, 'EFBIG');
}

/**
 * Throws the {@link HostFileError} for what `stat` describes when {@link readHostFile} would
 * refuse it before reading: a directory, a pipe or device (unless `streams`), a regular file over
 * `maxBytes`. For callers that hand the path to an SDK which reads it itself.
 */
export function checkHostFile(stat: Stats, options: ReadHostFileOptions): void {
  if (stat.isDirectory()) throw new HostFileError(REASONS['EISDIR'] as string, 'EISDIR');
  if (!stat.isFile() && !options.streams) {
    throw new HostFileError(`is ${fileKind(stat)}, not a regular file`, 'ENOTREG');
  }
  if (stat.isFile() && stat.size > options.maxBytes) throw tooBig(options, stat.size);
}

/** The bytes of `file` (an absolute path), within the bounds above. */
export function readHostFileBytes(file: string, options: ReadHostFileOptions): Buffer {
  const { maxBytes } = options;
  let fd: number;
  try {
    fd = openSync(file, options.streams ? constants.O_RDONLY : constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw systemError(err);
  }
  try {
    checkHostFile(fstatSync(fd), options);
    // Chunks are filled before the next is made: a read may return a few KiB at a time (a pipe,
    // a device), and a fresh buffer per read would hold far more memory than was read.
    const chunks: Buffer[] = [];
    let size = 0;
    let chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, maxBytes + 1));
    let filled = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, chunk, filled, chunk.length - filled, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw systemError(err);
      }
      if (n === 0) break;
      size += n;
      filled += n;
      // A regular file that grew while read, or a stream: stop at the bound.
      if (size > maxBytes) throw tooBig(options, undefined);
      if (filled === chunk.length) {
        chunks.push(chunk);
        chunk = Buffer.allocUnsafe(chunk.length);
        filled = 0;
      }
    }
    chunks.push(chunk.subarray(0, filled));
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

/**
 * A document's text without the UTF-8 byte order mark Windows editors put first (Notepad, older
 * Visual Studio): parsers would take it as part of the first name or token. For documents only
 * (configs, .env files, files to resolve or import); a value read from a file is kept as it is.
 */
export function documentText(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The text (UTF-8) of `file`, within the bounds above. */
export function readHostFile(file: string, options: ReadHostFileOptions): string {
  return readHostFileBytes(file, options).toString('utf8');
}

/*
 * Whether a file that holds a key is open to other users of the host. Sesame warns rather than
 * refuses: a Kubernetes secret volume is mounted 0644 unless told otherwise, and refusing would
 * stop every such deployment where the container is the only user.
 */

/**
 * The warning for `file` (named `what` in the message) when a permission bit in `mask` is set:
 * `0o007` for the users outside the file's owner and group, `0o077` for everyone but its owner.
 * Undefined when none is, or when the file cannot be read (loading it reports that).
 *
 * @example
 * exposureWarning('the master key file', '/srv/.sesame/master.key', 0o007)
 * // 'the master key file /srv/.sesame/master.key is readable by users outside its owner and group (mode 644): chmod o-rwx …'
 */
export function exposureWarning(what: string, file: string, mask: number): string | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
  const open = mode & mask;
  if (open === 0) return undefined;
  // Readable by others: they hold the key. Writable (without read): they can replace it.
  const how = (open & 0o444) !== 0 ? 'readable' : 'writable';
  const others = mask === 0o007 ? 'users outside its owner and group' : 'other users';
  const who = mask === 0o007 ? 'o' : 'go';
  return `${what} ${file} is ${how} by ${others} (mode ${mode.toString(8).padStart(3, '0')}): chmod ${who}-rwx ${file}`;
}
