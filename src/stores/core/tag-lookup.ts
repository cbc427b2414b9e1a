/**
 * Finding secrets by their tags instead of their names, the way a workflow platform's own
 * secrets backend does it (Kestra's AWS backend tags each secret with its namespace and key and
 * never shows its provider name; any provider with tags or labels can serve the same way). A
 * name is a key; the secret is the one whose tags say it is that key in the caller's namespace
 * — exact, case-sensitive matches on the namespace tag, the key tag and any fixed tags — and
 * exactly one must match: none is not found (the fix names the tags to set), several are a
 * conflict naming them all, never a guess. The namespace must match exactly: no walk up the
 * namespace chain. Secrets found this way are read-only (the platform owns their tags).
 *
 * The adapter gives one provider page at a time, narrowed server-side as far as its API can (by
 * one tag's value); every match is made here, over every page.
 *
 * @example
 * const lookup = new TagLookup({
 *   tag: core.tag, mode: 'lookup: kestra-tags', otherMode: 'lookup: name', platform: 'Kestra', provider: 'AWS',
 *   namespaceTag: 'namespace', keyTag: 'key', required: { prefix: 'kestra' },
 *   page: async (narrow, token) => ({ items: …, next: … }),
 * });
 * const { id } = await lookup.find('MY_KEY', ['company.team']);
 */
import { SecretNotFoundError, SecretStateError, UnsupportedOperationError } from '../../errors.js';
import type { ListOptions, ListPage, SecretMetadata } from '../contract.js';
import { type ProviderPage, tokenCursor } from './paging.js';

/** A provider secret with its tags. */
export interface TaggedSecret {
  /** What the adapter reads the secret by (an ARN, a resource name); empty: never found. */
  id: string;
  /** The provider's name of the secret, for messages. */
  label: string;
  tags: Record<string, string>;
  /** What a listing shows besides its key, namespace and tags. */
  metadata?: Omit<SecretMetadata, 'name' | 'namespace' | 'tags'>;
}

export interface TagLookupOptions {
  /** The `[store]` tag that starts every message. */
  tag: string;
  /** The setting that turns the lookup on, as messages name it (`lookup: kestra-tags`). */
  mode: string;
  /** The setting that names secrets instead, for the read-only fix (`lookup: name`). */
  otherMode: string;
  /** Who writes the tags (`Kestra`) and where the secrets live (`AWS`). */
  platform: string;
  provider: string;
  /** The tag holding the namespace and the one holding the key. */
  namespaceTag: string;
  keyTag: string;
  /** Tags every secret must also carry with exactly these values. */
  required?: Readonly<Record<string, string>>;
  /**
   * One provider page, narrowed to secrets whose tag `narrow.tag` may have the value
   * `narrow.value` (a provider filter may be looser, or absent). `limit`/`includeDeleted` come
   * from a listing; a lookup passes neither.
   */
  page(
    narrow: { tag: string; value: string },
    token: string | undefined,
    options: { limit?: number | undefined; includeDeleted?: boolean | undefined },
  ): Promise<ProviderPage<TaggedSecret>>;
}

export class TagLookup {
  readonly #o: TagLookupOptions;

  constructor(options: TagLookupOptions) {
    this.#o = options;
  }

  /** `namespace=…, key=…[, prefix=…]`: the tags a key is looked for by, for messages and fixes. */
  tagsText(namespace: string, key: string): string {
    const { namespaceTag, keyTag, required = {} } = this.#o;
    const fixed = Object.entries(required).map(([k, v]) => `, ${k}=${v}`);
    return `${namespaceTag}=${namespace || '(none)'}, ${keyTag}=${key}${fixed.join('')}`;
  }

  /** Whether tags say the secret is a key (`key`, when given) in `namespace`. */
  matches(tags: Record<string, string>, namespace: string, key?: string): boolean {
    const { namespaceTag, keyTag, required = {} } = this.#o;
    const own = tags[keyTag];
    if (tags[namespaceTag] !== namespace || own === undefined || own === '') return false;
    if (key !== undefined && own !== key) return false;
    return Object.entries(required).every(([k, v]) => tags[k] === v);
  }

  /** The one secret tagged as `key` in the caller's namespace (`namespaces[0]`), over every page. */
  async find(key: string, namespaces: readonly string[]): Promise<TaggedSecret> {
    const { tag, mode, platform, provider } = this.#o;
    const namespace = namespaces[0] ?? '';
    if (namespace === '') {
      throw notFound(
        `${tag} ${mode} finds a secret in a ${platform} namespace, and this reference was resolved from the root namespace`,
        `resolve it from the ${platform} namespace, e.g. --namespace company.team`,
      );
    }
    const found: TaggedSecret[] = [];
    let token: string | undefined;
    do {
      const page = await this.#o.page({ tag: this.#o.keyTag, value: key }, token, {});
      for (const s of page.items) if (s.id !== '' && this.matches(s.tags, namespace, key)) found.push(s);
      token = page.next;
    } while (token);
    const wanted = this.tagsText(namespace, key);
    if (found.length === 1) return found[0] as TaggedSecret;
    if (found.length === 0) {
      throw notFound(
        `${tag} no secret is tagged ${wanted} (${mode})`,
        `tag the secret in ${provider} with ${wanted}, as ${platform} does; or resolve from the namespace it is tagged with (--namespace)`,
      );
    }
    const labels = found.map((f) => f.label).sort();
    throw new SecretStateError(
      `${tag} ${found.length} secrets are tagged ${wanted} (${labels.join(', ')}): ${mode} needs exactly one; ` +
        'remove the tags from all but one of them',
    );
  }

  /**
   * One provider page of the keys tagged for the caller's namespace (none from the root
   * namespace), filtered by the listing's key prefix and tags; the cursor holds the page token.
   */
  async list(options: ListOptions): Promise<ListPage> {
    const namespace = options.namespaces[0] ?? '';
    if (namespace === '') return { items: [] };
    const page = await this.#o.page(
      { tag: this.#o.namespaceTag, value: namespace },
      tokenCursor.decode(options.cursor),
      { limit: options.limit, includeDeleted: options.includeDeleted },
    );
    const wanted = Object.entries(options.tags ?? {});
    const items: SecretMetadata[] = [];
    for (const s of page.items) {
      if (!this.matches(s.tags, namespace)) continue;
      const key = s.tags[this.#o.keyTag] ?? '';
      if (options.prefix !== undefined && !key.startsWith(options.prefix)) continue;
      if (wanted.some(([k, v]) => s.tags[k] !== v)) continue;
      items.push({ ...s.metadata, name: key, namespace, tags: s.tags });
    }
    return { items, cursor: tokenCursor.encode(page.next) };
  }

  /** Refuse a change (`write`, `delete`, …): the platform owns these secrets. */
  refuse(operation: string): never {
    const { tag, mode, platform, provider, otherMode } = this.#o;
    throw new UnsupportedOperationError(
      `${tag} ${mode} is read-only: Sesame does not ${operation} secrets found by ${platform}'s tags`,
      { fix: `change the secret in ${platform} or in ${provider} itself, or use a store with ${otherMode}` },
    );
  }
}

function notFound(message: string, fix: string): SecretNotFoundError {
  const err = new SecretNotFoundError(message, {});
  err.fix = fix;
  return err;
}
