/** What the builtin store accepts as secret names, namespaces, tags and descriptions. */
import { UsageError } from '../errors.js';
import { NAMESPACE } from '../namespaces.js';

export const MAX_NAME_LENGTH = 512;
const MAX_TAGS = 50;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 256;
const MAX_DESCRIPTION = 2048;

// The same grammar as namespaces in config (src/config/schema.ts). Repeated here because this
// layer sits below config; a namespace reaching it from the CLI or the API has not been
// through the config schema.
// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators: invisible in
// a terminal and dangerous in logs.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const EXAMPLE = 'write names like "db/password" or "team/jira/token"';

/**
 * Check a secret name: path segments separated by `/`, none empty, `.` or `..`, no leading or
 * trailing `/`, no control characters. Throws `UsageError` saying which rule broke.
 */
export function checkSecretName(name: string, label = 'builtin'): void {
  const fail = (why: string): never => {
    throw new UsageError(`[${label}] secret name ${JSON.stringify(name)} ${why}: ${EXAMPLE}`);
  };
  if (name.length === 0) fail('is empty');
  if (name.length > MAX_NAME_LENGTH) fail(`is longer than ${MAX_NAME_LENGTH} characters`);
  if (CONTROL.test(name)) fail('contains a control character');
  if (name.startsWith('/')) fail('starts with "/"');
  if (name.endsWith('/')) fail('ends with "/"');
  for (const segment of name.split('/')) {
    if (segment === '') fail('has an empty segment ("//")');
    if (segment === '.' || segment === '..') fail(`has a "${segment}" segment`);
  }
}

const codePoint = (c: string): string =>
  `U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * A name a write may create: no invisible characters, and in Unicode NFC. A name written decomposed (`e` + U+0301, as macOS
 * file names are) looks exactly like its composed form but is another name; storing both would
 * give two secrets no one can tell apart. Reads take any name, so one stored before still reads.
 */
export function checkComposedName(name: string, label = 'builtin'): void {
  // Format characters (Unicode Cf: zero-width spaces and joiners, the byte order mark, direction
  // overrides, the soft hyphen) show as nothing: the name would look like the one without them.
  const invisible = [...new Set(name.match(/\p{Cf}/gu) ?? [])].map(codePoint);
  if (invisible.length > 0) {
    throw new UsageError(
      `[${label}] secret name ${JSON.stringify(name)} contains an invisible character (${invisible.join(', ')}): it would look like another name; remove it`,
    );
  }
  const composed = name.normalize('NFC');
  if (composed === name) return;
  const marks = [...new Set([...name].filter((c) => /\p{M}/u.test(c)))].map(codePoint);
  const how =
    marks.length > 0
      ? `it writes a letter as a base and a combining mark (${marks.join(', ')}), so it would look like another name`
      : 'it would look like another name';
  throw new UsageError(
    `[${label}] secret name ${JSON.stringify(name)} is not in Unicode NFC: ${how}; write it composed (NFC), as ${JSON.stringify(composed)}`,
  );
}

export function checkNamespace(namespace: string, label = 'builtin'): void {
  if (namespace !== '' && !NAMESPACE.test(namespace)) {
    throw new UsageError(
      `[${label}] namespace ${JSON.stringify(namespace)} is not a namespace: dotted lowercase segments, e.g. "acme" or "acme.devops" ("" is the root)`,
    );
  }
}

export function checkTags(tags: Record<string, string>, label = 'builtin'): void {
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) throw new UsageError(`[${label}] a secret has at most ${MAX_TAGS} tags`);
  for (const [key, value] of entries) {
    if (typeof value !== 'string') {
      throw new UsageError(`[${label}] tag ${JSON.stringify(key)} must have a text value`);
    }
    if (key.length === 0 || key.length > MAX_TAG_KEY || CONTROL.test(key)) {
      throw new UsageError(
        `[${label}] tag ${JSON.stringify(key)} is not a tag name: 1 to ${MAX_TAG_KEY} characters, no control characters`,
      );
    }
    if (value.length > MAX_TAG_VALUE || CONTROL.test(value)) {
      throw new UsageError(
        `[${label}] the value of tag ${JSON.stringify(key)} must be at most ${MAX_TAG_VALUE} characters, without control characters`,
      );
    }
  }
}

export function checkDescription(description: string, label = 'builtin'): void {
  if (description.length > MAX_DESCRIPTION) {
    throw new UsageError(`[${label}] a description is at most ${MAX_DESCRIPTION} characters`);
  }
}

/** A `version` as given in a reference or request: a positive integer in decimal. */
export function parseVersion(version: string, label = 'builtin'): number {
  if (!/^[1-9][0-9]{0,9}$/.test(version) || Number(version) > 2_147_483_647) {
    throw new UsageError(`[${label}] version ${JSON.stringify(version)} is not a builtin version: use 1, 2, 3…`);
  }
  return Number(version);
}
