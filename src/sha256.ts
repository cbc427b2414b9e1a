import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');
let crypto: Crypto | undefined;

/**
 * sha256 of a string's UTF-8, hex: `crypto.hash` (one call, no Hash object) where Node has it
 * (20.12+). `node:crypto` is loaded at the first call, not with this module: `sesame run` with
 * nothing to mask starts without it.
 */
export function sha256Hex(text: string): string {
  crypto ??= (process.getBuiltinModule?.('node:crypto') ?? createRequire(import.meta.url)('node:crypto')) as Crypto;
  return typeof crypto.hash === 'function'
    ? crypto.hash('sha256', text, 'hex')
    : crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}
