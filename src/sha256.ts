import crypto, { createHash } from 'node:crypto';

/** sha256 of a string's UTF-8, hex: `crypto.hash` (one call, no Hash object) where Node has it (20.12+). */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => createHash('sha256').update(text, 'utf8').digest('hex');
