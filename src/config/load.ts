import { existsSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLError } from 'yaml';
import { isSecretField } from '../connections/mask.js';
import { ConfigError, jsonSyntaxError } from '../errors.js';
import { documentText, HostFileError, readHostFile } from '../host-file.js';
import { noteInterpolatedVariable, noteOwnFile } from './own-configuration.js';
import type { ConnectionTypeRegistry } from '../connections/types.js';
import type { StoreTypeRegistry } from '../stores/registry.js';
import { formatPath, type SesameConfig, validateConfig } from './schema.js';

import { findDefaultConfigFile } from './files.js';

export { DEFAULT_CONFIG_FILES } from './files.js';

/** The most a config file may hold (hundreds of stores and connections are well under a MiB). */
const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;
/** The most a `${file:…}` may hold: a password, a token, a certificate bundle. */
const MAX_INTERPOLATED_FILE_BYTES = 1024 * 1024;

/** `$${` (a literal `${`), `${env:NAME}`, `${file:path}`, or any other `${` (an error). */
const INTERPOLATION = /\$\$\{|\$\{(env|file):([^}]*)\}|\$\{/g;

/**
 * Replace `${env:NAME}` and `${file:/path}` in every string of a parsed document. `$${` is a
 * literal `${`; any other `${` is a {@link ConfigError}. File contents lose one trailing newline (mounted secrets usually have one).
 */
export function interpolate(
  doc: unknown,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
  at: PropertyKey[] = [],
): unknown {
  const walk = (value: unknown, at: PropertyKey[]): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('${')) return value;
      return value.replace(INTERPOLATION, (match, kind: string | undefined, arg: string | undefined) => {
        if (match === '$${') return '${';
        const where = formatPath(at) || undefined;
        if (kind === undefined) {
          // `${JIRA_TOKEN}`, `${ENV:X}`, an unclosed `${env:X`: kept as text it would become the
          // value (a token, a password) without a word. The text is not repeated: it may be one.
          throw new ConfigError('"${" starts neither ${env:NAME} nor ${file:/path}', {
            path: where,
            hint: 'write ${env:NAME} for an environment variable, ${file:/path} for a file, or $${ for a literal "${"',
          });
        }
        if (kind === 'env') {
          // Configuration from now on: the env store will not serve it (own-configuration.ts).
          if (arg) noteInterpolatedVariable(arg);
          const found = env[arg ?? ''];
          if (found === undefined) {
            throw new ConfigError(`environment variable ${arg} is not set`, {
              path: where,
              hint: `export ${arg}=… before starting, or change \${env:${arg}}`,
            });
          }
          return found;
        }
        const file = path.resolve(baseDir, arg ?? '');
        noteOwnFile(file, 'the config file reads it with ${file:}');
        try {
          // Bounded, and never a pipe or a device: the config is read synchronously, so /dev/zero
          // or a pipe with no writer stopped the process before it said anything.
          return readHostFile(file, { maxBytes: MAX_INTERPOLATED_FILE_BYTES, limitOf: 'a ${file:…} may hold' }).replace(
            /\r?\n$/,
            '',
          );
        } catch (err) {
          const reason = err instanceof HostFileError ? err.reason : 'cannot be read';
          throw new ConfigError(`cannot read ${file} for \${file:${arg}}`, {
            path: where,
            hint:
              err instanceof HostFileError && err.code === 'ENOENT'
                ? 'the file does not exist'
                : err instanceof HostFileError && (err.code === 'EACCES' || err.code === 'EPERM')
                  ? 'check its permissions'
                  : `it ${reason}: give a regular file (a mounted secret, a key file)`,
          });
        }
      });
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...at, i]));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, [...at, k]);
      return out;
    }
    return value;
  };
  return walk(doc, at);
}

/**
 * Where a syntax error is, as `file:line:col`, then the line and a caret under the column:
 *
 *     sesame.yaml:4:4: Sequence item without - indicator (not valid YAML)
 *       4 |    type: y
 *         |    ^
 *
 * The excerpt is the user's own file shown back on their terminal. It is only ever built for a
 * document that failed to parse, which Sesame has not read a value from.
 */
