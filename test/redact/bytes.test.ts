/** Output bytes as text and back (src/redact/bytes.ts): nothing lost, UTF-8 read as UTF-8. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteTextDecoder, bytesOfText, textOfBytes } from '../../src/redact/bytes.js';

describe('textOfBytes / bytesOfText', () => {
  it('any bytes, decoded in any chunks, come back as the same bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(20), { maxLength: 20 }),
        (bytes, cuts) => {
          const decoder = new ByteTextDecoder();
          let text = '';
          let at = 0;
          for (const cut of cuts) {
            text += decoder.decode(bytes.subarray(at, at + cut));
            at = Math.min(bytes.length, at + cut);
          }
          text += decoder.decode(bytes.subarray(at)) + decoder.end();
          expect(text).toBe(textOfBytes(bytes));
          expect(bytesOfText(text).equals(Buffer.from(bytes))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('well-formed UTF-8 reads as the text it encodes, whatever the characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 50 }), (s) => {
        expect(textOfBytes(Buffer.from(s, 'utf8'))).toBe(s);
        expect(bytesOfText(s).equals(Buffer.from(s, 'utf8'))).toBe(true);
      }),
    );
  });

  it('well-formed UTF-8 cut anywhere, inside characters too, reads as the text it encodes', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 60 }),
        fc.array(fc.nat(7), { maxLength: 30 }),
        (s, cuts) => {
          const bytes = Buffer.from(s, 'utf8');
          const decoder = new ByteTextDecoder();
          let text = '';
          let at = 0;
          for (const cut of cuts) {
            text += decoder.decode(bytes.subarray(at, at + cut));
            at = Math.min(bytes.length, at + cut);
          }
          expect(text + decoder.decode(bytes.subarray(at)) + decoder.end()).toBe(s);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('each byte outside a well-formed sequence is one escape, the sequence after it read normally', () => {
    // A 3-byte lead cut short by "A", an overlong "/", an encoded surrogate, a 0xFF.
    const text = textOfBytes(Buffer.from([0xe2, 0x82, 0x41, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff, 0xc3, 0xa9]));
    expect([...text].map((c) => c.charCodeAt(0).toString(16))).toEqual([
      'dce2',
      'dc82',
      '41',
      'dcc0',
      'dcaf',
      'dced',
      'dca0',
      'dc80',
      'dcff',
      'e9',
    ]);
  });
});
