/**
 * Sesame names ↔ provider ids: the store's `prefix` is prepended on the way in and removed on the
 * way out; an adapter adds its own spelling (Key Vault's escapes, Secret Manager's id rules) and
 * which names pass through untouched (AWS ARNs). Names outside the prefix or the spelling are
 * left out of listings instead of being shown under a wrong name.
 */
import { InvalidRequestError } from '../../errors.js';

export interface NameMappingOptions {
  prefix: string;
  /** What a provider id is called, for messages (`Key Vault secret name`). */
  what?: string;
  /** Provider spelling of a prefixed name, or a reason it has none. Default: unchanged. */
  encode?(full: string): { ok: true; id: string } | { ok: false; reason: string };
  /**
   * The provider's rule for an id, for providers that take a prefixed name as is when it matches:
   * a name that does not is refused with `rule` (and the prefix, which counts, named).
   */
  pattern?: { test: RegExp; rule: string } | undefined;
  /** The prefixed name a provider id spells, or undefined when it is not one `encode` makes. */
  decode?(id: string): string | undefined;
  /** Names used as given, without prefix or spelling (e.g. ARNs). */
  passthrough?(name: string): boolean;
}

export class NameMapping {
  constructor(
    private readonly tag: string,
    private readonly options: NameMappingOptions,
  ) {}

  get prefix(): string {
    return this.options.prefix;
  }

  /** The provider id of a Sesame name; a name without one is refused with the reason. */
  toId(name: string): string {
    if (this.options.passthrough?.(name)) return name;
    const { prefix, pattern } = this.options;
    const full = prefix + name;
    if (pattern && !pattern.test.test(full)) {
      const included = prefix ? ` (prefix "${prefix}" included)` : '';
      return this.#refuse(name, `${pattern.rule}${included}`);
    }
    if (!this.options.encode) return full;
    const mapped = this.options.encode(full);
    if (mapped.ok) return mapped.id;
    return this.#refuse(name, mapped.reason);
  }

  #refuse(name: string, reason: string): never {
    throw new InvalidRequestError(
      `${this.tag} "${name}" cannot be mapped to a ${this.options.what ?? 'name of this store'}: ${reason}`,
    );
  }

  /** The Sesame name of a provider id, or undefined when it lies outside the prefix or the spelling. */
  fromId(id: string): string | undefined {
    const full = this.options.decode ? this.options.decode(id) : id;
    if (full === undefined || !full.startsWith(this.options.prefix)) return undefined;
    const name = full.slice(this.options.prefix.length);
    return name.length > 0 ? name : undefined;
  }
}
