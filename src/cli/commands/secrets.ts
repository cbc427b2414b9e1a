/**
 * `sesame secrets set|get|list|delete|restore|versions`: manage secrets in a writable store
 * (default `builtin`) through its store client, the same path the server uses. Only `get`
 * prints a value; every other command prints names and metadata. `set`, `delete` and `restore`
 * are recorded in the audit trail as `cli:<os user>` — in the change's own transaction for the
 * builtin store, after the change for other stores (see `auditedLocally`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { namespaceChain } from '../../config/schema.js';
import { parseDuration } from '../../config/duration.js';
import { UnsupportedOperationError, UsageError } from '../../errors.js';
import { formatReference } from '../../refs/reference.js';
import type { Sesame } from '../../sesame.js';
import type { SecretMetadata, StoreClient } from '../../stores/contract.js';
import { auditedLocally, type CliContext, example, readStdin, withCommon, writeJson, writeTable } from '../context.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  store: string;
  fromFile?: string;
  description?: string;
  tag?: string[];
  expectedVersion?: string;
  version?: string;
  prefix?: string;
  deleted?: boolean;
  limit?: string;
  cursor?: string;
  force?: boolean;
  recoveryWindow?: string;
}

/** `--store`, on every secrets command. */
function withStore(cmd: Command): Command {
  return cmd.addOption(new Option('-s, --store <name>', 'the store to act on').default('builtin'));
}

