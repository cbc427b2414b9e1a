/**
 * A secret value from the bytes a provider answers: text when they are valid UTF-8, else the
 * bytes themselves (a binary secret: a keystore, a DER key). Never a lossy decoding with U+FFFD
 * replacement characters, which would hand a caller a corrupted value that looks like text.
 *
 * @example
 * return { value: valueOfBytes(answer.body), version };
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The text the bytes spell, or a copy of the bytes when they are not valid UTF-8. */
export function valueOfBytes(bytes: Uint8Array): string | Uint8Array {
  try {
    return UTF8.decode(bytes);
  } catch {
    return new Uint8Array(bytes);
  }
}
