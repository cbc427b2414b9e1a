/**
 * Reference dialects: other products' reference syntaxes read as Sesame references.
 *
 * Each dialect maps onto the one reference model (store, name, version or stage, key) that
 * `secret://` parses to, so everything after parsing — store lookup in the caller's namespace,
 * caching, coalescing and batching, masking, audit, errors — is the `secret://` path itself. A
 * slot's `raw` is the canonical `secret://` form of what was written, which is what audit,
 * reports and refresh see.
 *
 * Off unless declared under `dialects:` in sesame.yaml: without it, nothing here runs and the
 * text stays literal, as before.
 */
import { ConfigError, ReferenceSyntaxError } from '../../errors.js';
import { formatReference, type Reference } from '../reference.js';
import {
  KESTRA_OPENER,
  N8N_OPENER,
  OP_SCHEME,
  parseKestra,
  parseN8n,
  parseOp,
  parseVals,
  parseWorkato,
  type ValsParts,
  WORKATO_OPENER,
} from './parsers.js';
import type { DialectName, DialectsSettings } from './settings.js';

export { DIALECT_NAMES, type DialectName, type DialectsSettings, dialectsSchema } from './settings.js';

/** What the dialects need to know of a configured store (a `StoreConfig` is one). */
export interface DialectStore {
  readonly name: string;
  readonly namespace: string;
  readonly type: string;
  readonly settings: unknown;
}

/** What the dialects are built from (a `SesameConfig` is one). */
export interface DialectSource {
  readonly dialects?: DialectsSettings | undefined;
  readonly stores: readonly DialectStore[];
}

/** A dialect that opens inside `{{ … }}`, and the text that opens it. */
const BRACED: ReadonlyArray<readonly [DialectName, string]> = [
  ['workato', WORKATO_OPENER],
  ['kestra', KESTRA_OPENER],
  ['n8n', N8N_OPENER],
  ['op', OP_SCHEME],
];

/** n8n's provider names and the Sesame store type each one is. */
const N8N_PROVIDERS: Readonly<Record<string, string>> = {
  awsSecretsManager: 'aws-secrets-manager',
  azureKeyVault: 'azure-key-vault',
  gcpSecretsManager: 'gcp-secret-manager',
  vault: 'vault',
  infisical: 'infisical',
  onePassword: '1password-connect',
};

const STORE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const setting = (store: DialectStore, key: string): unknown =>
  store.settings !== null && typeof store.settings === 'object'
    ? (store.settings as Record<string, unknown>)[key]
    : undefined;

const isWordChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const isBackendChar = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a);

/** Where an embedded vals expression is in a text: `[start, end)`, and where the text goes on. */
export interface InlineMatch {
  start: number;
  end: number;
  next: number;
}

/** The dialects a config declares, ready to recognise and parse references. */
export class DialectSet {
  readonly #settings: DialectsSettings;
  readonly #stores: readonly DialectStore[];
  readonly #braced: ReadonlyArray<readonly [DialectName, string]>;
  /** vals is declared: `ref+…` expressions are read anywhere in a string. */
  readonly vals: boolean;
  /** op is declared: a string that is one `op://…` reference is a whole-value slot. */
  readonly op: boolean;

  constructor(settings: DialectsSettings, stores: readonly DialectStore[]) {
    this.#settings = settings;
    this.#stores = stores;
    this.#braced = BRACED.filter(([name]) => settings[name] !== undefined);
    this.vals = settings.vals !== undefined;
    this.op = settings.op !== undefined;
  }