function collectTag(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--tag k=v` (repeatable) into a record; the first `=` splits, so values may contain `=`. */
export function parseTags(tags: readonly string[] | undefined): Record<string, string> | undefined {
  if (!tags || tags.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const tag of tags) {
    const eq = tag.indexOf('=');
    if (eq <= 0) throw new UsageError(`--tag ${JSON.stringify(tag)} is not KEY=VALUE, e.g. --tag team=devops`);
    out[tag.slice(0, eq)] = tag.slice(eq + 1);
  }
  return out;
}

interface Target {
  sesame: Sesame;
  client: StoreClient;
  /** The caller's namespace chain for reads. */
  chain: string[];
  storeName: string;
}

async function target(ctx: CliContext, flags: Flags): Promise<Target> {
  const sesame = ctx.sesame(flags.config);
  const binding = sesame.store(flags.store, flags.namespace);
  const client = await binding.client();
  return {
    sesame,
    client,
    chain: namespaceChain(flags.namespace, sesame.config.namespaces),
    storeName: binding.config.name,
  };
}

function need<K extends keyof StoreClient>(t: Target, method: K, what: string): NonNullable<StoreClient[K]> {
  const fn = t.client[method];
  if (typeof fn !== 'function') {
    throw new UnsupportedOperationError(`store ${t.storeName} cannot ${what}: use a writable store such as builtin (--store builtin)`);
  }
  return (fn as (...args: unknown[]) => unknown).bind(t.client) as NonNullable<StoreClient[K]>;
}

/**
 * The value to write: the argument, `--from-file` (bytes as they are), or stdin (one trailing
 * newline dropped, so `echo value | sesame secrets set NAME` stores `value`).
 */
async function valueFrom(ctx: CliContext, argument: string | undefined, flags: Flags): Promise<string> {
  if (argument !== undefined && flags.fromFile !== undefined) {
    throw new UsageError('give the value either as an argument or with --from-file, not both');
  }
  if (argument !== undefined) return argument;
  if (flags.fromFile !== undefined) {
    const file = path.resolve(ctx.cwd, flags.fromFile);
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --from-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return (await readStdin(ctx)).replace(/\r?\n$/, '');
}

/** The audit record of a change: the same action, namespace and target as the server's. */
function changeOf(action: string, flags: Flags, name: string) {
  return { action, namespace: flags.namespace, target: formatReference({ store: flags.store, name }) };
}

function describeNamespace(namespace: string | undefined): string {
  return namespace ? `namespace ${namespace}` : 'the root namespace';
}

function tagsText(tags: Record<string, string> | undefined): string {
  return Object.entries(tags ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function registerSecrets(program: Command, ctx: CliContext): void {
  const group = program.command('secrets').description('manage secrets in a writable store (default: builtin)');

  const set = withStore(
    withCommon(
      group
        .command('set')
        .description('write a new version of a secret (value as argument, --from-file, or stdin)')
        .argument('<name>', 'secret name, e.g. db/password')
        .argument('[value]', 'the value (it lands in your shell history: prefer stdin or --from-file)')
        .option('-f, --from-file <file>', 'read the value from a file, byte for byte')
        .option('-d, --description <text>', 'describe the secret')
        .option('-t, --tag <key=value>', 'tag the secret (repeatable)', collectTag)
        .option('--expected-version <n>', 'fail unless the newest version is N (0: the secret must not exist)'),
    ),
  );
  example(
    set,
    'printf %s "$JIRA_TOKEN" | sesame secrets set jira/token --namespace acme.devops',
    'sesame secrets set tls/key --from-file ./key.pem --tag team=platform',
  );
  set.action(async (name: string, argument: string | undefined, flags: Flags) => {
    const value = await valueFrom(ctx, argument, flags);
    const t = await target(ctx, flags);
    const write = need(t, 'write', 'write secrets');
    const tags = parseTags(flags.tag);
    const result = await auditedLocally(ctx, flags.config, changeOf('secret.write', flags, name), () =>
      write(name, value, {
        namespace: flags.namespace,
        description: flags.description,
        tags,
        expectedVersion: flags.expectedVersion,
      }),
    );
    // This process may have resolved the secret already; the server's cache is its own.
    await t.sesame.refresh({ store: flags.store }, { namespace: flags.namespace }).catch(() => undefined);
    if (flags.json) return writeJson(ctx, { store: t.storeName, ...result });
    ctx.stdout.write(
      `wrote ${name} version ${result.version} in ${describeNamespace(result.namespace ?? flags.namespace)} (store ${t.storeName})\n`,
    );
  });

  const get = withStore(
    withCommon(
      group
        .command('get')
        .description('print a secret value on stdout (the newest version, or --version N)')
        .argument('<name>')
        .option('-v, --version <n>', 'a pinned version'),
    ),
  );
  example(get, 'sesame secrets get db/password --namespace acme', 'sesame secrets get db/password --version 2 --json');
  get.action(async (name: string, flags: Flags) => {
    const t = await target(ctx, flags);
    const got = await t.client.get({ name, version: flags.version, namespaces: t.chain });
    const value = typeof got.value === 'string' ? got.value : Buffer.from(got.value).toString('utf8');
    if (flags.json) {
      return writeJson(ctx, { store: t.storeName, name, namespace: got.namespace, version: got.version, value });
    }
    // Exactly the value when piped (`> file` keeps its bytes); a newline on a terminal.
    ctx.stdout.write(ctx.stdout.isTTY ? `${value}\n` : value);
  });

  const list = withStore(
    withCommon(
      group
        .command('list')
        .description('names and metadata visible from a namespace, never values')
        .option('-p, --prefix <prefix>', 'only names starting with this')
        .option('-t, --tag <key=value>', 'only secrets with this tag (repeatable)', collectTag)
        .option('--deleted', 'include deleted secrets that can still be restored')
        .option('--limit <n>', 'one page of at most N (then pass --cursor to go on)')
        .option('--cursor <cursor>', 'the cursor a previous page printed'),
    ),
  );
  example(list, 'sesame secrets list --prefix jira/ --namespace acme.devops', 'sesame secrets list --tag team=platform --json');
  list.action(async (flags: Flags) => {
    const t = await target(ctx, flags);
    const limit = flags.limit === undefined ? undefined : Number(flags.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0)) {
      throw new UsageError('--limit is a positive whole number, e.g. --limit 50');
    }
    const query = {
      namespaces: t.chain,
      prefix: flags.prefix,
      tags: parseTags(flags.tag),
      includeDeleted: flags.deleted,
    };
    const items: SecretMetadata[] = [];
    let cursor = flags.cursor;
    // Without --limit, every page; with it, one page and the cursor for the next.
    do {
      const page = await t.client.list({ ...query, limit, cursor });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor && limit === undefined);
    if (flags.json) return writeJson(ctx, { items, ...(cursor ? { cursor } : {}) });
    writeTable(
      ctx,
      ['NAME', 'NAMESPACE', 'VERSION', 'UPDATED', 'TAGS', 'STATE'],
      items.map((i) => [
        i.name,
        i.namespace === undefined ? '' : i.namespace || '(root)',
        i.version ?? '',
        i.updatedAt ?? '',
        tagsText(i.tags),
        i.deletedAt ? `deleted, restorable until ${i.purgeAt}` : '',
      ]),
    );
    if (cursor) ctx.stderr.write(`more: sesame secrets list --limit ${limit} --cursor ${cursor}\n`);
  });

  const del = withStore(
    withCommon(
      group
        .command('delete')
        .description('delete a secret: restorable for the recovery window, or at once with --force')
        .argument('<name>')
        .option('--force', 'delete every version for good, now (no restore)')
        .option('--recovery-window <duration>', "how long it can be restored, e.g. 30d (default: the store's)"),
    ),
  );
  example(del, 'sesame secrets delete jira/token --namespace acme.devops', 'sesame secrets delete old/key --force');
  del.action(async (name: string, flags: Flags) => {
    let recoveryWindowMs: number | undefined;
    if (flags.recoveryWindow !== undefined) {
      recoveryWindowMs = parseDuration(flags.recoveryWindow);
      if (recoveryWindowMs === undefined) {
        throw new UsageError(`--recovery-window "${flags.recoveryWindow}" is not a duration: write e.g. 7d, 12h or 0`);
      }
    }
    const t = await target(ctx, flags);
    const remove = need(t, 'delete', 'delete secrets');
    await auditedLocally(ctx, flags.config, changeOf('secret.delete', flags, name), () =>
      remove(name, { namespace: flags.namespace, force: flags.force, recoveryWindowMs }),
    );
    await t.sesame.refresh({ store: flags.store }, { namespace: flags.namespace }).catch(() => undefined);
    const purged = flags.force === true || recoveryWindowMs === 0;
    let purgeAt: string | undefined;
    if (!purged) {
      const page = await t.client.list({ namespaces: [flags.namespace], prefix: name, includeDeleted: true, limit: 1000 });
      purgeAt = page.items.find((i) => i.name === name && i.deletedAt)?.purgeAt;
    }
    if (flags.json) return writeJson(ctx, { store: t.storeName, name, namespace: flags.namespace, purged, purgeAt });
    const restoreCommand = `sesame secrets restore ${name}${flags.namespace ? ` --namespace ${flags.namespace}` : ''}`;
    ctx.stdout.write(
      purged
        ? `deleted ${name} in ${describeNamespace(flags.namespace)} for good\n`
        : `deleted ${name} in ${describeNamespace(flags.namespace)}` +
            (purgeAt ? `; restore it until ${purgeAt} with: ${restoreCommand}` : '') +
            '\n',
    );
  });

  const restore = withStore(
    withCommon(group.command('restore').description('undo a delete within the recovery window').argument('<name>')),
  );
  example(restore, 'sesame secrets restore jira/token --namespace acme.devops');
  restore.action(async (name: string, flags: Flags) => {
    const t = await target(ctx, flags);
    const restoreSecret = need(t, 'restore', 'restore deleted secrets');
    await auditedLocally(ctx, flags.config, changeOf('secret.restore', flags, name), () =>
      restoreSecret(name, { namespace: flags.namespace }),
    );
    await t.sesame.refresh({ store: flags.store }, { namespace: flags.namespace }).catch(() => undefined);
    if (flags.json) return writeJson(ctx, { store: t.storeName, name, namespace: flags.namespace, restored: true });
    ctx.stdout.write(`restored ${name} in ${describeNamespace(flags.namespace)}\n`);
  });

  const versions = withStore(
    withCommon(group.command('versions').description('the versions of a secret, newest first (no values)').argument('<name>')),
  );
  example(versions, 'sesame secrets versions db/password --namespace acme');
  versions.action(async (name: string, flags: Flags) => {
    const t = await target(ctx, flags);
    const list = await need(t, 'versions', 'list versions')(name, { namespaces: t.chain });
    if (flags.json) return writeJson(ctx, { store: t.storeName, name, versions: list });
    const staged = list.some((v) => (v.stages ?? []).length > 0);
    writeTable(
      ctx,
      staged ? ['VERSION', 'CREATED', 'STAGES'] : ['VERSION', 'CREATED'],
      list.map((v) => [v.version, v.createdAt ?? '', ...(staged ? [(v.stages ?? []).join(',')] : [])]),
    );
  });
}
