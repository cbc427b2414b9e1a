/**
 * The CA bundle named by a store's `caFile` setting (a PEM file, relative to the directory of the
 * config file), read once when the client is built: a file that cannot be read is a configuration
 * error naming the resolved path, not a TLS failure at the first request.
 *
 * @example
 * const ca = readCaFile(settings.caFile, context, 'caFile is the PEM file of the CA that signed the certificate');
 * const http = new HttpTransport({ ca, lookup: context.lookup });
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors.js';
import type { StoreContext } from '../contract.js';

/** The file's bytes, or undefined without `caFile`; `hint` says what the file should be. */
export function readCaFile(
  caFile: string | undefined,
  context: Pick<StoreContext, 'baseDir'>,
  hint: string,
): Buffer | undefined {
  if (!caFile) return undefined;
  const file = path.resolve(context.baseDir ?? process.cwd(), caFile);
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`cannot read caFile ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      hint,
    });
  }
}
