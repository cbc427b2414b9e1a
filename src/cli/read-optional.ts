import { HostFileError, readHostFile } from '../host-file.js';

/**
 * The text of `file`, or undefined when there is no such file. Any other failure (a directory,
 * permission denied) is the error `fail` makes from why, in words: a file that is there but
 * cannot be read is never taken for one that is not.
 */
export function readOptionalFile(file: string, fail: (why: string) => Error): string | undefined {
  try {
    return readHostFile(file, { maxBytes: 16 * 1024 * 1024 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    const why =
      code === 'EISDIR'
        ? 'it is a directory'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : err instanceof HostFileError
            ? `it ${err.reason}`
            : (code ?? 'unreadable');
    throw fail(why);
  }
}
