/**
 * `sesame keys rotate|status`: the builtin store's master keys. Rotation rewraps every data key
 * with a new master key in resumable batches; see `src/builtin/rotate.ts`.
 */
import type { Command } from 'commander';
import type { KeyRotationResult } from '../../builtin/index.js';
import { UsageError } from '../../errors.js';
import { AuditLog } from '../../audit/index.js';
import { type CliContext, cliActor, example, withCommon, writeJson, writeTable } from '../context.js';

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
    const progress = ctx.stderr.isTTY === true && !flags.json;
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
        onProgress: progress
          ? (p) => ctx.stderr.write(`\rrewrapping data keys with master key ${p.keyId}: ${p.rewrapped}/${p.total}`)
          : undefined,
      });
      if (progress) ctx.stderr.write('\n');
      if (flags.json) writeJson(ctx, result);
      else ctx.stdout.write(`${summary(result)}\n`);
    } catch (err) {
      if (progress) ctx.stderr.write('\n');
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
  });
}
