/**
 * A connection's fields for display (`connections list --json`): secret fields masked, the rest
 * as written, so `baseUrl`, `auth.method`, `test.path` or `expectStatus` stay readable.
 *
 * A field is secret when
 * - it holds a reference (`{{ secret://… }}`): shown as the reference, which names where the
 *   value lives and is not the value;
 * - its connection type lists it in `secretFields` (or lists an object above it): a literal
 *   there is `***`;
 * - its name says it is a credential (`password`, `token`, `secret`, `apiKey`, `authorization`…):
 *   a literal there is `***` too. This catches credentials written in clear in fields of a type
 *   that cannot know them (`generic` takes any fields; `http` takes any `headers`), so a
 *   connection type that forgets a field fails closed rather than showing its value;
 * - its name ends in the word "key" (`sshKey`, `signing_key`), or its value is a credential
 *   whatever the name: an Authorization value (`Bearer <token>`, `Basic <base64>`) or a PEM
 *   private key;
 * - it holds a URL with a literal user or password (`mysql://app:pw@db/app`,
 *   `https://<token>@github.com/…`), whatever the field is called: {@link holdsUrlCredentials}.
 */
import { collectReferences, mayHoldReferences } from '../refs/template.js';

/** What a masked literal is shown as (the server and the admin UI use the same). */
export const MASK_TEXT = '***';

const CREDENTIAL_NAME = /pass(word|phrase)?|pwd|secret|token|api[-_]?key|private|credential|authorization|cookie|^key$|signature|session/i;
/**
 * A name that ends in the word "key": `ssh_key`, `signing-key`, `SSH_KEY`, and camelCase `sshKey`,
 * `accessKey` (not `monkey` or `keyboard`). `publicKey` is caught too: shown as `***`, which fails
 * closed.
 */
const KEY_NAME = /(?:^|[-_. ])key$/i;
const CAMEL_KEY_NAME = /[a-z0-9]Key$/;

/**
 * A value that is a credential whatever its field is called: an HTTP Authorization value
 * (`Bearer <token>`, `Basic <base64>`, `Token <token>`: the scheme and one word, so prose such as
 * "Bearer of good news" is not one) or a PEM private key.
 */
const AUTHORIZATION_VALUE = /^(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}$/i;
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name) || KEY_NAME.test(name) || CAMEL_KEY_NAME.test(name);
}

function isCredentialValue(value: string): boolean {
  return AUTHORIZATION_VALUE.test(value.trim()) || PRIVATE_KEY_PEM.test(value);
}

function holdsReference(value: string): boolean {
  if (!mayHoldReferences(value)) return false;
  try {
    return collectReferences(value).length > 0;
  } catch {
    // A malformed reference is not a value we may show: treat it as a secret literal.
    return false;
  }
}

