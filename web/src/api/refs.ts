/** secret:// references as the UI writes and reads them (see src/refs/reference.ts). */
export interface Ref {
  store: string;
  name: string;
  key?: string | undefined;
}

const enc = (s: string) => s.replace(/[^A-Za-z0-9._\-/~]/g, (c) => encodeURIComponent(c));

export function formatRef(ref: Ref): string {
  return `secret://${ref.store}/${enc(ref.name)}${ref.key !== undefined ? `#${enc(ref.key)}` : ''}`;
}

export function parseRef(text: string): Ref | undefined {
  const m =
    /^\s*(?:\{\{\s*)?secret:\/\/([a-z0-9_-]+)\/([^?#\s}]+)(?:\?[^#\s}]*)?(?:#([^\s}]+))?\s*(?:\}\})?\s*$/.exec(
      text,
    );
  if (!m) return undefined;
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { store: m[1]!, name: dec(m[2]!), ...(m[3] !== undefined ? { key: dec(m[3]) } : {}) };
}

/** The chip text a field shows for a reference: store / name # key. */
export function chipText(ref: Ref): string {
  return `${ref.store} / ${ref.name}${ref.key !== undefined ? ` # ${ref.key}` : ''}`;
}

/** Whether a connection's reference points at this secret. */
export function refersTo(reference: string, store: string, name: string): boolean {
  const ref = parseRef(reference);
  return ref !== undefined && ref.store === store && ref.name === name;
}
