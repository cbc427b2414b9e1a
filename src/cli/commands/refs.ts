/**
 * `sesame refs convert FILE [--write]`: rewrite a document's dialect references (workato, kestra,
 * n8n, vals, op) into `secret://` references. Prints the converted document on stdout, or with
 * `--write` rewrites the file in place after copying it to `FILE.bak`. Reads no value: only the
 * config's stores and dialects are used, to know which store each reference means. A YAML, JSON
 * or `.env` file is read as resolving reads it (refs/dialects/convert.ts `convertFile`).
 */
import { chmodSync, copyFileSync, lstatSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { convertFile, FILE_FORMATS, type FileFormat } from '../../refs/dialects/convert.js';
import { DIALECT_NAMES, type DialectName, DialectSet, type DialectsSettings, dialectsSchema } from '../../refs/dialects/index.js';
import { configErrorFrom } from '../../config/schema.js';
import { type CliContext, example, readFileBounded, writeJson } from '../context.js';

interface Flags {
  config?: string;
  json?: boolean;
  write?: boolean;
  dialect?: string[];
  as?: FileFormat;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').filter(Boolean)];

/** Replace a file's content, keeping the old one as `FILE.bak` first. */
/**
 * Rewrite a file in place, keeping the original as `FILE.bak`. A symlink is followed: the file it
 * points to is rewritten (replacing the link would leave the target, credentials in clear, as it
 * was) and its backup sits next to it. The file keeps its mode (a script stays executable).
 */
export function rewriteWithBackup(given: string, text: string): string {
  // Only a link itself is resolved: directories on the way are renamed into as they are.
  const file = lstatSync(given).isSymbolicLink() ? realpathSync(given) : given;
  const mode = statSync(file).mode & 0o7777;
  const backup = `${file}.bak`;
  copyFileSync(file, backup);
  const tmp = `${file}.sesame-${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  try {
    chmodSync(tmp, mode);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return backup;
}

export function registerRefs(program: Command, ctx: CliContext): void {
  const group = program.command('refs').description('work with references in documents');
  const convert = group
    .command('convert')
    .description("rewrite a document's dialect references (workato, kestra, n8n, vals, op) as secret:// references")
    .argument('<file>', 'a YAML, JSON, .env or any text document')
    .option('-w, --write', 'rewrite the file in place (the original is kept as FILE.bak)')
    .addOption(
      new Option('-d, --dialect <name>', `also read this dialect with its default settings (repeatable: ${DIALECT_NAMES.join(', ')})`).argParser(collect),
    )
    .addOption(new Option('-c, --config <file>', 'config file (default: ./sesame.yaml, else the embedded default)'))
    .addOption(
      new Option(
        '--as <format>',
        'read FILE as this format (default: by its name: .yaml/.yml, .json, .env/.env.*/*.env, else text)',
      ).choices(FILE_FORMATS),
    )
    .addOption(new Option('--json', 'print what was converted as JSON'));
  example(
    convert,
    'sesame refs convert connections.yaml',
    'sesame refs convert flow.yaml --dialect kestra --write',
    'sesame refs convert values.yaml --dialect vals --json',
    'sesame refs convert connection.conf --as yaml',
  );
  convert.action((file: string, flags: Flags) => {
    const full = path.resolve(ctx.cwd, file);
    let text: string;
    text = readFileBounded(full, file);
    const config = ctx.sesame(flags.config).config;
    const settings: Record<string, unknown> = { ...(config.dialects ?? {}) };
    for (const name of flags.dialect ?? []) {
      if (!(DIALECT_NAMES as readonly string[]).includes(name)) {
        throw new UsageError(`--dialect ${name} is not a dialect: use one of ${DIALECT_NAMES.join(', ')}`);
      }
      settings[name] ??= {};
    }
    const parsed = dialectsSchema.safeParse(settings);
    if (!parsed.success) throw configErrorFrom(parsed.error, ['dialects']);
    const declared = Object.keys(parsed.data) as DialectName[];
    if (declared.length === 0) {
      throw new UsageError(
        `no dialect to convert from: declare them under dialects: in ${config.source ?? 'sesame.yaml'}, or name one with --dialect (${DIALECT_NAMES.join(', ')})`,
      );
    }
    const dialects = new DialectSet(parsed.data as DialectsSettings, config.stores);
    dialects.validate();
    const result = convertFile(text, dialects, file, flags.as);
    let backup: string | undefined;
    if (flags.write && result.conversions.length > 0) backup = rewriteWithBackup(full, result.text);
    if (flags.json) {
      writeJson(ctx, { file, written: backup !== undefined, backup, conversions: result.conversions });
      return;
    }
    if (!flags.write) ctx.stdout.write(result.text);
    const byDialect = new Map<string, number>();
    for (const c of result.conversions) byDialect.set(c.dialect, (byDialect.get(c.dialect) ?? 0) + 1);
    const counts = [...byDialect].map(([d, n]) => `${d} ${n}`).join(', ');
    const summary =
      result.conversions.length === 0
        ? `no ${declared.join('/')} references in ${file}: nothing converted`
        : `converted ${result.conversions.length} reference${result.conversions.length === 1 ? '' : 's'} (${counts})` +
          (backup ? `; wrote ${file}, the original is in ${path.relative(ctx.cwd, backup) || backup}` : '');
    const report = flags.write ? ctx.stdout : ctx.stderr;
    if (flags.write) for (const c of result.conversions) report.write(`line ${c.line}: ${c.dialect} → ${c.reference}\n`);
    report.write(`${flags.write ? '' : 'sesame: '}${summary}\n`);
  });
}
