/**
 * `sesame migrate --from STORE --to STORE`: copy secrets between two configured stores through
 * their store clients. Skips what the destination already holds (sha256), verifies each copy by
 * reading it back, shows a progress bar on a terminal (stderr), ends with a summary. Names only
 * are printed, never a value; each write is recorded in the audit trail.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { SesameConfig } from '../../config/schema.js';
import { parseDatabaseUrl } from '../../db/url.js';
import { SecretNotFoundError, UsageError } from '../../errors.js';
import { type MigrateSummary, migrate } from '../../migrate/index.js';
import { processRedactor } from '../../redact/redactor.js';
import { formatReference } from '../../refs/reference.js';
import { auditedLocally, type CliContext, example, withCommon, writeJson } from '../context.js';
import { startProgress } from '../spinner.js';
import type { StoreClient } from '../../stores/contract.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  from?: string;
  to?: string;
  prefix?: string;
  allVersions?: boolean;
  dryRun?: boolean;
}

/**
 * The builtin stores' SQLite file does not exist yet: they hold nothing, and opening one would
 * create the database and a master key. A dry run compares with them as empty instead (it
 * promises to write nothing); PostgreSQL and an existing file are opened as usual.
 */
function builtinNeverUsed(config: SesameConfig, type: string): boolean {
  if (type !== 'builtin') return false;
  const location = parseDatabaseUrl(config.database, config.baseDir);
  return location.kind === 'sqlite' && location.file !== ':memory:' && !existsSync(location.file);
}

/** A store that holds nothing (a builtin store never used, in a dry run). */
function emptyStore(name: string): StoreClient {
  return {
    get: async (request) => {
      throw new SecretNotFoundError(`[${name}] no secret "${request.name}": the store was never used`);
    },
    list: async () => ({ items: [] }),
    check: async () => ({ ok: true, steps: [] }),
    close: async () => {},
  };
}

function counts(s: MigrateSummary, dryRun: boolean): string {
  return dryRun
    ? `${s.wouldCopy} to copy, ${s.skipped} already equal, ${s.failed} failed`
    : `${s.copied} copied, ${s.skipped} skipped (already equal), ${s.failed} failed`;
}

export function registerMigrate(program: Command, ctx: CliContext): void {
  const cmd = withCommon(
    program
      .command('migrate')
      .description('copy secrets between two stores: resumable (skips equal ones), verified, never prints a value')
      .requiredOption('--from <store>', 'the store to copy from')
      .requiredOption('--to <store>', 'the writable store to copy to')
      .option('-p, --prefix <prefix>', 'only names starting with this')
      .option('--all-versions', 'copy every version, oldest first (default: the current value only)')
      .option('--dry-run', 'say what would be copied; write nothing'),
  );
  example(
    cmd,
    'sesame migrate --from builtin --to aws --prefix jira/',
    'sesame migrate --from vault --to builtin --namespace acme --all-versions',
    'sesame migrate --from aws --to builtin --dry-run --json',
  );
  cmd.action(async (flags: Flags) => {
    const from = flags.from as string;
    const to = flags.to as string;
    if (from === to) throw new UsageError(`--from and --to are both ${from}: name two different stores`);
    const sesame = ctx.sesame(flags.config);
    const source = sesame.store(from, flags.namespace);
    const destination = sesame.store(to, flags.namespace);
    if (destination.config.readOnly || !destination.type.capabilities.write) {
      throw new UsageError(`store ${to} cannot be written (${destination.config.readOnly ? 'readOnly: true' : `type ${destination.config.type} is read-only`}): migrate to a writable store`);
    }
    // A bar on a terminal only (startProgress draws nothing when stderr is piped).
    const dryRun = flags.dryRun === true;
    const clientOf = (binding: typeof source, name: string) =>
      dryRun && builtinNeverUsed(sesame.config, binding.config.type) ? Promise.resolve(emptyStore(name)) : binding.client();
    const [fromClient, toClient] = await Promise.all([clientOf(source, from), clientOf(destination, to)]);
    const progress = flags.json ? undefined : startProgress(ctx.stderr, ctx.env, dryRun ? 'comparing' : 'migrating');
    const { results, summary } = await migrate({
      from: { name: from, client: fromClient },
      to: { name: to, client: toClient },
      namespace: flags.namespace,
      prefix: flags.prefix,
      allVersions: flags.allVersions,
      dryRun,
      onValue: (value) => processRedactor.add(value),
      wrapWrite: (name, write) =>
        auditedLocally(ctx, flags.config, { action: 'secret.write', namespace: flags.namespace, target: formatReference({ store: to, name }) }, write),
      onProgress: progress ? (done, total) => progress.update(done, total) : undefined,
    }).finally(() => progress?.done());
    const shown = results.map((r) => ({ ...r, error: r.error === undefined ? undefined : processRedactor.redact(r.error) }));
    if (flags.json) writeJson(ctx, { from, to, namespace: flags.namespace, dryRun, summary, results: shown });
    else {
      for (const r of shown) {
        if (r.outcome === 'failed') ctx.stdout.write(`FAIL ${r.name}: ${r.error}\n`);
        else if (r.outcome === 'would-copy') ctx.stdout.write(`would copy ${r.name}${r.versions > 1 ? ` (${r.versions} versions)` : ''}\n`);
        else if (r.outcome === 'copied') ctx.stdout.write(`copied ${r.name}${r.versions > 1 ? ` (${r.versions} versions)` : ''}\n`);
      }
      ctx.stdout.write(
        `${dryRun ? 'dry run: ' : ''}${from} → ${to}: ${summary.total} secret${summary.total === 1 ? '' : 's'}, ${counts(summary, dryRun)}` +
          (summary.failed > 0 ? '; run the same command again to retry the failed ones' : '') +
          '\n',
      );
    }
    // The destination's cached values (this process) are stale after a copy.
    if (!dryRun) await sesame.refresh({ store: to }, { namespace: flags.namespace }).catch(() => undefined);
    if (summary.failed > 0) ctx.exitCode = 1;
  });
}
