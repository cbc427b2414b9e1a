/**
 * docs/stores.md stays true to the code: every YAML example validates through the config
 * schema with the shipped store types, and each store type's settings table lists exactly the
 * keys its schema accepts (no setting missing, none invented).
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { validateConfig } from '../../src/config/schema.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';

const DOC = readFileSync(fileURLToPath(new URL('../../docs/stores.md', import.meta.url)), 'utf8');
const registry = defaultStoreTypes();

/** The text from `## <title>` to the next `## ` heading. */
function section(title: string): string {
  const start = DOC.indexOf(`\n## ${title}\n`);
  expect(start, `docs/stores.md has no "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const end = DOC.indexOf('\n## ', start + 1);
  return DOC.slice(start, end === -1 ? undefined : end);
}

/** The setting names in the first table of a section (`| \`key\` | … |` rows). */
function tableKeys(text: string): string[] {
  const table = text.slice(text.indexOf('\n| setting |'));
  const rows = table.split('\n\n')[0]?.split('\n') ?? [];
  return rows.flatMap((row) => /^\| `([A-Za-z]+)` \|/.exec(row)?.[1] ?? []);
}

/** The top-level keys a store type's settings schema accepts. */
function schemaKeys(type: string): string[] {
  const schema = registry.get(type).settings as unknown as z.ZodObject;
  expect(schema.shape, `${type} settings are not an object schema`).toBeDefined();
  return Object.keys(schema.shape);
}

/** The auth methods a store type's schema accepts (the `method` literals of its `auth` union), or none. */
function authMethods(type: string): string[] {
  const shape = (registry.get(type).settings as unknown as z.ZodObject).shape;
  let auth = shape.auth as z.ZodType | undefined;
  while (auth && 'unwrap' in auth && typeof auth.unwrap === 'function') auth = (auth as z.ZodDefault).unwrap() as z.ZodType;
  if (auth && 'removeDefault' in auth) auth = (auth as unknown as { removeDefault(): z.ZodType }).removeDefault();
  const options = (auth as unknown as { options?: z.ZodObject[] } | undefined)?.options ?? [];
  return options.flatMap((o) => [...((o.shape.method as z.ZodLiteral | undefined)?.values ?? [])].map(String));
}

describe('docs/stores.md', () => {
  it('documents every registered store type, with exactly its settings', () => {
    expect(registry.types()).toHaveLength(12);
    for (const type of registry.types()) {
      expect(tableKeys(section(type)).sort(), `settings table of ${type}`).toEqual(schemaKeys(type).sort());
    }
  });

  it("names every credential setting a type's schema marks in that type's section", () => {
    for (const type of registry.types()) {
      const text = section(type);
      for (const path of registry.get(type).secretSettings ?? []) {
        const key = path.split('.').pop() as string;
        expect(text, `${type}: credential setting ${path}`).toContain(key);
      }
    }
  });

  it('every YAML example is a valid config', () => {
    const blocks = [...DOC.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks.length).toBeGreaterThanOrEqual(20);
    for (const block of blocks) {
      const doc = parseYaml(block) as Record<string, unknown>;
      expect(() => validateConfig(doc, { registry, baseDir: tmpdir() }), block).not.toThrow();
    }
  });

  it('shows an example for each auth method of each store type that has auth', () => {
    const methods = Object.fromEntries(registry.types().map((type) => [type, authMethods(type)]));
    // Derived from the schemas; the types known to have auth must be found to have it.
    expect(methods['vault']).toEqual(['token', 'userpass', 'approle']);
    expect(methods['aws-secrets-manager']).toContain('assume-role');
    for (const [type, list] of Object.entries(methods)) {
      const blocks = [...section(type).matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
      for (const method of list) {
        const shown = blocks.some((b) => new RegExp(`method: ${method}\\b`).test(b));
        expect(shown, `${type}: a YAML example with method ${method}`).toBe(true);
      }
    }
  });
});
