/**
 * A host file a store setting names (a client certificate, a key file, a mounted token),
 * relative to the directory of the config file. A file that cannot be read is a configuration
 * error naming the setting's path, the resolved file and why (missing, not readable, a folder),
 * raised before the provider's SDK would fail on it with a message of its own.
 *
 * @example
 * const pem = readSettingFile(context, 'auth.certificatePath', auth.certificatePath, 'a PEM file with the certificate and its private key');
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import type { StoreContext } from '../contract.js';

/** What the usual errno codes mean for someone fixing the setting. */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist',
  EACCES: 'cannot be read by this process (EACCES)',
  EISDIR: 'is a folder, not a file',
};

/** The text of `file` (the value of setting `setting`, a dotted path under the store); `hint` says what it should hold. */
export function readSettingFile(
  context: Pick<StoreContext, 'storeName' | 'baseDir'>,
  setting: string,
  file: string,
  hint?: string,
): string {
  const resolved = path.resolve(context.baseDir ?? process.cwd(), file);
  try {
    return readFileSync(resolved, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`file ${resolved} ${REASONS[code] ?? `cannot be read (${code})`}`, {
      path: `stores.${context.storeName}.${setting}`,
      ...(hint ? { hint } : {}),
    });
  }
}
