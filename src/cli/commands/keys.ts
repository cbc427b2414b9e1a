/**
 * `sesame keys init|rotate|status`: the builtin store's master keys. `init` makes the key file
 * the config names when it is missing and the database is empty; rotation rewraps every data
 * key with a new master key in resumable batches; see `src/encrypted-store/rotate.ts`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { type KeyRotationResult, keyFileWarning, openBuiltinBackend, parseKeyFile } from '../../encrypted-store/index.js';
import { UsageError } from '../../errors.js';
import { AuditLog } from '../../audit/index.js';
import { type CliContext, cliActor, example, withCommon, writeJson, writeTable } from '../context.js';
import { startProgress } from '../spinner.js';
import { readHostFile } from '../../host-file.js';

interface Flags {
  config?: string;
  json?: boolean;
  batchSize?: string;
  keepOldKeys?: boolean;
}

function summary(result: KeyRotationResult): string {
  const what = result.resumed ? 'finished an interrupted rotation to' : 'rotated to';
  const retired = result.retired.length > 0 ? `, retired ${result.retired.join(', ')}` : '';
  const file = result.keyFile ? `; ${result.keyFile} now holds the new key only (back it up)` : '';
  return `${what} master key ${result.keyId}: rewrapped ${result.rewrapped} data key${result.rewrapped === 1 ? '' : 's'}${retired}${file}`;
}

export function registerKeys(program: Command, ctx: CliContext): void {
  const group = program.command('keys').description("the builtin store's master keys");

  const init = withCommon(
    group
      .command('init')
      .description('make the master key file the config names, when it is missing and the database holds no key yet'),
    { namespace: false },
  );
  example(init, 'sesame keys init', 'sesame keys init --config deploy/sesame.yaml');
  init.action(async (flags: Flags) => {
    const config = ctx.sesame(flags.config).config;
    const source = config.masterKey;
    if ('env' in source) {
      throw new UsageError(
        `masterKey comes from the environment variable ${source.env}: make the key yourself and keep it in your secret manager, ` +
          `e.g. ${source.env}="$(openssl rand -base64 32)"`,
      );
    }
    const file = path.resolve(config.baseDir, source.file);
    if (existsSync(file)) {
      const [key] = parseKeyFile(readHostFile(file, { maxBytes: 1024 * 1024 }), file);
      throw new UsageError(`${file} exists and holds master key ${key?.id}: nothing was changed (sesame keys rotate replaces a key)`);
    }
    // Opening the builtin backend makes the key for an empty database, and refuses (restore it
    // from your backup) for one that expects a key.
    const backend = await openBuiltinBackend({
      database: config.database,
      masterKey: source,
      baseDir: config.baseDir,
      env: ctx.env,
      notice: () => {},
    });
    const loaded = backend.keyring.loaded;
    await backend.close();
    const made = { file, id: loaded.keys[0]?.id, created: loaded.created };
    if (flags.json) return writeJson(ctx, made);
    ctx.stdout.write(
      made.created
        ? `created master key ${made.id} in ${file} (mode 0600): back it up, the builtin secrets cannot be read without it\n`
        : `master key ${made.id} in ${file} was made by another process meanwhile: kept\n`,
    );
  });

  const rotate = withCommon(
    group
      .command('rotate')
      .description('make a new master key active and rewrap every data key with it (resumable: run it again after an interruption)')
      .option('--batch-size <n>', 'data keys per transaction', '200')
      .option('--keep-old-keys', 'keep the old keys in the key file afterwards'),
    { namespace: false },
  );
  example(
    rotate,
    'sesame keys rotate',
    'SESAME_MASTER_KEY="$(openssl rand -base64 32),$SESAME_MASTER_KEY" sesame keys rotate   # key from the environment',
  );
  rotate.action(async (flags: Flags) => {
    const batchSize = Number(flags.batchSize);
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new UsageError('--batch-size is a positive whole number');
    const backend = await ctx.sesame(flags.config).builtinBackend();
    // A bar on a terminal (stderr only; nothing when piped), then the one-line summary.
    const progress = flags.json ? undefined : startProgress(ctx.stderr, ctx.env, 'rewrapping data keys');
    const stop = new AbortController();
    // Ctrl-C stops after the current batch, leaving a rotation that the next run finishes.
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    try {
      // The finishing transaction commits a key.rotate record as this user; a failure is recorded after.
      const result = await backend.rotateMasterKey({
        actor: cliActor(),
        batchSize,
        keepOldKeys: flags.keepOldKeys,
        signal: stop.signal,
        onProgress: progress ? (p) => progress.update(p.rewrapped, p.total) : undefined,
      });
      progress?.done();
      if (flags.json) writeJson(ctx, result);
      else ctx.stdout.write(`${summary(result)}\n`);
    } catch (err) {
      progress?.done();
      const code = (err as { code?: unknown }).code;
      await new AuditLog(backend.database)
        .append({
          actor: cliActor(),
          action: 'key.rotate',
          namespace: '',
          target: 'master-key',
          outcome: 'error',
          detail: typeof code === 'string' && !code.startsWith('ERR_') ? code : 'error',
        })
        .catch(() => undefined);
      throw err;
    } finally {
      process.removeListener('SIGINT', onSignal);
    }
  });

  const status = withCommon(group.command('status').description('master keys the database knows, and what each wraps'), {
    namespace: false,
  });
  example(status, 'sesame keys status --json');
  status.action(async (flags: Flags) => {
    const backend = await ctx.sesame(flags.config).builtinBackend();
    const keys = await backend.masterKeys();
    if (flags.json) return writeJson(ctx, keys);
    writeTable(
      ctx,
      ['KEY ID', 'STATE', 'DATA KEYS', 'HELD', 'CREATED', 'RETIRED'],
      keys.map((k) => [k.id, k.state, String(k.dataKeys), k.held ? 'yes' : 'no', k.createdAt, k.retiredAt ?? '']),
    );
    if (keys.some((k) => k.state === 'draining')) {
      ctx.stderr.write('a rotation is unfinished: run sesame keys rotate to finish it\n');
    }
    const keyWarning = keyFileWarning(backend.keyring.loaded.file);
    if (keyWarning) ctx.stderr.write(`warning: ${keyWarning}\n`);
  });
}
