import { checkDocumentLimits } from '../../refs/limits.js';
import path from 'node:path';
import type { Command } from 'commander';
import { parseConfigText } from '../../config/load.js';
import { ConfigError, UsageError } from '../../errors.js';
import { dialectsOf } from '../../refs/dialects/index.js';
import { collectReferences } from '../../refs/template.js';
import { type CliContext, example, readFileBounded, withCommon, writeJson } from '../context.js';
import { remote, withServer } from '../remote.js';

interface ResolveFlags {
  config?: string;
  namespace: string;
  json?: boolean;
  file?: string;
  server?: string;
}

export function registerResolve(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('resolve')
    .description('resolve a reference, a template, or every reference in a JSON/YAML document (--file)')
    .argument('[reference-or-template]', 'e.g. secret://env/FOO#/a/b or "x{{ secret://env/BAR }}y"')
    .option('-f, --file <file>', 'resolve every reference in a JSON or YAML document; prints JSON');
  withCommon(cmd);
  withServer(cmd);
  example(
    cmd,
    "sesame resolve 'secret://env/DB_PASSWORD'",
    "SESAME_TOKEN=$RUNTIME_TOKEN sesame resolve 'secret://aws/prod-jira#token' --server http://127.0.0.1:7373",
    "sesame resolve 'postgres://app:{{ secret://builtin/db/app#password }}@db:5432/app' --namespace acme",
    'sesame resolve --file connection.yaml --namespace acme.devops',
  );
  cmd.action(async (input: string | undefined, flags: ResolveFlags, command: Command) => {
    if ((input === undefined) === (flags.file === undefined)) {
      throw new UsageError('give a reference or template, or --file <document>, not both and not neither');
    }
    const client = remote(ctx, flags.server);
    if (client) {
      // Without --namespace the server acts in the token's namespace.
      const namespace = command.getOptionValueSource('namespace') === 'cli' ? flags.namespace : undefined;
      let body: Record<string, unknown>;
      if (flags.file !== undefined) body = { document: readDocument(ctx, flags.file) };
      else {
        const value = (input as string).trim();
        body =
          value.startsWith('secret://') && !value.includes('{{') ? { reference: value } : { template: input };
      }
      const report = await client.request<{ value: unknown; stale: boolean }>('POST', '/resolve', {
        body: { ...body, namespace },
      });
      if (report.stale)
        ctx.stderr.write(
          'sesame: warning: served a cached value past its TTL because the store is unavailable\n',
        );
      if (flags.json) writeJson(ctx, report);
      else if (flags.file !== undefined) writeJson(ctx, report.value);
      else
        ctx.stdout.write(
          `${typeof report.value === 'string' ? report.value : JSON.stringify(report.value)}\n`,
        );
      return;
    }
    const sesame = ctx.sesame(flags.config);
    if (flags.file !== undefined) {
      const doc = readDocument(ctx, flags.file);
      const report = await sesame.resolveDetailed(doc, { namespace: flags.namespace });
      writeJson(ctx, flags.json ? report : report.value);
      return;
    }
    const value = input as string;
    if (collectReferences(value, '', undefined, dialectsOf(sesame.config)).length === 0) {
      throw new UsageError(
        'nothing to resolve: pass a reference like secret://env/NAME or a template with {{ secret://… }}',
      );
    }
    const report = await sesame.resolveDetailed(value, { namespace: flags.namespace });
    if (report.stale) {
      ctx.stderr.write(
        'sesame: warning: served a cached value past its TTL because the store is unavailable\n',
      );
    }
    if (flags.json) writeJson(ctx, report);
    else
      ctx.stdout.write(`${typeof report.value === 'string' ? report.value : JSON.stringify(report.value)}\n`);
  });
}

function readDocument(ctx: CliContext, name: string): unknown {
  const file = path.resolve(ctx.cwd, name);
  let text: string;
  text = readFileBounded(file, name);
  let doc: unknown;
  try {
    doc = parseConfigText(text, file);
  } catch (err) {
    // The parser is the config file's; this document is not a config, so its errors do not say so.
    if (err instanceof ConfigError) throw new UsageError(err.message.replace(/^config /, ''));
    throw err;
  }
  // Bounded before any walk: depth, values, references (a limit error names the limit, exit 2).
  checkDocumentLimits(doc);
  return doc;
}
