/**
 * One parser per dialect: the text of one reference as written (for `{{ … }}` forms, what is
 * between the braces, blanks trimmed) into the parts of Sesame's reference model. Each is a
 * single left-to-right scan; a malformed reference throws {@link ReferenceSyntaxError} with the
 * offset and what was expected, like `secret://` does. Which store a reference reads from is
 * decided by the caller (index.ts), which knows the config.
 */
import { ReferenceSyntaxError } from '../../errors.js';
import { parsePointer } from '../pointer.js';

function fail(input: string, offset: number, expected: string, field?: string): never {
  throw new ReferenceSyntaxError({ input, offset, expected, field });
}

/** Space, `{`, `}` and controls end or break a reference in every dialect; flag the first one. */
function checkChars(input: string, start: number, end: number, what: string, field?: string, allowSpace = false): void {
  for (let i = start; i < end; i++) {
    const c = input.charCodeAt(i);
    if ((c === 0x20 && !allowSpace) || c < 0x20 || c === 0x7f || c === 0x7b || c === 0x7d) {
      const ch = c === 0x20 ? 'space' : c < 0x20 || c === 0x7f ? 'control character' : input[i];
      fail(input, i, `${what} without a ${ch}`, field);
    }
  }
}

/** The parts of a dialect reference; the store is chosen afterwards. */
export interface DialectParts {
  name: string;
  version?: string | undefined;
  stage?: string | undefined;
  key?: string | undefined;
}

export const WORKATO_OPENER = 'workato:sm:';
const SECRETS_MANAGER_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^:]+$/;

/**
 * `workato:sm:<key name>:<secret ARN>` (Workato's secret mask for AWS Secrets Manager): the key
 * name comes first and may hold dots; the ARN starts at the first `:arn:`.
 */
export function parseWorkato(input: string, field?: string): DialectParts {
  if (!input.startsWith(WORKATO_OPENER)) fail(input, 0, `"${WORKATO_OPENER}"`, field);
  const keyStart = WORKATO_OPENER.length;
  const arnColon = input.indexOf(':arn:', keyStart);
  if (arnColon === -1) {
    fail(
      input,
      input.length,
      'a key name, ":" and the secret ARN (workato:sm:<key name>:arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
      field,
    );
  }
  if (arnColon === keyStart) fail(input, keyStart, 'a key name after "workato:sm:" (the key inside the JSON secret)', field);
  checkChars(input, keyStart, arnColon, 'a key name', field);
  const arnStart = arnColon + 1;
  checkChars(input, arnStart, input.length, 'a secret ARN', field);
  const arn = input.slice(arnStart);
  if (!SECRETS_MANAGER_ARN.test(arn)) {
    fail(input, arnStart, 'a Secrets Manager secret ARN, arn:aws:secretsmanager:<region>:<account>:secret:<name>', field);
  }
  return { name: arn, key: input.slice(keyStart, arnColon) };
}

export const KESTRA_OPENER = 'secret(';

/**
 * `secret('NAME')`, optionally `secret('NAME', subkey='KEY')` (Kestra's `secret()` function).
 * Kestra's `namespace=` argument is refused: Sesame looks the name up in the caller's namespace
 * and its parents, and reading another namespace is a decision for the access policy, not for a
 * reference.
 */
export function parseKestra(input: string, field?: string): DialectParts {
  if (!input.startsWith(KESTRA_OPENER)) fail(input, 0, `"${KESTRA_OPENER}"`, field);
  let i = KESTRA_OPENER.length;
  const blanks = () => {
    while (input[i] === ' ' || input[i] === '\t') i++;
  };
  const quoted = (what: string): string => {
    const quote = input[i];
    if (quote !== "'" && quote !== '"') fail(input, i, `${what} in quotes, e.g. 'API_KEY'`, field);
    const end = input.indexOf(quote, i + 1);
    if (end === -1) fail(input, input.length, `a closing ${quote} after ${what}`, field);
    if (end === i + 1) fail(input, i + 1, `${what} (not empty)`, field);
    checkChars(input, i + 1, end, what, field);
    const text = input.slice(i + 1, end);
    i = end + 1;
    return text;
  };
  blanks();
  const name = quoted('a secret name');
  let key: string | undefined;
  for (;;) {
    blanks();
    if (input[i] === ')') break;
    if (input[i] !== ',') fail(input, i, '")" or ", subkey=\'KEY\'"', field);
    i++;
    blanks();
    const argStart = i;
    while (i < input.length && /[A-Za-z_]/.test(input[i] as string)) i++;
    const arg = input.slice(argStart, i);
    if (arg === 'namespace') {
      fail(
        input,
        argStart,
        'no namespace= argument: Sesame reads the name in the caller\'s namespace and its parents (resolve from that namespace instead)',
        field,
      );
    }
    if (arg !== 'subkey') fail(input, argStart, '"subkey=\'KEY\'" (the only argument Sesame reads)', field);
    if (key !== undefined) fail(input, argStart, 'one subkey', field);
    blanks();
    if (input[i] !== '=') fail(input, i, '"=" after subkey', field);
    i++;
    blanks();
    key = quoted('a subkey');
  }
  i++;
  if (i !== input.length) fail(input, i, '"}}" right after ")" (Sesame reads secret() alone, without filters)', field);
  return { name, key };
}

export const N8N_OPENER = '$secrets.';
const N8N_WORD = /[A-Za-z0-9_]/;

/**
 * `$secrets.<vault>.<name>` (n8n external secrets), optionally `.<key>` for a field of a JSON
 * secret. n8n allows letters, digits and `_` in vault and secret names.
 */
