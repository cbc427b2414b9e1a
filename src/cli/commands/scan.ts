/**
 * `sesame scan PATH…`: find literal credentials in connection configs and documents and report
 * file, line and kind — never the value. Exit 1 when something is found, 0 when nothing is.
 * `--fix --store S` moves each value into store S (under a name derived from the file and the
 * field), rewrites the file with `secret://S/<name>` references and keeps the original as `FILE.bak`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { processRedactor } from '../../redact/redactor.js';
import { formatReference } from '../../refs/reference.js';
import { detectSecrets, type Finding } from '../../scan/detect.js';
import { filesUnder } from '../../scan/files.js';
import { type FixTarget, fixFindings, readOrUndefined, findingValue } from '../../scan/fix.js';
import { auditedLocally, type CliContext, example, writeJson } from '../context.js';
import { rewriteWithBackup } from './refs.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  fix?: boolean;
  store?: string;
  prefix: string;
}

interface Report {
  file: string;
  line: number;
  column: number;
  kind: string;
  field?: string | undefined;
  /** With --fix: where the value went. */
  reference?: string | undefined;
  stored?: 'written' | 'already stored' | undefined;
  error?: string | undefined;
}

const describe = (r: Report): string =>
  `${r.file}:${r.line}:${r.column}  ${r.kind}${r.field ? ` (field ${r.field})` : ''}`;

export function registerScan(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('scan')
    .description('find literal credentials in configs and documents (file, line, kind; never the value)')
    .argument('<path...>', 'files or directories')
    .option('--fix', 'move each value into --store and put a secret:// reference in its place (keeps FILE.bak)')
    .option('-s, --store <name>', 'the writable store --fix moves values into')
    .addOption(new Option('-p, --prefix <prefix>', 'prefix of the names --fix writes').default('', 'none'))
    .addOption(new Option('-c, --config <file>', 'config file (default: ./sesame.yaml, else the embedded default)'))
    .addOption(new Option('-n, --namespace <ns>', 'namespace --fix writes in').default('', 'the root namespace'))
    .addOption(new Option('--json', 'print JSON'));
  example(
    cmd,
    'sesame scan ./connections.yaml .env',
    'sesame scan ./configs --json',
    'sesame scan ./connections.yaml --fix --store builtin --namespace acme',
  );
  cmd.action(async (paths: string[], flags: Flags) => {
    if (flags.fix && !flags.store) throw new UsageError('--fix needs --store <name>: the store the values move into, e.g. --store builtin');
    if (!flags.fix && flags.store) throw new UsageError('--store is for --fix: add --fix to move the values, or drop --store');
    const resolved = paths.map((p) => path.resolve(ctx.cwd, p));
    let listing: ReturnType<typeof filesUnder>;
    try {
      listing = filesUnder(resolved);
    } catch (err) {
      throw new UsageError(`cannot read ${(err as NodeJS.ErrnoException).path ?? paths.join(' ')}: check the path`);
    }
    for (const s of listing.skipped) ctx.stderr.write(`sesame: skipped ${path.relative(ctx.cwd, s) || s}: larger than 1 MiB\n`);

    const reports: Report[] = [];
    let target: FixTarget | undefined;
    let failures = 0;
    for (const file of listing.files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      if (text.includes('\u0000')) continue;
      const shown = path.relative(ctx.cwd, file) || file;
      const findings = detectSecrets(text);
      // Known before any store call, so no error message can carry one.
      for (const f of findings) processRedactor.add(safeValue(text, f));
      if (!flags.fix || findings.length === 0) {
        for (const f of findings) reports.push(reportOf(shown, f));
        continue;
      }
      target ??= await fixTarget(ctx, flags);
      const result = await fixFindings(text, path.basename(file), findings, target, flags.prefix);
      for (const r of result.fixed) reports.push({ ...reportOf(shown, r.finding), reference: r.reference, stored: r.written ? 'written' : 'already stored' });
      for (const r of result.failed) {
        failures++;
        reports.push({ ...reportOf(shown, r.finding), error: processRedactor.redact(r.error.message) });
      }
      if (result.fixed.length > 0) {
        const backup = rewriteWithBackup(file, result.text);
        if (!flags.json) {
          for (const r of result.fixed) {
            ctx.stdout.write(`${describe(reportOf(shown, r.finding))} → ${r.reference}${r.written ? '' : ' (already stored)'}\n`);
          }
          ctx.stdout.write(`rewrote ${shown}; the original is in ${path.relative(ctx.cwd, backup) || backup}\n`);
        }
      }
      if (!flags.json) for (const r of result.failed) ctx.stdout.write(`${describe(reportOf(shown, r.finding))}  NOT MOVED: ${processRedactor.redact(r.error.message)}\n`);
    }

    if (flags.json) writeJson(ctx, { files: listing.files.length, findings: reports });
    else if (!flags.fix) for (const r of reports) ctx.stdout.write(`${describe(r)}\n`);
    const files = new Set(reports.map((r) => r.file)).size;
    const summary = flags.fix
      ? `moved ${reports.length - failures} of ${reports.length} finding${reports.length === 1 ? '' : 's'} into store ${flags.store}` +
        (failures ? `; ${failures} not moved (see above)` : '')
      : reports.length === 0
        ? `no literal credentials found in ${listing.files.length} file${listing.files.length === 1 ? '' : 's'}`
        : `${reports.length} literal credential${reports.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}: ` +
          'move them with --fix --store <store>';
    ctx.stderr.write(`sesame: ${summary}\n`);
    ctx.exitCode = flags.fix ? (failures > 0 ? 1 : 0) : reports.length > 0 ? 1 : 0;
  });
}

function reportOf(file: string, f: Finding): Report {
  return { file, line: f.line, column: f.column, kind: f.kind, field: f.field };
}

/** The decoded value, or the raw text when it does not decode (it is masked either way). */
function safeValue(text: string, f: Finding): string {
  try {
    return findingValue(text, f);
  } catch {
    return text.slice(f.start, f.end);
  }
}

async function fixTarget(ctx: CliContext, flags: Flags): Promise<FixTarget> {
  const store = flags.store as string;
  const sesame = ctx.sesame(flags.config);
  const binding = sesame.store(store, flags.namespace);
  const client = await binding.client();
  const write = client.write?.bind(client);
  if (!write || binding.config.readOnly) {
    throw new UsageError(`store ${store} cannot be written: use a writable store such as builtin (--store builtin)`);
  }
  const namespaces = [flags.namespace];
  return {
    store,
    async read(name) {
      return readOrUndefined(async () => {
        const got = await client.get({ name, namespaces });
        return typeof got.value === 'string' ? got.value : Buffer.from(got.value).toString('utf8');
      });
    },
    async write(name, value) {
      await auditedLocally(
        ctx,
        flags.config,
        { action: 'secret.write', namespace: flags.namespace, target: formatReference({ store, name }) },
        () => write(name, value, { namespace: flags.namespace, description: 'moved by sesame scan --fix' }),
      );
    },
  };
}
