/**
 * The host's own places in error texts: the addresses and paths the stores' settings give
 * (a file store's directory, a Vault's address, an http store's URL, a CA file). Errors name them
 * so an operator can act, but only principals who may read the stores' settings (admin and
 * operator tokens) should learn them; a runtime token is a workflow's credential. For everyone
 * else each place is replaced by the name of the setting that holds it (`<root>`, `<address>`).
 *
 * The places come from what each store type declares its settings make the host do
 * (`hostAccess`), so a new store type is covered by declaring its settings, with no change here.
 */
import path from 'node:path';
import type { Principal } from '../resolve/access.js';
import type { StoreBinding } from '../resolve/bindings.js';

/** Who may read store settings, and so the places their errors name. */
export function seesHostDetails(principal: Principal | undefined): boolean {
  return principal !== undefined && (principal.role === 'admin' || principal.role === 'operator');
}

/** Told, in the fix, to a caller from whom something was hidden. */
export const HIDDEN_NOTE =
  "this server's addresses and paths are hidden from this token: an admin or operator sees them, e.g. with `sesame stores test <store>`";

/** What is said when the places could not be worked out: nothing of the error is shown. */
export const UNKNOWN_PLACES =
  "a store failed, and its error could not be checked for this server's addresses and paths: ask an admin or operator, who sees it in full";

type Place = { text: string; label: string };

/**
 * The spellings of one URL an error may use: the URL itself, its origin, `host:port`, and the
 * host name when it is an IP address or a dotted name (a one-word name such as `vault` is a
 * common word and says nothing of the network).
 */
function urlPlaces(url: string, label: string): Place[] {
  const out: Place[] = [{ text: url.replace(/\/+$/, ''), label }];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return out;
  }
  out.push({ text: parsed.origin, label }, { text: parsed.host, label });
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (/[.:]/.test(hostname)) out.push({ text: hostname, label });
  if (hostname !== parsed.hostname) out.push({ text: parsed.hostname, label });
  return out;
}

/** A path as given and as the store resolves it (relative to the config's directory). */
function pathPlaces(given: string, baseDir: string, label: string): Place[] {
  const trim = (p: string) => (p.length > 1 ? p.replace(/[/\\]+$/, '') : p);
  return [
    { text: trim(path.resolve(baseDir, given)), label },
    { text: trim(given), label },
  ];
}

/** Every place the stores' settings name, longest first (a URL before its host). */
export function hostPlaces(bindings: readonly StoreBinding[], baseDir: string): Place[] {
  const places: Place[] = [];
  for (const binding of bindings) {
    // A type that does not declare what its settings make the host do may name anything.
    if (binding.type.hostAccess === undefined)
      throw new Error(`store type ${binding.config.type} does not declare its host access`);
    const access = binding.type.hostAccess(binding.config.settings);
    for (const a of access) {
      if (a.kind === 'address') places.push(...urlPlaces(a.url, `<${a.setting}>`));
      else if (a.kind === 'files') places.push(...pathPlaces(a.path, baseDir, `<${a.setting}>`));
    }
  }
  // One label per text: a place two settings share (two stores on one host) is `<hidden>`.
  // Texts too short to be a place (".", "/") would mangle every message.
  const labels = new Map<string, string>();
  for (const { text, label } of places) {
    if (text.length < 3) continue;
    const known = labels.get(text);
    labels.set(text, known === undefined || known === label ? label : '<hidden>');
  }
  return [...labels].map(([text, label]) => ({ text, label })).sort((a, b) => b.text.length - a.text.length);
}

/**
 * The places of the current stores, worked out again when the stores change (`generation`).
 * `hide` returns the text with every place replaced, and whether anything was.
 */
export class HostDetails {
  #generation = -1;
  #places: Place[] | Error = [];

  constructor(
    private readonly source: () => { generation: number; bindings: readonly StoreBinding[]; baseDir: string },
  ) {}

  /** Throws when the places cannot be worked out (a store type's `hostAccess` failed): fail closed. */
  places(): Place[] {
    const { generation, bindings, baseDir } = this.source();
    if (generation !== this.#generation) {
      try {
        this.#places = hostPlaces(bindings, baseDir);
      } catch (err) {
        this.#places = err instanceof Error ? err : new Error(String(err));
      }
      this.#generation = generation;
    }
    if (this.#places instanceof Error) throw this.#places;
    return this.#places;
  }

  hide(text: string): { text: string; hidden: boolean } {
    let out = text;
    for (const place of this.places()) {
      if (out.includes(place.text)) out = out.split(place.text).join(place.label);
    }
    return { text: out, hidden: out !== text };
  }
}
