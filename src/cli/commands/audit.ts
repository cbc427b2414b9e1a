import { type Command, Option } from 'commander';
import type { AuditPage, AuditRecord, VerifyResult } from '../../audit/index.js';
import { UsageError } from '../../errors.js';
import { type CliContext, example, writeJson, writeTable } from '../context.js';
import { remote, withServer } from '../remote.js';
import { localAccess } from './tokens.js';

interface Common {
  config?: string;
  server?: string;
  json?: boolean;
}

function common(cmd: Command): Command {
  cmd.addOption(new Option('-c, --config <file>', 'config file (default: ./sesame.yaml, else the embedded default)'));
  withServer(cmd);
  cmd.addOption(new Option('--json', 'print JSON'));
  return cmd;
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const group = program.command('audit').description('the tamper-evident audit trail of sesame serve');

  const verify = common(
    group
      .command('verify')
      .description('check every link of the audit chain, and its end against the checkpoint kept outside the database; name the first broken one'),
  );
  example(verify, 'sesame audit verify', 'SESAME_TOKEN=$AUDITOR sesame audit verify --server http://127.0.0.1:7373');
  verify.action(async (flags: Common) => {
    const client = remote(ctx, flags.server);
    const result: VerifyResult = client
      ? await client.request('GET', '/audit/verify')
      : await (await localAccess(ctx, flags.config)).audit.verify();
    if (flags.json) writeJson(ctx, result);
    else if (result.ok) {
      ctx.stdout.write(
        result.head
          ? `audit trail verified: ${result.records} records, head #${result.head.seq} ${result.head.hash}\n`
          : 'audit trail verified: no records yet\n',
      );
      // Records cut off the end are only detected against the checkpoint: say when there is none.
      const checkpoint = result.checkpoint;
      if (checkpoint?.state === 'none') {
        ctx.stderr.write(
          'sesame: note: no audit checkpoint is kept for this database (set SESAME_AUDIT_HEAD): records cut off the end would not be detected\n',
        );
      } else if (checkpoint?.state === 'missing' && result.head) {
        ctx.stderr.write(
          `sesame: note: no audit checkpoint at ${checkpoint.file} yet: records cut off the end would not be detected\n`,
        );
      }
    } else {
      ctx.stdout.write(`audit trail BROKEN at record ${result.firstBroken?.seq}: ${result.firstBroken?.message}\n`);
    }
    if (!result.ok) ctx.exitCode = 1;
  });

  const list = common(
    group
      .command('list')
      .description('audit records, newest first')
      .option('--from <time>', 'records at or after this time (ISO-8601)')
      .option('--to <time>', 'records before this time (ISO-8601)')
      .option('--actor <id>', 'a token id, agent, cli:<user>…')
      .option('--action <action>', 'an action (resolve, secret.write…) or a prefix ending in "." (secret.)')
      .option('-n, --namespace <ns>', 'this namespace and its children')
      .addOption(new Option('--outcome <outcome>', 'ok, denied or error').choices(['ok', 'denied', 'error']))
      .option('--limit <n>', 'how many records', '50'),
  );
  example(list, 'sesame audit list --action secret. --namespace acme --limit 20');
  list.action(
    async (
      flags: Common & { from?: string; to?: string; actor?: string; action?: string; namespace?: string; outcome?: 'ok' | 'denied' | 'error'; limit: string },
    ) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit is a number from 1 to 1000');
      for (const [name, value] of [['--from', flags.from], ['--to', flags.to]] as const) {
        if (value !== undefined && Number.isNaN(Date.parse(value))) throw new UsageError(`${name} ${value} is not a time: e.g. 2026-01-31T12:00:00Z`);
      }
      const query = { from: flags.from, to: flags.to, actor: flags.actor, action: flags.action, namespace: flags.namespace, outcome: flags.outcome, limit };
      const client = remote(ctx, flags.server);
      const page: AuditPage = client
        ? await client.request('GET', '/audit', { query })
        : await (await localAccess(ctx, flags.config)).audit.list(query);
      if (flags.json) return writeJson(ctx, page.items);
      writeTable(
        ctx,
        ['SEQ', 'AT', 'ACTOR', 'ACTION', 'NAMESPACE', 'TARGET', 'OUTCOME'],
        page.items.map((r: AuditRecord) => [
          String(r.seq),
          r.at,
          r.actor,
          r.action,
          r.namespace || '(root)',
          r.target,
          r.outcome + (r.detail ? ` (${r.detail})` : ''),
        ]),
      );
    },
  );
}
