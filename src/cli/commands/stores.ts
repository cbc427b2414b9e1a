import type { Command } from 'commander';
import { type CliContext, example, withCommon, writeJson, writeTable } from '../context.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  sample?: string;
}

export function registerStores(program: Command, ctx: CliContext): void {
  const group = program.command('stores').description('list and test configured stores');

  const list = withCommon(group.command('list').description('stores visible from a namespace'));
  example(list, 'sesame stores list', 'sesame stores list --namespace acme --json');
  list.action((flags: Flags) => {
    const sesame = ctx.sesame(flags.config);
    const stores = sesame.stores(flags.namespace || undefined);
    if (flags.json) return writeJson(ctx, stores);
    writeTable(
      ctx,
      ['NAME', 'NAMESPACE', 'TYPE', 'CACHED'],
      stores.map((s) => [s.name, s.namespace || '(root)', s.type + (s.implicit ? ' (implicit)' : ''), String(s.cache.entries)]),
    );
  });

  const test = withCommon(
    group
      .command('test')
      .description('check authentication, list and read permission, and print what to fix')
      .argument('<store>')
      .option('-s, --sample <name>', 'a secret name to test read permission with'),
  );
  example(test, 'sesame stores test aws --sample prod/jira', 'sesame stores test files --sample db/password');
  test.action(async (store: string, flags: Flags) => {
    const sesame = ctx.sesame(flags.config);
    const report = await sesame.testStore(store, { namespace: flags.namespace, sample: flags.sample });
    if (flags.json) writeJson(ctx, { store, ...report });
    else {
      for (const step of report.steps) {
        ctx.stdout.write(`${step.ok ? 'ok  ' : 'FAIL'} ${step.step}: ${step.detail}\n`);
        if (!step.ok && step.fix) ctx.stdout.write(`     fix: ${step.fix}\n`);
      }
      ctx.stdout.write(`${report.ok ? `store ${store} is ready` : `store ${store} has problems: see fix lines above`}\n`);
    }
    if (!report.ok) ctx.exitCode = 1;
  });
}
