import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { collectReferences, mayHoldReferences } from '../../refs/template.js';
import { type CliContext, example, withCommon, writeJson, writeTable } from '../context.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  refresh?: boolean;
  timeout?: string;
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

  const test = withCommon(
    group
      .command('test')
      .description('resolve a connection through the path a run uses, then authenticate to its target')
      .argument('<name>')
      .option('--refresh', 'when the target refuses the credentials, refresh the references and retry once')
      .option('--timeout <seconds>', 'how long to wait for the target', '10'),
  );
  example(test, 'sesame connections test warehouse --namespace acme.devops', 'sesame connections test jira --refresh --json');
  test.action(async (name: string, flags: Flags) => {
    const sesame = ctx.sesame(flags.config);
    const timeoutMs = Number(flags.timeout) * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout is a number of seconds, e.g. 10');
    const report = await sesame.testConnection(name, {
      namespace: flags.namespace,
      refreshOnAuthFailure: flags.refresh ?? false,
      timeoutMs,
    });
    if (flags.json) writeJson(ctx, report);
    else {
      for (const step of report.steps) ctx.stdout.write(`${step.ok ? 'ok  ' : 'FAIL'} ${step.step}: ${step.detail}\n`);
      ctx.stdout.write(
        report.ok
          ? `connection ${name} works${report.retried ? ' (after refreshing its references)' : ''}\n`
          : `connection ${name} failed at ${report.failedStep}${report.retried ? ', also after refreshing its references' : ''}\n`,
      );
    }
    if (!report.ok) ctx.exitCode = 1;
  });
}