export function parseN8n(input: string, field?: string): { vault: string } & DialectParts {
  if (!input.startsWith(N8N_OPENER)) fail(input, 0, `"${N8N_OPENER}"`, field);
  const segments: string[] = [];
  let i = N8N_OPENER.length;
  const what = ['a vault (provider) name', 'a secret name', 'a key'];
  for (;;) {
    const start = i;
    while (i < input.length && N8N_WORD.test(input[i] as string)) i++;
    if (i === start) fail(input, i, `${what[segments.length]} of letters, digits and "_"`, field);
    segments.push(input.slice(start, i));
    if (i === input.length) break;
    if (input[i] !== '.' || segments.length === 3) {
      fail(input, i, segments.length === 3 ? '"}}" after the key' : '"." and a name of letters, digits and "_", or "}}"', field);
    }
    i++;
  }
  if (segments.length < 2) fail(input, input.length, `"." and a secret name after the vault "${segments[0]}"`, field);
  const [vault, name, key] = segments as [string, string, string | undefined];
  return { vault, name, key };
}

export const OP_SCHEME = 'op://';
/** 1Password's secret reference characters: letters, digits, `-`, `_`, `.` and spaces. */
const OP_CHAR = /[A-Za-z0-9_.\- ]/;

/**
 * `op://<vault>/<item>/[<section>/]<field>` (1Password secret references): the field by its label,
 * in the section when one is given.
 */
export function parseOp(input: string, field?: string): { vault: string; item: string; section?: string | undefined; field: string } {
  if (!input.startsWith(OP_SCHEME)) fail(input, 0, `"${OP_SCHEME}"`, field);
  const segments: string[] = [];
  let i = OP_SCHEME.length;
  const what = ['a vault name', 'an item name', 'a field name', 'a field name'];
  for (;;) {
    const start = i;
    while (i < input.length && OP_CHAR.test(input[i] as string)) i++;
    if (i === start) {
      fail(input, i, `${what[segments.length]} (letters, digits, "-", "_", "." and spaces; use the id for other names)`, field);
    }
    segments.push(input.slice(start, i));
    if (i === input.length) break;
    if (input[i] === '?') fail(input, i, 'no query parameters (Sesame reads the field value itself; attribute= and ssh-format= are not supported)', field);
    if (input[i] !== '/' || segments.length === 4) {
      fail(input, i, segments.length === 4 ? 'the end of the reference after the field' : '"/" or the end of the reference', field);
    }
    i++;
  }
  if (segments.length < 3) fail(input, input.length, '"/" and a field name (op://<vault>/<item>/<field>)', field);
  const [vault, item] = segments as [string, string];
  return { vault, item, section: segments.length === 4 ? segments[2] : undefined, field: segments[segments.length - 1] as string };
}

export type ValsBackend = 'awssecrets' | 'vault' | 'gcpsecrets';
export const VALS_BACKENDS: readonly ValsBackend[] = ['awssecrets', 'vault', 'gcpsecrets'];

export interface ValsParts {
  backend: ValsBackend;
  path: string;
  /** Offset of the path in the input, for messages. */
  pathOffset: number;
  params: Map<string, { value: string; offset: number }>;
  /** The fragment as a JSON Pointer (vals fragments are paths; `#key` means `#/key`). */
  pointer: string | undefined;
}

/**
 * `[secret]ref+<backend>://<path>[?<params>][#<fragment>]` (helmfile/vals), without the trailing
 * `+` that ends an embedded expression. The path and the parameters are checked per backend by
 * the caller.
 */
export function parseVals(input: string, field?: string): ValsParts {
  const at = input.startsWith('secretref+') ? 'secretref+'.length : input.startsWith('ref+') ? 4 : -1;
  if (at === -1) fail(input, 0, '"ref+"', field);
  const sep = input.indexOf('://', at);
  const backend = sep === -1 ? '' : input.slice(at, sep);
  if (!(VALS_BACKENDS as readonly string[]).includes(backend)) {
    fail(input, at, 'a vals backend Sesame reads: ref+awssecrets://, ref+vault:// or ref+gcpsecrets://', field);
  }
  const pathStart = sep + 3;
  const hash = input.indexOf('#', pathStart);
  const pathEnd = hash === -1 ? input.length : hash;
  const question = input.indexOf('?', pathStart);
  const nameEnd = question !== -1 && question < pathEnd ? question : pathEnd;
  if (nameEnd === pathStart) fail(input, pathStart, `a secret path after "ref+${backend}://"`, field);
  checkChars(input, pathStart, pathEnd, 'a secret path', field);
  const params = new Map<string, { value: string; offset: number }>();
  if (nameEnd < pathEnd) {
    let p = nameEnd + 1;
    while (p < pathEnd) {
      const amp = input.indexOf('&', p);
      const end = amp === -1 || amp > pathEnd ? pathEnd : amp;
      const eq = input.indexOf('=', p);
      if (eq === -1 || eq > end || eq === p) fail(input, p, 'a parameter NAME=VALUE', field);
      params.set(input.slice(p, eq), { value: input.slice(eq + 1, end), offset: p });
      p = end + 1;
    }
  }
  let pointer: string | undefined;
  if (hash !== -1) {
    const fragment = input.slice(hash + 1);
    if (fragment === '' || fragment === '/') fail(input, hash + 1, 'a key path after "#", e.g. #/password', field);
    checkChars(input, hash + 1, input.length, 'a key path', field);
    pointer = fragment.startsWith('/') ? fragment : `/${fragment}`;
    try {
      parsePointer(pointer);
    } catch {
      fail(input, hash + 1, 'a key path with "~" only as ~0 or ~1', field);
    }
  }
  return { backend: backend as ValsBackend, path: input.slice(pathStart, nameEnd), pathOffset: pathStart, params, pointer };
}
