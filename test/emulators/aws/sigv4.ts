/**
 * Server-side verification of AWS Signature Version 4, written by hand on node:crypto so the
 * emulator rejects a request exactly when AWS would: wrong secret key, tampered body or header,
 * wrong scope. The steps follow the published algorithm: canonical request → string to sign →
 * signing key (HMAC chain over date, region, service) → signature.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const ALGORITHM = 'AWS4-HMAC-SHA256';

export interface ParsedAuthorization {
  accessKeyId: string;
  /** `YYYYMMDD` from the credential scope. */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters is %-escaped. */
export function uriEscape(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex` */
export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  if (!header?.startsWith(`${ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential')?.split('/');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (
    !credential ||
    credential.length !== 5 ||
    credential[4] !== 'aws4_request' ||
    !signedHeaders ||
    !signature
  ) {
    return undefined;
  }
  const [accessKeyId, date, region, service] = credential as [string, string, string, string, string];
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

/** Each segment of the (already percent-encoded) path is encoded once more: non-S3 services double-encode. */
export function canonicalUri(rawPath: string): string {
  if (rawPath === '' || rawPath === '/') return '/';
  return rawPath
    .split('/')
    .map((segment) => uriEscape(segment))
    .join('/');
}

export function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  const pairs = rawQuery
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => {
      const eq = p.indexOf('=');
      const key = decodeURIComponent((eq < 0 ? p : p.slice(0, eq)).replace(/\+/g, '%20'));
      const value = eq < 0 ? '' : decodeURIComponent(p.slice(eq + 1).replace(/\+/g, '%20'));
      return [uriEscape(key), uriEscape(value)] as const;
    });
  pairs.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string {
  const raw = headers[name];
  const joined = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return joined.trim().replace(/\s+/g, ' ');
}

export interface CanonicalInput {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: IncomingHttpHeaders;
  signedHeaders: readonly string[];
  payloadHash: string;
}

export function canonicalRequest(input: CanonicalInput): string {
  const names = [...input.signedHeaders].map((h) => h.toLowerCase());
  const canonicalHeaders = names.map((name) => `${name}:${headerValue(input.headers, name)}\n`).join('');
  return [
    input.method.toUpperCase(),
    canonicalUri(input.rawPath),
    canonicalQuery(input.rawQuery),
    canonicalHeaders,
    names.join(';'),
    input.payloadHash,
  ].join('\n');
}

export function credentialScope(date: string, region: string, service: string): string {
  return `${date}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secretAccessKey}`, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

export function signature(key: Buffer, toSign: string): string {
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

export type VerifyResult =
  | { ok: true; auth: ParsedAuthorization }
  | {
      ok: false;
      reason: 'missing' | 'incomplete' | 'unknown-key' | 'mismatch' | 'scope';
      auth?: ParsedAuthorization;
    };

export interface VerifyRequest {
  method: string;
  /** Path and query as received (`req.url`). */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Verify a signed request. `secretFor` maps an access key id to its secret access key (or
 * undefined when the key is unknown). `expectedService` guards the scope.
 */
export function verifySigV4(
  request: VerifyRequest,
  secretFor: (accessKeyId: string) => string | undefined,
  expectedService?: string,
): VerifyResult {
  const header = request.headers.authorization;
  if (!header) return { ok: false, reason: 'missing' };
  const auth = parseAuthorization(header);
  const amzDate =
    typeof request.headers['x-amz-date'] === 'string' ? request.headers['x-amz-date'] : undefined;
  if (!auth || !amzDate || !auth.signedHeaders.includes('host')) return { ok: false, reason: 'incomplete' };
  const secret = secretFor(auth.accessKeyId);
  if (secret === undefined) return { ok: false, reason: 'unknown-key', auth };
  if ((expectedService && auth.service !== expectedService) || !amzDate.startsWith(auth.date)) {
    return { ok: false, reason: 'scope', auth };
  }
  const q = request.url.indexOf('?');
  const rawPath = q < 0 ? request.url : request.url.slice(0, q);
  const rawQuery = q < 0 ? '' : request.url.slice(q + 1);
  const declaredHash = request.headers['x-amz-content-sha256'];
  const payloadHash = typeof declaredHash === 'string' ? declaredHash : sha256Hex(request.body);
  if (
    typeof declaredHash === 'string' &&
    declaredHash !== 'UNSIGNED-PAYLOAD' &&
    declaredHash !== sha256Hex(request.body)
  ) {
    return { ok: false, reason: 'mismatch', auth };
  }
  const canonical = canonicalRequest({
    method: request.method,
    rawPath,
    rawQuery,
    headers: request.headers,
    signedHeaders: auth.signedHeaders,
    payloadHash,
  });
  const toSign = stringToSign(amzDate, credentialScope(auth.date, auth.region, auth.service), canonical);
  const expected = Buffer.from(
    signature(signingKey(secret, auth.date, auth.region, auth.service), toSign),
    'hex',
  );
  const given = Buffer.from(auth.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'mismatch', auth };
  return { ok: true, auth };
}
