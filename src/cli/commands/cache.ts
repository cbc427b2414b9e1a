import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { RefreshTarget } from '../../sesame.js';
import { type CliContext, example, withCommon, writeJson } from '../context.js';
import { remote, withServer } from '../remote.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  reference?: string;
  connection?: string;
  store?: string;
  all?: boolean;
  server?: string;
}

export function refreshTargetFrom(flags: Flags, namespaceGiven: boolean): RefreshTarget {
  const targets: RefreshTarget[] = [];
  if (flags.reference) targets.push({ reference: flags.reference });
  if (flags.connection) targets.push({ connection: flags.connection });
  if (flags.store) targets.push({ store: flags.store });
  if (flags.all) {
    // As the server answers {all, namespace}: taken as "all" it would drop every namespace's
    // values for a user who named one.
    if (namespaceGiven)
      throw new UsageError(
        '--all refreshes every namespace: use --namespace NS alone to refresh one namespace, or --all alone',
      );
    targets.push({ all: true });
  }
  if (targets.length === 0 && namespaceGiven) targets.push({ namespace: flags.namespace });
  if (targets.length !== 1) {
    throw new UsageError(
      'say what to refresh: one of --reference R, --connection C, --store S, --namespace NS or --all',
    );
  }
  return targets[0] as RefreshTarget;
}

export function registerCache(program: Command, ctx: CliContext): void {
  const group = program
    .command('cache')
    .description('drop cached values so the next resolve fetches them again (cache refresh)');
  const refresh = withCommon(
    group
      .command('refresh')
      .description('drop cached values so the next resolve fetches again')
      .option('--reference <ref>', 'one reference')
      .option('--connection <name>', "a connection's references")
      .option('--store <name>', 'everything cached from a store')
      .option('--all', 'everything'),
  );
  withServer(refresh);
  example(
    refresh,
    'sesame cache refresh --connection jira --namespace acme.devops',
    'sesame cache refresh --all',
    'SESAME_TOKEN=$TOKEN sesame cache refresh --connection jira --server http://127.0.0.1:7373',
  );
  refresh.action(async (flags: Flags, command: Command) => {
    const namespaceGiven = command.getOptionValueSource('namespace') === 'cli';
    const target = refreshTargetFrom(flags, namespaceGiven);
    const client = remote(ctx, flags.server);
    if (client) {
      const body =
        'namespace' in target
          ? target
          : { ...target, ...(namespaceGiven ? { namespace: flags.namespace } : {}) };
      const result = await client.request<{ dropped: number }>('POST', '/refresh', { body });
      if (flags.json) writeJson(ctx, result);
      else
        ctx.stdout.write(
          `refreshed: dropped ${result.dropped} cached value${result.dropped === 1 ? '' : 's'} on the server\n`,
        );
      return;
    }
    const sesame = ctx.sesame(flags.config);
    const result = await sesame.refresh(target, { namespace: flags.namespace });
    if (flags.json) writeJson(ctx, result);
    else
      ctx.stdout.write(
        `refreshed: dropped ${result.dropped} cached value${result.dropped === 1 ? '' : 's'} in this process\n`,
      );
  });
}