export function syntaxErrorExcerpt(
  text: string,
  file: string,
  line: number,
  col: number,
  message: string,
  kind: 'YAML' | 'JSON',
): string {
  const lines = text.split(/\r?\n/);
  const whole = hideCredential((lines[line - 1] ?? '').replace(/\t/g, ' '));
  const number = String(line);
  const gutter = ' '.repeat(number.length);
  const at = Math.max(0, Math.min(col - 1, whole.length));
  // Only the part around the fault: the rest of a long line is other settings, some credentials.
  const from = Math.max(0, at - EXCERPT_REACH);
  const to = Math.min(whole.length, at + EXCERPT_REACH);
  const source = `${from > 0 ? '…' : ''}${whole.slice(from, to)}${to < whole.length ? '…' : ''}`;
  const caretAt = at - from + (from > 0 ? 1 : 0);
  return `${file}:${line}:${col}: ${message} (not valid ${kind})\n  ${number} | ${source}\n  ${gutter} | ${' '.repeat(caretAt)}^`;
}

/**
 * A line shown in an excerpt, with the value of a key that names a credential (`password:`,
 * `"token":`, `clientSecret:`) starred out character for character, so the caret still points
 * at the same column. Other values are the user's own settings, shown as written.
 */
function hideCredential(line: string): string {
  const star = (text: string) => text.replace(/\S/g, '*');
  // A JSON line may hold a whole document (a minified config): every `"key": "value"` on it.
  let out = line.replace(
    /("((?:[^"\\]|\\.)*)"\s*:\s*")((?:[^"\\]|\\.)*)"/g,
    (pair, head: string, key: string, value: string) =>
      isSecretField(key, []) ? `${head}${star(value)}"` : pair,
  );
  // The user and password of a URL, whatever holds it.
  out = out.replace(
    /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"']*)@/gi,
    (_, scheme: string, info: string) => `${scheme}${star(info)}@`,
  );
  const match = /^(\s*(?:-\s+)?["']?([A-Za-z0-9_.-]+)["']?\s*:\s?)(.*)$/.exec(out);
  if (!match || !isSecretField(match[2] ?? '', [])) return out;
  return `${match[1]}${star(match[3] ?? '')}`;
}

/** Characters of the failing line shown on each side of the caret (a minified file is one line). */
const EXCERPT_REACH = 60;

/** 1-based line and column of a 0-based offset into `text`. */
function lineColumnAt(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, offset));
  const line = before.split('\n').length;
  const col = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, col };
}

/** Parse YAML or JSON text; JSON is YAML, but a `.json` file gets JSON's stricter errors. */
export function parseConfigText(document: string, file: string): unknown {
  const text = documentText(document);
  const shown = path.relative(process.cwd(), file) || file;
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(text);
    } catch (err) {
      // V8 may quote the whole document in its message: only what is wrong, and where.
      const { reason: plain, position } = jsonSyntaxError(err);
      let at: { line: number; col: number } | undefined =
        position === undefined ? undefined : lineColumnAt(text, position);
      if (!at) {
        // No position from V8: JSON is YAML's flow syntax, so YAML's parser can locate most errors.
        try {
          parseYaml(text, { prettyErrors: true });
        } catch (yamlError) {
          const start = yamlError instanceof YAMLError ? yamlError.linePos?.[0] : undefined;
          if (start) at = { line: start.line, col: start.col };
        }
      }
      if (at) throw new ConfigError(syntaxErrorExcerpt(text, shown, at.line, at.col, plain, 'JSON'));
      throw new ConfigError(`${shown} is not valid JSON: ${plain}`);
    }
  }
  try {
    return parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    if (err instanceof YAMLError && err.linePos) {
      const [start] = err.linePos;
      // The library's message ends with " at line L, column C:" and its own excerpt: we give ours.
      const plain = (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?\s*$/, '');
      throw new ConfigError(syntaxErrorExcerpt(text, shown, start.line, start.col, plain, 'YAML'));
    }
    const detail =
      err instanceof Error ? (err.message.split('\n')[0] ?? '').replace(/:\s*$/, '') : String(err);
    throw new ConfigError(`${shown} is not valid YAML: ${detail}`);
  }
}

/** What a store's settings or a connection's fields could not be interpolated with, by index. */
export interface DeferredInterpolation {
  stores: Map<number, ConfigError>;
  connections: Map<number, ConfigError>;
}

