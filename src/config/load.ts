import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ConnectionTypeRegistry } from '../connections/types.js';
import type { StoreTypeRegistry } from '../stores/registry.js';
import { formatPath, type SesameConfig, validateConfig } from './schema.js';

export const DEFAULT_CONFIG_FILES = ['sesame.yaml', 'sesame.yml', 'sesame.json'];

const INTERPOLATION = /\$\$\{|\$\{(env|file):([^}]*)\}/g;

/**
 * Replace `${env:NAME}` and `${file:/path}` in every string of a parsed document. `$${` is a
 * literal `${`. File contents lose one trailing newline (mounted secrets usually have one).
 */
export function interpolate(doc: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): unknown {
  const walk = (value: unknown, at: PropertyKey[]): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('${')) return value;
      return value.replace(INTERPOLATION, (match, kind: string | undefined, arg: string | undefined) => {
        if (match === '$${') return '${';
        const where = formatPath(at) || undefined;
        if (kind === 'env') {
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
        try {
          return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
        } catch (err) {
          throw new ConfigError(`cannot read ${file} for \${file:${arg}}`, {
            path: where,
            hint: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : 'check its permissions',
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
  return walk(doc, []);
}

/** Parse YAML or JSON text; JSON is YAML, but a `.json` file gets JSON's stricter errors. */
export function parseConfigText(text: string, file: string): unknown {
  try {
    if (file.endsWith('.json')) return JSON.parse(text);
    return parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(`${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${detail}`);
  }
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
      throw new ConfigError(`config file ${options.file} does not exist`, {
        hint: 'check the --config path, or omit it to use ./sesame.yaml or the embedded default',
      });
    }
  } else {
    file = DEFAULT_CONFIG_FILES.map((f) => path.resolve(cwd, f)).find((f) => existsSync(f));
  }
  if (!file) {
    return validateConfig({}, { registry: options.registry, connectionTypes: options.connectionTypes, baseDir: cwd, embedded: true });
  }
  const baseDir = path.dirname(file);
  const raw = parseConfigText(readFileSync(file, 'utf8'), file);
  const doc = interpolate(raw, baseDir, options.env ?? process.env);
  return validateConfig(doc, {
    registry: options.registry,
    connectionTypes: options.connectionTypes,
    baseDir,
    source: file,
    embedded: false,
  });
}
