/** The store core's value decoding: text when the bytes are UTF-8, the bytes otherwise. */
import { describe, expect, it } from 'vitest';
import { valueOfBytes } from '../../src/stores/core/index.js';

describe('valueOfBytes', () => {
  it('gives text for valid UTF-8, including multi-byte characters and an empty value', () => {
    expect(valueOfBytes(Buffer.from('s3cr3t'))).toBe('s3cr3t');
    expect(valueOfBytes(Buffer.from('pässwörd ✓ 🔑'))).toBe('pässwörd ✓ 🔑');
    expect(valueOfBytes(new Uint8Array())).toBe('');
  });

  it('gives a copy of the bytes when they are not UTF-8, never a lossy decoding', () => {
    const bytes = Buffer.from([0x30, 0x82, 0xff, 0xfe, 0x00]);
    const value = valueOfBytes(bytes);
    expect(value).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(value as Uint8Array).equals(bytes)).toBe(true);
    bytes[0] = 0;
    expect((value as Uint8Array)[0]).toBe(0x30);
  });
});