/** The keys of a store entry that say what it is; the rest are its settings. */
const STORE_HEAD = new Set(['name', 'namespace', 'type', 'description', 'cache', 'readOnly']);
const CONNECTION_HEAD = new Set(['name', 'namespace', 'type', 'description']);

/**
 * {@link interpolate} for a whole config document, where a store's settings and a connection's
 * fields are interpolated each on their own: an unset `${env:X}` or a missing `${file:…}` there
 * does not fail the config, it makes that store or connection unusable (the error is kept in
 * `deferred` and raised when a command uses it). So one store nobody uses this time cannot stop
 * `sesame resolve secret://env/HOME`. Everything else (database, master key, names, types,
 * namespaces) is needed by every command and still fails at once.
 */
export function interpolateConfig(
  raw: unknown,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): { doc: unknown; deferred: DeferredInterpolation } {
  const deferred: DeferredInterpolation = { stores: new Map(), connections: new Map() };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { doc: interpolate(raw, baseDir, env), deferred };
  const { stores, connections, ...rest } = raw as Record<string, unknown>;
  const doc = interpolate(rest, baseDir, env) as Record<string, unknown>;
  const each = (list: unknown, key: 'stores' | 'connections', head: Set<string>) => {
    if (!Array.isArray(list)) return list === undefined ? undefined : interpolate(list, baseDir, env);
    return list.map((entry: unknown, index) => {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
        return interpolate(entry, baseDir, env);
      const out: Record<string, unknown> = {};
      const body: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(entry)) {
        if (head.has(k)) out[k] = interpolateAt(v, baseDir, env, [key, index, k]);
        else body[k] = v;
      }
      try {
        Object.assign(out, interpolateAt(body, baseDir, env, [key, index]));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        deferred[key].set(index, err);
        // Only the uninterpolated text is known: keep it out of validation (it is not what
        // the user meant), so the entry carries no settings or fields until it is fixed.
        if (key === 'connections') out['fields'] = {};
      }
      return out;
    });
  };
  if (stores !== undefined) doc['stores'] = each(stores, 'stores', STORE_HEAD);
  if (connections !== undefined) doc['connections'] = each(connections, 'connections', CONNECTION_HEAD);
  return { doc, deferred };
}

/** {@link interpolate} of a value found at `at` in the document (errors name the full path). */
function interpolateAt(value: unknown, baseDir: string, env: NodeJS.ProcessEnv, at: PropertyKey[]): unknown {
  return interpolate(value, baseDir, env, at);
}

export interface LoadConfigOptions {
  /** Explicit config file (`--config`). When absent: ./sesame.yaml if present, else the embedded default. */
  file?: string | undefined;
  cwd?: string | undefined;
  registry: StoreTypeRegistry;
  connectionTypes?: ConnectionTypeRegistry | undefined;
  env?: NodeJS.ProcessEnv;
}

/** Find, read, interpolate and validate the config. */
export function loadConfig(options: LoadConfigOptions): SesameConfig {
  const cwd = options.cwd ?? process.cwd();
  let file: string | undefined;
  if (options.file) {
    file = path.resolve(cwd, options.file);
    if (!existsSync(file)) {
      throw new ConfigError(`file ${options.file} does not exist`, {
        hint: 'check the --config path, or omit it to use ./sesame.yaml or the embedded default',
      });
    }
  } else {
    file = findDefaultConfigFile(cwd);
  }
  if (!file) {
    return validateConfig(
      {},
      { registry: options.registry, connectionTypes: options.connectionTypes, baseDir: cwd, embedded: true },
    );
  }
  const baseDir = path.dirname(file);
  let text: string;
  try {
    // A pipe is fine (--config <(envsubst < sesame.yaml.tmpl)); the bound stops /dev/zero.
    text = readHostFile(file, { maxBytes: MAX_CONFIG_FILE_BYTES, streams: true, limitOf: 'a config file may hold' });
  } catch (err) {
    if (!(err instanceof HostFileError)) throw err;
    throw new ConfigError(`cannot read the config file ${file}: it ${err.reason}`, {
      hint: 'check the --config path and the file',
    });
  }
  const raw = parseConfigText(text, file);
  const { doc, deferred } = interpolateConfig(raw, baseDir, options.env ?? process.env);
  return validateConfig(doc, {
    deferred,
    registry: options.registry,
    connectionTypes: options.connectionTypes,
    baseDir,
    source: file,
    embedded: false,
  });
}
