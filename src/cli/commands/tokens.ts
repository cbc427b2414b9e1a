import { type Command, Option } from 'commander';
import { AuditLog } from '../../audit/index.js';
import { durationProblem, parseDuration } from '../../config/duration.js';
import { UsageError } from '../../errors.js';
import { ROLES, type Role, type TokenInfo, type TokenPage, TokenService } from '../../tokens/index.js';
import { type CliContext, cliActor, example, writeJson, writeTable } from '../context.js';
import { remote, withServer } from '../remote.js';

interface Common {
  config?: string;
  server?: string;
  json?: boolean;
}

export { cliActor } from '../context.js';

/** The token service and audit trail of the config's database (for commands run next to the server). */
export async function localAccess(ctx: CliContext, config: string | undefined) {
  const backend = await ctx.sesame(config).builtinBackend();
  return { tokens: new TokenService(backend.database), audit: new AuditLog(backend.database) };
}

function common(cmd: Command): Command {
  cmd.addOption(new Option('-c, --config <file>', 'config file (default: ./sesame.yaml, else the embedded default)'));
  withServer(cmd);
  cmd.addOption(new Option('--json', 'print JSON'));
  return cmd;
}

function describeToken(t: TokenInfo): string {
  const parts = [`${t.role}`, t.namespace === '' ? 'all namespaces' : `namespace ${t.namespace}`];
  if (t.reveal) parts.push('reveal');
  if (t.expiresAt) parts.push(`expires ${t.expiresAt}`);
  return parts.join(', ');
}

export function registerTokens(program: Command, ctx: CliContext): void {
  const group = program.command('tokens').description('API tokens of sesame serve: create, list, revoke');

  const create = common(
    group
      .command('create')
      .description('create a token and print it (shown once; only its hash is stored)')
      .addOption(new Option('-r, --role <role>', 'admin, operator, runtime or auditor').choices(ROLES).makeOptionMandatory())
      .addOption(new Option('-n, --namespace <ns>', 'scope: "acme" covers acme and acme.*').default('', 'all namespaces'))
      .option('--name <name>', 'a name to recognize it by')
      .option('--reveal', 'may receive secret values outside resolve (admin and operator tokens)')
      .option('--expires <duration>', 'lifetime, e.g. 12h or 30d (default: no expiry)'),
  );
  example(
    create,
    'sesame tokens create --role runtime --namespace acme.devops --expires 30d',
    'SESAME_TOKEN=$ADMIN sesame tokens create --role auditor --server http://127.0.0.1:7373',
  );
  create.action(async (flags: Common & { role: Role; namespace: string; name?: string; reveal?: boolean; expires?: string }) => {
    let expiresIn: number | undefined;
    if (flags.expires !== undefined) {
      expiresIn = parseDuration(flags.expires);
      if (expiresIn === undefined || expiresIn <= 0) throw new UsageError(`--expires ${flags.expires} ${durationProblem(flags.expires)}: e.g. 12h, 30d`);
    }
    const client = remote(ctx, flags.server);
    let created: TokenInfo & { token: string };
    if (client) {
      created = await client.request('POST', '/tokens', {
        body: {
          role: flags.role,
          namespace: flags.namespace,
          name: flags.name,
          reveal: flags.reveal ?? false,
          ...(flags.expires !== undefined ? { expiresIn: flags.expires } : {}),
        },
      });
    } else {
      const { tokens } = await localAccess(ctx, flags.config);
      // The token and its audit record commit in one transaction.
      const result = await tokens.create({
        role: flags.role,
        namespace: flags.namespace,
        name: flags.name,
        reveal: flags.reveal,
        expiresAt: expiresIn === undefined ? undefined : new Date(Date.now() + expiresIn).toISOString(),
        createdBy: cliActor(),
        audit: { actor: cliActor(), action: 'token.create', namespace: flags.namespace, target: `role:${flags.role}`, outcome: 'ok' },
      });
      created = { ...result.info, token: result.token };
    }
    if (flags.json) return writeJson(ctx, created);
    ctx.stdout.write(`${created.token}\n`);
    ctx.stderr.write(`sesame: created token ${created.id} (${describeToken(created)}); it is shown once\n`);
  });

  const list = common(
    group
      .command('list')
      .description('list tokens (never the tokens themselves)')
      .option('-n, --namespace <ns>', 'tokens within this namespace')
      .addOption(new Option('-r, --role <role>', 'only this role').choices(ROLES))
      .option('--all', 'include revoked tokens'),
  );
  example(list, 'sesame tokens list', 'sesame tokens list --namespace acme --json');
  list.action(async (flags: Common & { namespace?: string; role?: Role; all?: boolean }) => {
    const client = remote(ctx, flags.server);
    const items: TokenInfo[] = [];
    let cursor: string | undefined;
    const local = client ? undefined : await localAccess(ctx, flags.config);
    do {
      const page: TokenPage = client
        ? await client.request('GET', '/tokens', {
            query: { namespace: flags.namespace, role: flags.role, includeRevoked: flags.all ?? false, limit: 1000, cursor },
          })
        : await (local as { tokens: TokenService }).tokens.list({
            within: flags.namespace,
            role: flags.role,
            includeRevoked: flags.all,
            limit: 1000,
            cursor,
          });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
    if (flags.json) return writeJson(ctx, items);
    writeTable(
      ctx,
      ['ID', 'NAME', 'ROLE', 'NAMESPACE', 'REVEAL', 'EXPIRES', 'REVOKED'],
      items.map((t) => [t.id, t.name, t.role, t.namespace || '(all)', t.reveal ? 'yes' : 'no', t.expiresAt ?? '-', t.revokedAt ?? '-']),
    );
  });

  const revoke = common(group.command('revoke').description('revoke a token: refused from its next request on').argument('<id>'));
  example(revoke, 'sesame tokens revoke tok_3kX9pQ2mZr7v');
  revoke.action(async (id: string, flags: Common) => {
    const client = remote(ctx, flags.server);
    let info: TokenInfo;
    if (client) {
      info = await client.request('DELETE', `/tokens/${encodeURIComponent(id)}`);
    } else {
      const { tokens } = await localAccess(ctx, flags.config);
      const known = await tokens.get(id);
      // The revocation and its audit record commit in one transaction.
      info = await tokens.revoke(id, cliActor(), {
        audit: { actor: cliActor(), action: 'token.revoke', namespace: known.namespace, target: known.id, outcome: 'ok' },
      });
    }
    if (flags.json) return writeJson(ctx, info);
    ctx.stdout.write(`revoked token ${info.id} (${describeToken(info)})\n`);
  });
}