  /** The declared dialects. */
  get names(): DialectName[] {
    return (Object.keys(this.#settings) as DialectName[]).filter((n) => this.#settings[n] !== undefined);
  }

  /**
   * Check what can be checked without a reference: named stores are declared, and a dialect
   * whose store defaults to "the only store of its type" finds exactly one.
   */
  validate(): void {
    const explicit: Array<[string, string | undefined]> = [
      ['dialects.workato.store', this.#settings.workato?.store],
      ['dialects.kestra.store', this.#settings.kestra?.store],
      ['dialects.op.store', this.#settings.op?.store],
      ...Object.entries(this.#settings.n8n?.stores ?? {}).map(([k, v]): [string, string] => [
        `dialects.n8n.stores.${k}`,
        v,
      ]),
      ...Object.entries(this.#settings.vals?.stores ?? {}).map(([k, v]): [string, string | undefined] => [
        `dialects.vals.stores.${k}`,
        v,
      ]),
    ];
    for (const [path, name] of explicit) {
      if (name !== undefined && !this.#stores.some((s) => s.name === name)) {
        throw new ConfigError(`names store "${name}", which is not declared`, {
          path,
          hint: `declare it under stores:, or name one of: ${[...new Set(this.#stores.map((s) => s.name))].join(', ')}`,
        });
      }
    }
    if (this.#settings.workato && this.#settings.workato.store === undefined) this.#workatoStore();
    if (this.#settings.op && this.#settings.op.store === undefined) this.#opStore();
  }

  /** Could `s` hold a dialect reference (cheap pre-check)? */
  mayHold(s: string): boolean {
    return (
      (this.#braced.length > 0 && s.includes('{{')) ||
      (this.vals && s.includes('ref+')) ||
      (this.op && s.startsWith(OP_SCHEME))
    );
  }

  /** The dialect whose opener is at `i` (inside `{{`, after blanks), if one is declared. */
  openerAt(input: string, i: number): DialectName | undefined {
    for (const [name, opener] of this.#braced) if (input.startsWith(opener, i)) return name;
    return undefined;
  }

  /** Parse the text between `{{` and `}}` (blanks trimmed) written in `dialect`. */
  parseBraced(dialect: DialectName, raw: string, field?: string): Reference {
    switch (dialect) {
      case 'workato': {
        const parts = parseWorkato(raw, field);
        return { store: this.#workatoStore(), ...parts };
      }
      case 'kestra':
        return { store: this.#settings.kestra?.store ?? 'builtin', ...parseKestra(raw, field) };
      case 'n8n': {
        const { vault, ...parts } = parseN8n(raw, field);
        return { store: this.#n8nStore(vault), ...parts };
      }
      case 'op':
        return this.parseOp(raw, field);
      default:
        throw new ReferenceSyntaxError({
          input: raw,
          offset: 0,
          expected: `a ${dialect} reference inside {{ }}`,
          field,
        });
    }
  }

  /** `op://<vault>/<item>/[<section>/]<field>`: the item in the op store, `[<section>/]<field>` as the key. */
  parseOp(raw: string, field?: string): Reference {
    const op = parseOp(raw, field);
    const store = this.#opStore();
    const config = this.#stores.find((s) => s.name === store);
    const storeVault = config ? setting(config, 'vault') : undefined;
    const sameVault = typeof storeVault === 'string' && storeVault.toLowerCase() === op.vault.toLowerCase();
    // The store keys a field of a section `<section>/<label>` too (1password-connect itemValue).
    const key = op.section === undefined ? op.field : `${op.section}/${op.field}`;
    return { store, name: sameVault ? op.item : `${op.vault}/${op.item}`, key };
  }

  /** `[secret]ref+<backend>://…` (without a closing `+`). */
  parseVals(raw: string, field?: string): Reference {
    const vals = parseVals(raw, field);
    switch (vals.backend) {
      case 'awssecrets':
        return this.#valsAws(raw, vals, field);
      case 'vault':
        return this.#valsVault(raw, vals, field);
      case 'gcpsecrets':
        return this.#valsGcp(raw, vals, field);
    }
  }

  /**
   * The next embedded vals expression in `text` from `from`: `ref+` (or `secretref+`) at a word
   * start, a backend, `://`, then everything up to a `+` (consumed), a space or a line end, as
   * vals reads it (or a `{{`, which no vals path holds). One forward scan; a `ref+` that opens nothing is skipped past.
   */
  findVals(text: string, from: number): InlineMatch | undefined {
    let cursor = from;
    for (;;) {
      const at = text.indexOf('ref+', cursor);
      if (at === -1) return undefined;
      cursor = at + 4;
      const start = at >= 6 && text.startsWith('secret', at - 6) ? at - 6 : at;
      if (start > 0 && isWordChar(text.charCodeAt(start - 1))) continue;
      let j = at + 4;
      while (j < text.length && isBackendChar(text.charCodeAt(j))) j++;
      if (j === at + 4 || !text.startsWith('://', j)) continue;
      let end = j + 3;
      for (; end < text.length; end++) {
        const c = text.charCodeAt(end);
        if (c === 0x2b || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) break;
        // A placeholder right after it is not part of it (`{{` is never in a vals path).
        if (c === 0x7b && text.charCodeAt(end + 1) === 0x7b) break;
      }
      if (text.charCodeAt(end) === 0x2b) return { start, end, next: end + 1 };
      // Without an explicit `+`, a closing quote or comma belongs to the text around (as in vals).
      while (end > j + 3 && /["',]/.test(text[end - 1] as string)) end--;
      return { start, end, next: end };
    }
  }

  #only(type: string, path: string, what: string): string {
    const names = [...new Set(this.#stores.filter((s) => s.type === type).map((s) => s.name))];
    if (names.length === 1) return names[0] as string;
    if (names.length === 0) {
      throw new ConfigError(`${what} reads a store of type ${type}, and none is declared`, {
        path,
        hint: `declare ${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type} store under stores:, or set ${path} to the store to read`,
      });
    }
    throw new ConfigError(`${what}: several stores of type ${type} (${names.join(', ')}) could be meant`, {
      path,
      hint: `set ${path} to the one to read, e.g. ${path}: ${names[0]}`,
    });
  }

  #workatoStore(): string {
    return (
      this.#settings.workato?.store ??
      this.#only('aws-secrets-manager', 'dialects.workato.store', 'the workato dialect')
    );
  }

  #opStore(): string {
    return this.#settings.op?.store ?? this.#only('1password-connect', 'dialects.op.store', 'the op dialect');
  }

  #n8nStore(vault: string): string {
    const mapped = this.#settings.n8n?.stores?.[vault];
    if (mapped !== undefined) return mapped;
    if (STORE_NAME.test(vault) && this.#stores.some((s) => s.name === vault)) return vault;
    const type = Object.hasOwn(N8N_PROVIDERS, vault) ? N8N_PROVIDERS[vault] : undefined;
    if (type !== undefined) return this.#only(type, `dialects.n8n.stores.${vault}`, `n8n vault "${vault}"`);
    throw new ConfigError(`n8n vault "${vault}" names no Sesame store`, {
      path: 'dialects.n8n.stores',
      hint: `map it to the store to read: dialects.n8n.stores.${vault}: <store>`,
    });
  }

  #store(name: string): DialectStore | undefined {
    return this.#stores.find((s) => s.name === name);
  }

  /** Refuse every parameter but `allowed`: connection settings belong on the store. */
  #params(raw: string, vals: ValsParts, allowed: readonly string[], field?: string): void {
    for (const [name, { offset }] of vals.params) {
      if (!allowed.includes(name)) {
        throw new ReferenceSyntaxError({
          input: raw,
          offset,
          expected:
            `${allowed.length ? allowed.map((a) => `${a}=`).join(' or ') : 'no parameters'} (not ${name}=: ` +
            `how to reach ref+${vals.backend} is set on the store in sesame.yaml, not in the reference)`,
          field,
        });
      }
    }
  }

  /** A store's `prefix` is prepended to every name: a full path must start with it. */
  #withoutPrefix(
    raw: string,
    vals: ValsParts,
    store: DialectStore | undefined,
    name: string,
    offset: number,
    field?: string,
  ): string {
    const prefix = store ? setting(store, 'prefix') : undefined;
    if (typeof prefix !== 'string' || prefix === '') return name;
    if (!name.startsWith(prefix) || name.length === prefix.length) {
      throw new ReferenceSyntaxError({
        input: raw,
        offset,
        expected: `a path under "${prefix}", the prefix of store ${store?.name} (ref+${vals.backend} paths are full paths)`,
        field,
      });
    }
    return name.slice(prefix.length);
  }

  #valsAws(raw: string, vals: ValsParts, field?: string): Reference {
    this.#params(raw, vals, ['version_stage', 'version_id', 'region'], field);
    const storeName =
      this.#settings.vals?.stores?.awssecrets ??
      this.#only('aws-secrets-manager', 'dialects.vals.stores.awssecrets', 'ref+awssecrets://');
    const store = this.#store(storeName);
    const region = vals.params.get('region');
    const storeRegion = store ? setting(store, 'region') : undefined;
    if (region !== undefined && typeof storeRegion !== 'string') {
      // The store's region comes from the environment (AWS_REGION, a profile): reading there
      // could be another region's copy of the secret. Say which region to set instead.
      throw new ConfigError(
        `ref+awssecrets asks for region ${region.value}, and store ${storeName} names no region (it reads the one of its environment)`,
        {
          path: 'dialects.vals.stores.awssecrets',
          hint: `set region: ${region.value} on store ${storeName}, or declare a store for ${region.value} and map it, or drop ?region= from the reference`,
        },
      );
    }
    if (region !== undefined && typeof storeRegion === 'string' && storeRegion !== region.value) {
      throw new ConfigError(
        `ref+awssecrets asks for region ${region.value}, and store ${storeName} reads ${storeRegion}`,
        {
          path: 'dialects.vals.stores.awssecrets',
          hint: `declare a store for ${region.value} and map it, or drop ?region= from the reference`,
        },
      );
    }
    const stage = vals.params.get('version_stage');
    const version = vals.params.get('version_id');
    if (stage !== undefined && version !== undefined) {
      throw new ReferenceSyntaxError({
        input: raw,
        offset: version.offset,
        expected: 'only one of version_stage= and version_id=',
        field,
      });
    }
    const name = vals.path.startsWith('arn:')
      ? vals.path
      : this.#withoutPrefix(raw, vals, store, vals.path, vals.pathOffset, field);
    return {
      store: storeName,
      name,
      version: version?.value || undefined,
      stage: stage?.value || undefined,
      key: vals.pointer,
    };
  }

  #valsVault(raw: string, vals: ValsParts, field?: string): Reference {
    this.#params(raw, vals, ['version'], field);
    const storeName =
      this.#settings.vals?.stores?.vault ?? this.#only('vault', 'dialects.vals.stores.vault', 'ref+vault://');
    const store = this.#store(storeName);
    const mountSetting = store ? setting(store, 'mount') : undefined;
    const mount = typeof mountSetting === 'string' ? mountSetting : 'secret';
    const path = vals.path.replace(/^\/+/, '');
    if (!path.startsWith(`${mount}/`)) {
      throw new ReferenceSyntaxError({
        input: raw,
        offset: vals.pathOffset,
        expected: `a path under "${mount}/", the mount of store ${storeName} (e.g. ref+vault://${mount}/data/app#/password)`,
        field,
      });
    }
    let rest = path.slice(mount.length + 1);
    // KV v2's API path puts `data/` after the mount; Sesame's names are paths inside the mount.
    if (setting(store ?? ({} as DialectStore), 'kvVersion') !== 1 && rest.startsWith('data/'))
      rest = rest.slice(5);
    if (rest === '') {
      throw new ReferenceSyntaxError({
        input: raw,
        offset: vals.pathOffset + path.length,
        expected: 'a secret path after the mount',
        field,
      });
    }
    const name = this.#withoutPrefix(raw, vals, store, rest, vals.pathOffset, field);
    return {
      store: storeName,
      name,
      version: vals.params.get('version')?.value || undefined,
      key: vals.pointer,
    };
  }

  #valsGcp(raw: string, vals: ValsParts, field?: string): Reference {
    this.#params(raw, vals, ['version'], field);
    const slash = vals.path.indexOf('/');
    if (slash <= 0 || slash === vals.path.length - 1 || vals.path.indexOf('/', slash + 1) !== -1) {
      throw new ReferenceSyntaxError({
        input: raw,
        offset: vals.pathOffset + Math.max(slash, 0),
        expected: 'ref+gcpsecrets://<project>/<secret name>',
        field,
      });
    }
    const project = vals.path.slice(0, slash);
    const explicit = this.#settings.vals?.stores?.gcpsecrets;
    const path = 'dialects.vals.stores.gcpsecrets';
    let storeName: string;
    if (explicit !== undefined) storeName = explicit;
    else {
      const gcp = this.#stores.filter((s) => s.type === 'gcp-secret-manager');
      const matching = [...new Set(gcp.filter((s) => setting(s, 'project') === project).map((s) => s.name))];
      if (matching.length !== 1) {
        throw new ConfigError(
          matching.length === 0
            ? `ref+gcpsecrets reads project ${project}, and no gcp-secret-manager store reads it`
            : `ref+gcpsecrets: several gcp-secret-manager stores read project ${project} (${matching.join(', ')})`,
          { path, hint: `declare a store with project: ${project}, or set ${path} to the store to read` },
        );
      }
      storeName = matching[0] as string;
    }
    const store = this.#store(storeName);
    const storeProject = store ? setting(store, 'project') : undefined;
    if (typeof storeProject === 'string' && storeProject !== project) {
      throw new ConfigError(
        `ref+gcpsecrets reads project ${project}, and store ${storeName} reads ${storeProject}`,
        {
          path,
          hint: 'map a store of that project',
        },
      );
    }
    const name = this.#withoutPrefix(
      raw,
      vals,
      store,
      vals.path.slice(slash + 1),
      vals.pathOffset + slash + 1,
      field,
    );
    return {
      store: storeName,
      name,
      version: vals.params.get('version')?.value || undefined,
      key: vals.pointer,
    };
  }
}

/** The canonical `secret://` text of a dialect reference: what audit, reports and refresh see. */
export const canonical = (ref: Reference): string => formatReference(ref);

const built = new WeakMap<DialectSource, DialectSet | null>();

/**
 * The dialects a config declares (memoized per config object), or undefined when it declares
 * none — then every caller behaves exactly as without dialects.
 */
export function dialectsOf(source: DialectSource | undefined): DialectSet | undefined {
  if (source === undefined || source.dialects === undefined) return undefined;
  let set = built.get(source);
  if (set === undefined) {
    const declared = Object.values(source.dialects).some((v) => v !== undefined);
    set = declared ? new DialectSet(source.dialects, source.stores) : null;
    built.set(source, set);
  }
  return set ?? undefined;
}
