import { type Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { maskConnectionFields } from '../../connections/mask.js';
import { collectReferences } from '../../refs/template.js';
import { painter } from '../colour.js';
import { type CliContext, example, withCommon, writeJson, writeTable } from '../context.js';
import { remote, type SesameClient, withServer } from '../remote.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  refresh?: boolean;
  timeout?: string;
  server?: string;
}

interface ConnectionRow {
  name: string;
  namespace: string;
  type: string;
  references: string[];
  fields: Record<string, unknown>;
  /** Its fields could not be interpolated (an unset `${env:…}`): why, and it cannot be used. */
  unusable?: string | undefined;
}

export function registerConnections(program: Command, ctx: CliContext): void {
  const group = program.command('connections').description('list, resolve and test connections');

  const list = withServer(
    withCommon(group.command('list').description('connections visible from a namespace, with their references (--json: fields, secret ones masked)')),
  );
  example(list, 'sesame connections list --namespace acme.devops', 'sesame connections list --server http://127.0.0.1:7373');
  list.action(async (flags: Flags, command: Command) => {
    const client = remote(ctx, flags.server);
    const rows = client
      ? await remoteConnections(client, command.getOptionValueSource('namespace') === 'cli' ? flags.namespace : undefined)
      : localConnections(flags);
    if (flags.json) return writeJson(ctx, rows);
    writeTable(
      ctx,
      ['NAME', 'NAMESPACE', 'TYPE', 'REFERENCES'],
      rows.map((r) => [
        r.name,
        r.namespace || '(root)',
        r.type,
        r.unusable ? `unusable (sesame connections resolve ${r.name} says why)` : r.references.length > 0 ? r.references.join(', ') : '-',
      ]),
    );
  });

  function localConnections(flags: Flags): ConnectionRow[] {
    const sesame = ctx.sesame(flags.config);
    return sesame.connections(flags.namespace).map((c) => ({
      name: c.name,
      namespace: c.namespace,
      type: c.type,
      references: collectReferences(c.fields).map((s) => s.raw),
      fields: maskConnectionFields(c.fields, sesame.connectionTypes.get(c.type).secretFields),
      ...(c.unavailable ? { unusable: c.unavailable.message } : {}),
    }));
  }

  async function remoteConnections(client: SesameClient, namespace: string | undefined): Promise<ConnectionRow[]> {
    const rows: ConnectionRow[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.request<{ items: ConnectionRow[]; cursor?: string }>('GET', '/connections', {
        query: { visible: true, namespace, limit: 1000, cursor },
      });
      rows.push(...page.items.map((c) => ({ name: c.name, namespace: c.namespace, type: c.type, references: c.references, fields: c.fields })));
      cursor = page.cursor;
    } while (cursor);
    return rows;
  }

  const resolve = withServer(
    withCommon(
      group.command('resolve').description("resolve a connection's fields and print them (values on stdout)").argument('<name>'),
    ),
  );
  example(resolve, 'sesame connections resolve jira --namespace acme.devops', 'sesame connections resolve jira --server http://127.0.0.1:7373');
  resolve.action(async (name: string, flags: Flags, command: Command) => {
    const client = remote(ctx, flags.server);
    if (client) {
      const namespace = command.getOptionValueSource('namespace') === 'cli' ? flags.namespace : undefined;
      const answer = await client.request<{ value: Record<string, unknown>; connection: { name: string; namespace: string; type: string } }>(
        'POST',
        '/resolve',
        { body: { connection: name, namespace } },
      );
      writeJson(ctx, flags.json ? { ...answer.connection, fields: answer.value } : answer.value);
      return;
    }
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
      .addOption(new Option('--timeout <seconds>', 'how long to wait for the target').default('10', '10 seconds')),
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
      const paint = painter(ctx.stdout, ctx.env);
      for (const step of report.steps) {
        ctx.stdout.write(`${step.ok ? paint('green', 'ok  ') : paint('red', 'FAIL')} ${step.step}: ${step.detail}\n`);
        if (!step.ok && step.fix) ctx.stdout.write(`     fix: ${step.fix}\n`);
      }
      ctx.stdout.write(
        report.ok
          ? `connection ${name} works${report.retried ? ' (after refreshing its references)' : ''}\n`
          : `connection ${name} failed at ${report.failedStep}${report.retried ? ', also after refreshing its references' : ''}\n`,
      );
    }
    if (!report.ok) ctx.exitCode = 1;
  });
}
