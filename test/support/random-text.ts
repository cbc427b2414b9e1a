/** Deterministic pseudo-random printable text (no RNG state shared between tests). */
export function randomText(length: number, seed = 1): string {
  let x = seed;
  const codes = new Uint16Array(length);
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    codes[i] = 33 + ((x >>> 8) % 94);
  }
  let out = '';
  for (let i = 0; i < length; i += 8192) out += String.fromCharCode(...codes.subarray(i, i + 8192));
  return out;
}
