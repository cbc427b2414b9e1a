/**
 * A provider's documented size limit on a secret value, checked before anything is sent: the
 * provider's own refusal would come later (after a create, as a bare "invalid argument") or
 * not say which limit. The message gives the sizes, never the value.
 *
 * @example
 * checkValueBytes(core.tag, name, value, { bytes: 64 * 1024, limit: "Secret Manager's limit of 64 KiB" });
 */
import { ValueTooLargeError } from '../../errors.js';

/** Throws a {@link ValueTooLargeError} when `value` takes more than `max.bytes` bytes in UTF-8. */
export function checkValueBytes(
  tag: string,
  name: string,
  value: string,
  max: { bytes: number; limit: string },
): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes <= max.bytes) return;
  throw new ValueTooLargeError(
    `${tag} the value of "${name}" is ${bytes} bytes, above ${max.limit} (${max.bytes} bytes): it was not written`,
  );
}