/** `scheme://userinfo@`: the userinfo of a URL anywhere in a text (up to the path, query or fragment). */
const URL_USERINFO = /[a-z][a-z0-9+.-]*:\/\/([^\s/?#]*)@/gi;
/** What a `{{ … }}` placeholder is replaced by while a text is examined (never in a real value). */
const PLACEHOLDER = '\u0001';

/**
 * Whether `text` holds a URL whose user or password is written in it: a password after `:`, or a
 * user alone (a token given as the user, as git hosts take it). A `{{ secret://… }}` in that place
 * names where the value lives and does not count.
 *
 * @example
 * holdsUrlCredentials('https://svc:hunter2@jira.example.com') // true
 * holdsUrlCredentials('https://svc:{{ secret://vault/jira#password }}@jira.example.com') // false
 */
export function holdsUrlCredentials(text: string): boolean {
  return urlSecrets(text).length > 0;
}

/** The query of a URL anywhere in a text (up to the fragment). */
const URL_QUERY = /[a-z][a-z0-9+.-]*:\/\/[^\s?#"']*\?([^\s#"']*)/gi;
/** Query parameters that carry a credential besides the credential words: Azure SAS `sig`, Functions `code`. */
const CREDENTIAL_PARAM = /^(sig|code|key|auth)$/i;

/**
 * The credentials written in the URLs of a text: the password of a userinfo (its user when
 * alone), and the value of a query parameter whose name says it is one (`api_key`,
 * `access_token`, `sig`…). A `{{ secret://… }}` in their place does not count.
 */
function urlSecrets(text: string): string[] {
  if (!text.includes('://')) return [];
  const plain = text.replace(/\{\{[\s\S]*?\}\}/g, PLACEHOLDER);
  const out: string[] = [];
  for (const match of plain.matchAll(URL_USERINFO)) {
    const info = match[1] ?? '';
    const colon = info.indexOf(':');
    out.push(colon === -1 ? info : info.slice(colon + 1));
  }
  for (const match of plain.matchAll(URL_QUERY)) {
    for (const pair of (match[1] ?? '').split(/[&;]/)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      if (CREDENTIAL_NAME.test(name) || CREDENTIAL_PARAM.test(name)) out.push(pair.slice(eq + 1));
    }
  }
  return out.filter((secret) => secret !== '' && !secret.includes(PLACEHOLDER));
}

/** Whether the field at `path` (dotted) is secret by its type or by its name. */
export function isSecretField(path: string, secretFields: readonly string[]): boolean {
  const parts = path.split('.');
  for (let i = 1; i <= parts.length; i++) if (secretFields.includes(parts.slice(0, i).join('.'))) return true;
  return parts.some(isCredentialName);
}

/**
 * @example
 * maskConnectionFields({ baseUrl: 'https://jira', auth: { method: 'bearer', token: 'abc' } }, ['auth.token'])
 * // → { baseUrl: 'https://jira', auth: { method: 'bearer', token: '***' } }
 */
export function maskConnectionFields(fields: Record<string, unknown>, secretFields: readonly string[]): Record<string, unknown> {
  const mask = (value: unknown, path: string, secret: boolean): unknown => {
    if (typeof value === 'string') {
      if (holdsUrlCredentials(value)) return MASK_TEXT;
      if (holdsReference(value)) return value;
      return secret || isCredentialValue(value) ? MASK_TEXT : value;
    }
    if (Array.isArray(value)) return value.map((v, i) => mask(v, `${path}.${i}`, secret));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => {
          const at = path ? `${path}.${k}` : k;
          return [k, mask(v, at, secret || isSecretField(at, secretFields))];
        }),
      );
    }
    return secret ? MASK_TEXT : value;
  };
  return mask(fields, '', false) as Record<string, unknown>;
}

/**
 * The literal secrets of a connection's fields: the values {@link maskConnectionFields} shows as
 * `***` (a URL holding credentials is given whole and by its password). Whoever hands the
 * resolved fields on teaches them to the redactor, as it does the values references resolved to:
 * `sesame run --connection` masks them in the command's output.
 */
export function secretLiterals(fields: Record<string, unknown>, secretFields: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: string, secret: boolean): void => {
    if (typeof value === 'string') {
      if (holdsUrlCredentials(value)) out.push(value, ...withDecoded(urlSecrets(value)));
      else if ((secret || isCredentialValue(value)) && !holdsReference(value)) out.push(value);
    } else if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, `${path}.${i}`, secret);
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        const at = path ? `${path}.${k}` : k;
        walk(v, at, secret || isSecretField(at, secretFields));
      }
    } else if (secret && (typeof value === 'number' || typeof value === 'boolean')) out.push(String(value));
  };
  walk(fields, '', false);
  return out;
}

/** Each text as written and %-decoded (a URL carries its credentials encoded). */
function withDecoded(texts: readonly string[]): string[] {
  return texts.flatMap((t) => {
    try {
      return [t, decodeURIComponent(t)];
    } catch {
      return [t];
    }
  });
}
