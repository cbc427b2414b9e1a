import type { Command } from 'commander';
import { collectReferences, mayHoldReferences } from '../../refs/template.js';
import { type CliContext, example, withCommon, writeJson, writeTable } from '../context.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
}

/** Show a connection's fields without values: references as written, literals masked. */
export function maskFields(fields: Record<string, unknown>): Record<string, unknown> {
  const mask = (v: unknown): unknown => {
    if (typeof v === 'string') return mayHoldReferences(v) && collectReferences(v).length > 0 ? v : '***';
    if (Array.isArray(v)) return v.map(mask);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x)]));
    return '***';
  };
  return mask(fields) as Record<string, unknown>;
}

export function registerConnections(program: Command, ctx: CliContext): void {
  const group = program.command('connections').description('list, resolve and test connections');

  const list = withCommon(group.command('list').description('connections visible from a namespace (values masked)'));
  example(list, 'sesame connections list --namespace acme.devops');
  list.action((flags: Flags) => {
    const sesame = ctx.sesame(flags.config);
    const rows = sesame.connections(flags.namespace).map((c) => ({
      name: c.name,
      namespace: c.namespace,
      type: c.type,
      references: collectReferences(c.fields).map((s) => s.raw),
      fields: maskFields(c.fields),
    }));
    if (flags.json) return writeJson(ctx, rows);
    writeTable(
      ctx,
      ['NAME', 'NAMESPACE', 'TYPE', 'REFERENCES'],
      rows.map((r) => [r.name, r.namespace || '(root)', r.type, String(r.references.length)]),
    );
  });

  const resolve = withCommon(
    group.command('resolve').description("resolve a connection's fields and print them (values on stdout)").argument('<name>'),
  );
  example(resolve, 'sesame connections resolve jira --namespace acme.devops');
  resolve.action(async (name: string, flags: Flags) => {
    const sesame = ctx.sesame(flags.config);
    const resolved = await sesame.resolveConnection(name, { namespace: flags.namespace });
    writeJson(ctx, flags.json ? resolved : resolved.fields);
  });
}
