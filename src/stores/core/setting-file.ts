/**
 * A host file a store setting names (a client certificate, a key file, a mounted token),
 * relative to the directory of the config file. A file that cannot be read is a configuration
 * error naming the setting's path, the resolved file and why (missing, not readable, a folder),
 * raised before the provider's SDK would fail on it with a message of its own.
 *
 * {@link settingFile} only checks the file and gives its path, for SDKs that read the file
 * themselves (and read it again when it is rotated); {@link readSettingFile} reads it once.
 *
 * @example
 * const certificatePath = settingFile(context, 'auth.certificatePath', auth.certificatePath, 'a PEM file');
 * const key = readSettingFile(context, 'auth.file', auth.file, 'a JSON key of a service account');
 */
import { accessSync, constants, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import { fileKind, readHostFile } from '../../host-file.js';
import type { StoreContext } from '../contract.js';

type SettingContext = Pick<StoreContext, 'storeName' | 'baseDir'>;

/** What the usual errno codes mean for someone fixing the setting. */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist',
  EACCES: 'cannot be read by this process (EACCES)',
  EISDIR: 'is a folder, not a file',
};

/**
 * `file` (the value of `setting`, a dotted path under the store) resolved against the config's
 * directory, `use`d; a failure of `use` becomes the ConfigError, with `hint` saying what the file should hold.
 */
function withSettingFile<T>(
  context: SettingContext,
  setting: string,
  file: string,
  hint: string | undefined,
  use: (resolved: string) => T,
): T {
  const resolved = path.resolve(context.baseDir ?? process.cwd(), file);
  try {
    return use(resolved);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const reason = (err as { reason?: string }).reason ?? REASONS[code] ?? `cannot be read (${code})`;
    throw new ConfigError(`file ${resolved} ${reason}`, {
      path: `stores.${context.storeName}.${setting}`,
      ...(hint ? { hint } : {}),
    });
  }
}

/** The most a setting file may hold: certificates, keys and tokens are a few KiB. */
const MAX_SETTING_FILE_BYTES = 1024 * 1024;

export { fileKind };

/**
 * Refuse what is not a regular file of a sensible size: reading a named pipe waits for a writer
 * and a device such as /dev/zero never ends, either of them holding the whole process (these
 * reads are synchronous), and a huge file is no certificate.
 */
function checkRegular(stat: Stats): void {
  if (stat.isDirectory()) throw Object.assign(new Error('folder'), { code: 'EISDIR' });
  if (!stat.isFile()) {
    const kind = fileKind(stat);
    throw Object.assign(new Error(kind), { reason: `is ${kind}, not a regular file` });
  }
  if (stat.size > MAX_SETTING_FILE_BYTES) {
    throw Object.assign(new Error('too big'), {
      reason: `is ${stat.size} bytes, more than the 1 MiB a certificate, key or token file may hold`,
    });
  }
}

/** The resolved path of a readable regular file, for an SDK that reads it itself. */
export function settingFile(context: SettingContext, setting: string, file: string, hint?: string): string {
  return withSettingFile(context, setting, file, hint, (resolved) => {
    accessSync(resolved, constants.R_OK);
    checkRegular(statSync(resolved));
    return resolved;
  });
}

/** The text of the file (see src/host-file.ts: opened without blocking, checked on its handle, bounded). */
export function readSettingFile(
  context: SettingContext,
  setting: string,
  file: string,
  hint?: string,
): string {
  return withSettingFile(context, setting, file, hint, (resolved) =>
    readHostFile(resolved, { maxBytes: MAX_SETTING_FILE_BYTES, limitOf: 'a certificate, key or token file may hold' }),
  );
}
