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
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import { noteOwnFile } from '../../config/own-configuration.js';
import { checkHostFile, fileKind, HostFileError, readHostFile, systemError } from '../../host-file.js';
import type { StoreContext } from '../contract.js';

type SettingContext = Pick<StoreContext, 'storeName' | 'baseDir'>;

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
  // A credential or CA file of a store's settings: no file store serves it (own-configuration.ts).
  noteOwnFile(resolved, `the ${setting} setting of store ${context.storeName}`);
  try {
    return use(resolved);
  } catch (err) {
    const reason = (err instanceof HostFileError ? err : systemError(err)).reason;
    throw new ConfigError(`file ${resolved} ${reason}`, {
      path: `stores.${context.storeName}.${setting}`,
      ...(hint ? { hint } : {}),
    });
  }
}

/** The most a setting file may hold: certificates, keys and tokens are a few KiB. */
const MAX_SETTING_FILE_BYTES = 1024 * 1024;

export { fileKind };

/** What a setting file may be: a regular file of at most 1 MiB (see src/host-file.ts). */
const SETTING_FILE = { maxBytes: MAX_SETTING_FILE_BYTES, limitOf: 'a certificate, key or token file may hold' };

/** The resolved path of a readable regular file, for an SDK that reads it itself. */
export function settingFile(context: SettingContext, setting: string, file: string, hint?: string): string {
  return withSettingFile(context, setting, file, hint, (resolved) => {
    accessSync(resolved, constants.R_OK);
    checkHostFile(statSync(resolved), SETTING_FILE);
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
    readHostFile(resolved, SETTING_FILE),
  );
}
