import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CheckReport } from '../../stores/contract.js';
import { startProgress } from '../spinner.js';
import { type CliContext, example, withCommon, writeJson, writeTable } from '../context.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  sample?: string;
  all?: boolean;
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
      stores.map((s) => [
        s.name,
        s.namespace || '(root)',
        s.type + (s.implicit ? ' (implicit)' : ''),
        String(s.cache.entries),
      ]),
    );
  });

  const test = withCommon(
    group
      .command('test')
      .description('check authentication, list and read permission, and print what to fix')
      .argument('[store...]', 'the stores to test (--all: every store)')
      .option('-s, --sample <name>', 'a secret name to test read permission with (one store)')
      .option(
        '-a, --all',
        'test every store (visible from --namespace, when given), with progress on a terminal',
      ),
  );
  example(
    test,
    'sesame stores test aws --sample prod/jira',
    'sesame stores test files --sample db/password',
    'sesame stores test --all              # every store; exit 1 if one has problems',
  );
  test.action(async (names: string[], flags: Flags) => {
    if (flags.all && names.length > 0) throw new UsageError('give store names or --all, not both');
    if (!flags.all && names.length === 0)
      throw new UsageError('name the store to test (sesame stores list shows them), or pass --all');
    if (flags.sample !== undefined && (flags.all || names.length > 1))
      throw new UsageError('--sample is a secret of one store: test that store alone');
    const sesame = ctx.sesame(flags.config);
    if (names.length === 1 && !flags.all) {
      const store = names[0] as string;
      const report = await sesame.testStore(store, { namespace: flags.namespace, sample: flags.sample, host: true });
      if (flags.json) writeJson(ctx, { store, ...report });
      else {
        writeSteps(ctx, report);
        ctx.stdout.write(
          `${report.ok ? `store ${store} is ready` : `store ${store} has problems: see fix lines above`}\n`,
        );
      }
      if (!report.ok) ctx.exitCode = 1;
      return;
    }
    // Several stores: each in its own namespace; every name is looked up before any is tested.
    const targets = flags.all
      ? sesame.stores(flags.namespace || undefined).map((s) => ({ name: s.name, namespace: s.namespace }))
      : names.map((name) => ({ name, namespace: sesame.store(name, flags.namespace).config.namespace }));
    const progress = startProgress(ctx.stderr, ctx.env, 'testing stores');
    const reports: Array<{ store: string; namespace: string } & CheckReport> = [];
    try {
      for (const [i, target] of targets.entries()) {
        progress.update(i, targets.length);
        reports.push({
          store: target.name,
          namespace: target.namespace,
          ...(await sesame.testStore(target.name, { namespace: target.namespace, host: true })),
        });
      }
      progress.update(targets.length, targets.length);
    } finally {
      progress.done();
    }
    const failed = reports.filter((r) => !r.ok);
    if (flags.json) writeJson(ctx, { ok: failed.length === 0, stores: reports });
    else {
      for (const report of reports) {
        ctx.stdout.write(
          `store ${report.store} (${report.namespace || 'root namespace'}): ${report.ok ? 'ready' : 'has problems'}\n`,
        );
        writeSteps(ctx, report, '  ');
      }
      const names = failed.map((r) => (r.namespace ? `${r.namespace}/${r.store}` : r.store)).join(', ');
      ctx.stdout.write(
        `tested ${reports.length} store${reports.length === 1 ? '' : 's'}: ${reports.length - failed.length} ready` +
          `${failed.length > 0 ? `, ${failed.length} with problems (${names}): see fix lines above` : ''}\n`,
      );
    }
    if (failed.length > 0) ctx.exitCode = 1;
  });
}

/** A check's steps, each with what to fix when it failed. */
function writeSteps(ctx: CliContext, report: CheckReport, indent = ''): void {
  for (const step of report.steps) {
    ctx.stdout.write(`${indent}${step.ok ? 'ok  ' : 'FAIL'} ${step.step}: ${step.detail}\n`);
    if (!step.ok && step.fix) ctx.stdout.write(`${indent}     fix: ${step.fix}\n`);
  }
}
