/**
 * Credential settings are marked in the store type's settings schema, once: the mark drives the
 * type's `secretSettings` (API masking, `{{ secret://… }}` in settings, the admin UI's password
 * fields), the OpenAPI document (`writeOnly`) and the core's scrubbing of error messages.
 *
 * @example
 * const auth = z.strictObject({ method: z.literal('token'), token: credential(z.string().min(1)) });
 * credentialPaths(z.strictObject({ auth }));  // → ['auth.token']
 */
import { z } from 'zod';

const MARK = 'x-sesame-credential';

/** Mark a settings field as a credential. Apply it last (zod methods called after it drop the mark). */
export function credential<T extends z.ZodType>(schema: T): T {
  return schema.meta({ writeOnly: true, [MARK]: true }) as T;
}

function isCredential(schema: z.ZodType): boolean {
  return z.globalRegistry.get(schema)?.[MARK] === true;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
  out?: z.ZodType;
  valueType?: z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
}

function walk(schema: z.ZodType, at: string, out: Set<string>): void {
  if (isCredential(schema)) {
    if (at) out.add(at);
    return;
  }
  const def = (schema as unknown as { _zod: { def: Def } })._zod.def;
  switch (def.type) {
    case 'object':
      for (const [key, child] of Object.entries(def.shape ?? {})) walk(child, at ? `${at}.${key}` : key, out);
      return;
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      if (def.innerType) walk(def.innerType, at, out);
      return;
    case 'union':
      for (const option of def.options ?? []) walk(option, at, out);
      return;
    case 'intersection':
      if (def.left) walk(def.left, at, out);
      if (def.right) walk(def.right, at, out);
      return;
    case 'pipe':
      if (def.in) walk(def.in, at, out);
      return;
    case 'record':
      // A record of credentials (e.g. http headers) is one credential setting: every value of it.
      if (def.valueType && isCredential(def.valueType) && at) out.add(at);
      return;
    default:
      return;
  }
}

/** Dotted paths of the settings marked {@link credential}, in schema order. */
export function credentialPaths(schema: z.ZodType): string[] {
  const out = new Set<string>();
  walk(schema, '', out);
  return [...out];
}

/** The credential values present in (parsed) settings: strings at the paths, or every string of a record there. */
export function credentialValues(settings: unknown, paths: readonly string[]): string[] {
  const values: string[] = [];
  for (const p of paths) {
    let node: unknown = settings;
    for (const key of p.split('.'))
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    if (typeof node === 'string') values.push(node);
    else if (node && typeof node === 'object') {
      for (const v of Object.values(node)) if (typeof v === 'string') values.push(v);
    }
  }
  return values.filter((v) => v.length > 0);
}
