/**
 * A provider's documented limits on a secret value, declared once by the adapter (StoreCore's
 * `valueLimit`) and checked by the core before anything is sent: the provider's own refusal
 * would come later (after a create, as a bare "invalid argument") or not say which limit. The
 * message gives the sizes, never the value.
 *
 * @example
 * valueLimit: { max: 64 * 1024, limit: "Secret Manager's payload limit of 64 KiB" }
 */
import { InvalidRequestError, ValueTooLargeError } from '../../errors.js';

export interface ValueLimit {
  /** The most a value may take, in `unit`s. */
  max: number;
  /** UTF-8 bytes (default), or characters as JavaScript and AWS count them (UTF-16 code units). */
  unit?: 'bytes' | 'characters' | undefined;
  /** The provider's limit in words: `Key Vault's limit of 25 KB`. */
  limit: string;
  /** Set when the provider stores no empty value: what to say (`Secrets Manager does not store an empty value`). */
  empty?: string | undefined;
}

/** Throws a {@link ValueTooLargeError} above the limit, an {@link InvalidRequestError} for a refused empty value. */
export function checkValue(tag: string, name: string, value: string, limit: ValueLimit): void {
  if (value === '' && limit.empty) throw new InvalidRequestError(`${tag} ${limit.empty} ("${name}")`);
  const unit = limit.unit ?? 'bytes';
  const size = unit === 'bytes' ? Buffer.byteLength(value, 'utf8') : value.length;
  if (size <= limit.max) return;
  throw new ValueTooLargeError(
    `${tag} the value of "${name}" is ${size} ${unit}, above ${limit.limit} (${limit.max} ${unit}): it was not written`,
  );
}
