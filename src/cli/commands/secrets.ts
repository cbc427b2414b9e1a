/**
 * `sesame secrets set|get|list|delete|restore|versions|import|export`: manage secrets in a
 * writable store (default `builtin`), locally through the store's client (the same path the
 * server uses) or, with `--server`, through the server's API under the token's rights. Only
 * `get` and `export --reveal` print values; every other command prints names and metadata.
 * Local changes are recorded in the audit trail as `cli:<os user>` — in the change's own
 * transaction for the builtin store, after the change for other stores (see `auditedLocally`);
 * changes through a server are recorded by the server, as the token.
 */
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { type Command, Option } from 'commander';
import { namespaceChain } from '../../namespaces.js';
import { durationProblem, parseDuration } from '../../config/duration.js';
import { jsonSyntaxError, UnsupportedOperationError, UsageError } from '../../errors.js';
import { documentText } from '../../host-file.js';
import { processRedactor } from '../../redact/redactor.js';
import { formatReference } from '../../refs/reference.js';
import type { SecretMetadata, StoreClient, VersionMetadata } from '../../stores/contract.js';
import {
  auditedLocally,
  type CliContext,
  example,
  readFileBounded,
  readStdin,
  withCommon,
  writeJson,
  writeTable,
} from '../context.js';
import { canPrompt, promptSecret, startProgress } from '../prompt.js';
import { remote, type SesameClient, withServer } from '../remote.js';

interface Flags {
  config?: string;
  namespace: string;
  json?: boolean;
  store: string;
  server?: string | boolean;
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
  format?: FileFormat;
  reveal?: boolean;
  output?: string;
  skipEmpty?: boolean;
}

type FileFormat = 'env' | 'json';

/** `--store`, `--config`, `--namespace`, `--json`, `--server` and `--profile`, on every secrets command. */
function secretsOptions(cmd: Command): Command {
  return withServer(
    withCommon(cmd).addOption(new Option('-s, --store <name>', 'the store to act on').default('builtin')),
  );
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
    if (eq <= 0)
      throw new UsageError(`--tag ${JSON.stringify(tag)} is not KEY=VALUE, e.g. --tag team=devops`);
    out[tag.slice(0, eq)] = tag.slice(eq + 1);
  }
  return out;
}

interface WriteInput {
  description?: string | undefined;
  tags?: Record<string, string> | undefined;
  expectedVersion?: string | undefined;
}

interface Page {
  items: SecretMetadata[];
  cursor?: string | undefined;
}

/**
 * The secrets of one store as a command sees them, here or on a server: the commands below are
 * written once against this, and `local()` / `onServer()` say how each operation is done.
 */
interface Secrets {
  readonly storeName: string;
  /** Refuse a value the store would refuse for its size, before anything handles it (masking learns it). */
  check(name: string, value: string): void;
  write(
    name: string,
    value: string,
    input: WriteInput,
  ): Promise<{ version: string; namespace?: string | undefined }>;
  get(
    name: string,
    version?: string,
  ): Promise<{ value: string; version?: string | undefined; namespace?: string | undefined }>;
  list(query: {
    prefix?: string | undefined;
    tags?: Record<string, string> | undefined;
    includeDeleted?: boolean | undefined;
    limit?: number | undefined;
    cursor?: string | undefined;
  }): Promise<Page>;
  versions(name: string): Promise<VersionMetadata[]>;
  remove(
    name: string,
    options: { force?: boolean | undefined; recoveryWindowMs?: number | undefined },
  ): Promise<void>;
  restore(name: string): Promise<void>;
  /** Page size to ask for when listing everything. */
  readonly pageSize: number | undefined;
}

async function local(ctx: CliContext, flags: Flags): Promise<Secrets> {
  const sesame = ctx.sesame(flags.config);
  const binding = sesame.store(flags.store, flags.namespace);
  const client = await binding.client();
  const storeName = binding.config.name;
  const chain = namespaceChain(flags.namespace, sesame.config.namespaces);
  const need = <K extends keyof StoreClient>(method: K, what: string): NonNullable<StoreClient[K]> => {
    const fn = client[method];
    if (typeof fn !== 'function') {
      throw new UnsupportedOperationError(
        `store ${storeName} cannot ${what}: use a writable store such as builtin (--store builtin)`,
      );
    }
    return (fn as (...args: unknown[]) => unknown).bind(client) as NonNullable<StoreClient[K]>;
  };
  /** The audit record of a change: the same action, namespace and target as the server's. */
  const change = (action: string, name: string) => {
    // Checked here because the audit target is built before the store sees the name (and a
    // reference cannot hold an empty one); the words are the builtin store's own.
    if (name === '')
      throw new UsageError(
        `[${storeName}] secret name "" is empty: write names like "db/password" or "team/jira/token"`,
      );
    return { action, namespace: flags.namespace, target: formatReference({ store: flags.store, name }) };
  };
  // This process may have resolved the secret already; the server's cache is its own.
  const dropCached = () =>
    sesame.refresh({ store: flags.store }, { namespace: flags.namespace }).catch(() => undefined);
  return {
    storeName,
    pageSize: undefined,
    check: (name, value) => client.checkValue?.(name, value),
    async write(name, value, input) {
      const write = need('write', 'write secrets');
      const result = await auditedLocally(ctx, flags.config, change('secret.write', name), () =>
        write(name, value, { namespace: flags.namespace, ...input }),
      );
      await dropCached();
      return result;
    },
    async get(name, version) {
      const got = await client.get({ name, version, namespaces: chain });
      const value = typeof got.value === 'string' ? got.value : Buffer.from(got.value).toString('utf8');
      return { value, version: got.version, namespace: got.namespace };
    },
    list: (query) => client.list({ namespaces: chain, ...query }),
    versions: (name) => need('versions', 'list versions')(name, { namespaces: chain }),
    async remove(name, options) {
      const remove = need('delete', 'delete secrets');
      await auditedLocally(ctx, flags.config, change('secret.delete', name), () =>
        remove(name, { namespace: flags.namespace, ...options }),
      );
      await dropCached();
    },
    async restore(name) {
      const restore = need('restore', 'restore deleted secrets');
      await auditedLocally(ctx, flags.config, change('secret.restore', name), () =>
        restore(name, { namespace: flags.namespace }),
      );
      await dropCached();
    },
  };
}

/**
 * The same operations through a server's API (`src/server/routes/secrets.ts`). The namespace is
 * sent only when one was given: without it the server acts in the token's own namespace.
 */
function onServer(client: SesameClient, flags: Flags): Secrets {
  const where = { store: flags.store, namespace: flags.namespace || undefined };
  const at = (name: string, suffix = '') => `/secrets/${encodeURIComponent(name)}${suffix}`;
  return {
    storeName: flags.store,
    pageSize: 1000,
    // The server checks (its body limit, then the store's); the CLI cannot know them beforehand.
    check: () => {},
    write: (name, value, input) =>
      client.request('PUT', at(name), { query: where, body: { value, ...input } }),
    get: (name, version) => client.request('GET', at(name, '/value'), { query: { ...where, version } }),
    list: (query) =>
      client.request('GET', '/secrets', {
        query: {
          ...where,
          prefix: query.prefix,
          tag: query.tags ? Object.entries(query.tags).map(([k, v]) => `${k}=${v}`) : undefined,
          includeDeleted: query.includeDeleted,
          limit: query.limit,
          cursor: query.cursor,
        },
      }),
    versions: async (name) =>
      (await client.request<{ items: VersionMetadata[] }>('GET', at(name, '/versions'), { query: where }))
        .items,
    async remove(name, options) {
      if (options.recoveryWindowMs !== undefined) {
        throw new UsageError(
          "--recovery-window is not available with --server: the server uses the store's recovery window (or --force)",
        );
      }
      await client.request('DELETE', at(name), { query: { ...where, force: options.force } });
    },
    async restore(name) {
      await client.request('POST', at(name, '/restore'), { query: where });
    },
  };
}

async function open(ctx: CliContext, flags: Flags): Promise<Secrets> {
  const client = remote(ctx, flags.server);
  return client ? onServer(client, flags) : local(ctx, flags);
}

/** Every secret a listing shows, page after page (not deleted ones). */
async function listAll(secrets: Secrets, prefix: string | undefined): Promise<SecretMetadata[]> {
  const items: SecretMetadata[] = [];
  let cursor: string | undefined;
  do {
    const page = await secrets.list({ prefix, limit: secrets.pageSize, cursor });
    items.push(...page.items.filter((i) => !i.deletedAt));
    cursor = page.cursor;
  } while (cursor);
  // A store that lists a name from two namespaces of the chain: the nearest one is what resolves.
  const byName = new Map<string, SecretMetadata>();
  for (const item of items) {
    const seen = byName.get(item.name);
    if (!seen || (item.namespace ?? '').length > (seen.namespace ?? '').length) byName.set(item.name, item);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What every refusal of an empty value says. */
function emptyRefusal(source: string, name: string): UsageError {
  return new UsageError(
    `${source} is empty: nothing was written (Sesame does not store empty values; ` +
      `pipe the value in, e.g. printf %s "$VALUE" | sesame secrets set ${name}, or use --from-file FILE)`,
  );
}

/**
 * The value to write: the argument, `--from-file` (bytes as they are), a hidden prompt asked
 * twice on a terminal, or stdin (one trailing newline dropped, so `echo value | sesame secrets
 * set NAME` stores `value`). An empty value is refused from every source: an empty stdin is far
 * more often a mistake (`</dev/null`, an unset variable) than a value.
 */
async function valueFrom(
  ctx: CliContext,
  name: string,
  argument: string | undefined,
  flags: Flags,
): Promise<string> {
  if (argument !== undefined && flags.fromFile !== undefined) {
    throw new UsageError('give the value either as an argument or with --from-file, not both');
  }
  if (argument !== undefined) {
    if (argument === '') throw emptyRefusal('the value argument', name);
    return argument;
  }
  if (flags.fromFile !== undefined) {
    const text = readInput(ctx, flags.fromFile, '--from-file');
    if (text === '') throw emptyRefusal(`--from-file ${flags.fromFile}`, name);
    return text;
  }
  if (canPrompt(ctx)) return promptSecret(ctx, `value for ${name}`);
  const value = (await readStdin(ctx)).replace(/\r?\n$/, '');
  if (value === '') throw emptyRefusal('stdin', name);
  return value;
}

function readInput(ctx: CliContext, file: string, what: string): string {
  return readFileBounded(path.resolve(ctx.cwd, file), `${what} ${file}`);
}

function describeNamespace(namespace: string | undefined): string {
  return namespace ? `namespace ${namespace}` : 'the root namespace';
}

function tagsText(tags: Record<string, string> | undefined): string {
  return Object.entries(tags ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

// ---- .env and JSON files -------------------------------------------------------------------

/** `--format`, or the file's extension: `.json` is JSON, anything else a .env file. */
function formatOf(flags: Flags, file: string | undefined): FileFormat {
  if (flags.format) return flags.format;
  return file !== undefined && /\.json$/i.test(file) ? 'json' : 'env';
}

/**
 * The entries of a .env or JSON file, in file order. A .env file is read by Node's own parser
 * (`util.parseEnv`: `KEY=value`, `export KEY=…`, quotes, `#` comments); a JSON file is one
 * object whose string values are taken as they are, numbers and booleans as their text, and
 * objects and arrays as JSON text (a JSON secret, for `#key` references).
 */
export function parseSecretsFile(document: string, format: FileFormat, file: string): Array<[string, string]> {
  const text = documentText(document);
  if (format === 'env') return Object.entries(parseEnv(text)).map(([k, v]) => [k, v ?? '']);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // V8 quotes the text around the fault, which holds the values: only what is wrong, and where.
    const { reason, position } = jsonSyntaxError(err);
    const at = position === undefined ? '' : ` at position ${position}`;
    throw new UsageError(
      `${file} is not JSON (${reason}${at}): fix it, or pass --format env for a .env file`,
    );
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new UsageError(`${file} must hold one JSON object of names and values, e.g. {"db/password": "…"}`);
  }
  return Object.entries(doc as Record<string, unknown>).map(([name, value]) => {
    if (value === null || value === undefined)
      throw new UsageError(`${file}: "${name}" is null: give it a value, or leave it out`);
    return [
      name,
      typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value),
    ];
  });
}

/** A secret name as a .env key: characters a variable name cannot hold become `_`. */
export function envKeyOf(name: string): string {
  const key = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(key) ? `_${key}` : key;
}

const BARE = /^[A-Za-z0-9_./:@%+,=-]*$/;

/**
 * One value written so that `util.parseEnv` reads back exactly these characters: bare when it
 * has nothing to quote, else in the first of single quotes, backticks or double quotes that
 * cannot be confused with its content (Node's parser knows no escapes except `\n` in double
 * quotes). Undefined when no quoting holds it: the caller asks for JSON instead.
 */
export function formatEnvValue(value: string): string | undefined {
  if (value !== '' && BARE.test(value) && parseEnv(`K=${value}`)['K'] === value) return value;
  const candidates = [
    { quote: "'", ok: !value.includes("'") },
    { quote: '`', ok: !value.includes('`') },
    { quote: '"', ok: !value.includes('"') && !value.includes('\\n') },
  ];
  for (const { quote, ok } of candidates) {
    if (!ok) continue;
    const written = `${quote}${value}${quote}`;
    if (parseEnv(`K=${written}`)['K'] === value) return written;
  }
  return undefined;
}

function writeOutput(ctx: CliContext, flags: Flags, text: string): void {
  if (flags.output === undefined) {
    ctx.stdout.write(text);
    return;
  }
  const file = path.resolve(ctx.cwd, flags.output);
  if (existsSync(file) && !flags.force) {
    throw new UsageError(`${file} exists: nothing was written (pass --force to replace it)`);
  }
  // 0600 from the first byte: an export with --reveal holds values.
  let fd: number;
  try {
    fd = openSync(file, 'w', 0o600);
  } catch (err) {
    throw new UsageError(
      `cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

export function registerSecrets(program: Command, ctx: CliContext): void {
  const group = program
    .command('secrets')
    .description('manage secrets in a writable store (default: builtin), here or on a server');

  const set = secretsOptions(
    group
      .command('set')
      .description(
        'write a new version of a secret (value from stdin, --from-file, a hidden prompt, or an argument)',
      )
      .argument('<name>', 'secret name, e.g. db/password')
      .argument(
        '[value]',
        'the value (it lands in your shell history: prefer stdin, --from-file or the prompt)',
      )
      .option('-f, --from-file <file>', 'read the value from a file, byte for byte')
      .option('-d, --description <text>', 'describe the secret')
      .option('-t, --tag <key=value>', 'tag the secret (repeatable)', collectTag)
      .option('--expected-version <n>', 'fail unless the newest version is N (0: the secret must not exist)'),
  );
  example(
    set,
    'printf %s "$JIRA_TOKEN" | sesame secrets set jira/token --namespace acme.devops',
    'sesame secrets set db/password          # on a terminal: asks twice, input hidden',
    'sesame secrets set tls/key --from-file ./key.pem --tag team=platform',
    'sesame secrets set db/password --from-file pw.txt --server   # on the server of your login profile',
  );
  set.action(async (name: string, argument: string | undefined, flags: Flags) => {
    const value = await valueFrom(ctx, name, argument, flags);
    const tags = parseTags(flags.tag);
    const secrets = await open(ctx, flags);
    // Before masking learns it (about a hundred times its size): a value the store refuses anyway.
    secrets.check(name, value);
    processRedactor.add(value);
    const result = await secrets.write(name, value, {
      description: flags.description,
      tags,
      expectedVersion: flags.expectedVersion,
    });
    if (flags.json) return writeJson(ctx, { store: secrets.storeName, name, ...result });
    ctx.stdout.write(
      `wrote ${name} version ${result.version} in ${describeNamespace(result.namespace ?? flags.namespace)} (store ${secrets.storeName})\n`,
    );
  });

  const get = secretsOptions(
    group
      .command('get')
      .description('print a secret value on stdout (the newest version, or --version N)')
      .argument('<name>')
      .option('-v, --version <n>', 'a pinned version'),
  );
  example(
    get,
    'sesame secrets get db/password --namespace acme',
    'sesame secrets get db/password --version 2 --json',
    'sesame secrets get db/password --server   # needs a token with reveal',
  );
  get.action(async (name: string, flags: Flags) => {
    const secrets = await open(ctx, flags);
    const got = await secrets.get(name, flags.version);
    if (flags.json) {
      return writeJson(ctx, {
        store: secrets.storeName,
        name,
        namespace: got.namespace,
        version: got.version,
        value: got.value,
      });
    }
    // Exactly the value when piped (`> file` keeps its bytes); a newline on a terminal.
    ctx.stdout.write(ctx.stdout.isTTY ? `${got.value}\n` : got.value);
  });

  const list = secretsOptions(
    group
      .command('list')
      .description('names and metadata visible from a namespace, never values')
      .option('-p, --prefix <prefix>', 'only names starting with this')
      .option('-t, --tag <key=value>', 'only secrets with this tag (repeatable)', collectTag)
      .option('--deleted', 'include deleted secrets that can still be restored')
      .option('--limit <n>', 'one page of at most N (then pass --cursor to go on)')
      .option('--cursor <cursor>', 'the cursor a previous page printed'),
  );
  example(
    list,
    'sesame secrets list --prefix jira/ --namespace acme.devops',
    'sesame secrets list --tag team=platform --json',
  );
  list.action(async (flags: Flags) => {
    const limit = flags.limit === undefined ? undefined : Number(flags.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0)) {
      throw new UsageError('--limit is a positive whole number, e.g. --limit 50');
    }
    const secrets = await open(ctx, flags);
    const query = { prefix: flags.prefix, tags: parseTags(flags.tag), includeDeleted: flags.deleted };
    const items: SecretMetadata[] = [];
    let cursor = flags.cursor;
    // Without --limit, every page; with it, one page and the cursor for the next.
    do {
      const page = await secrets.list({ ...query, limit: limit ?? secrets.pageSize, cursor });
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

  const del = secretsOptions(
    group
      .command('delete')
      .description('delete a secret: restorable for the recovery window, or at once with --force')
      .argument('<name>')
      .option('--force', 'delete every version for good, now (no restore)')
      .option('--recovery-window <duration>', "how long it can be restored, e.g. 30d (default: the store's)"),
  );
  example(
    del,
    'sesame secrets delete jira/token --namespace acme.devops',
    'sesame secrets delete old/key --force',
  );
  del.action(async (name: string, flags: Flags) => {
    let recoveryWindowMs: number | undefined;
    if (flags.recoveryWindow !== undefined) {
      recoveryWindowMs = parseDuration(flags.recoveryWindow);
      if (recoveryWindowMs === undefined) {
        throw new UsageError(
          `--recovery-window "${flags.recoveryWindow}" ${durationProblem(flags.recoveryWindow)}: write e.g. 7d, 12h or 0`,
        );
      }
    }
    const secrets = await open(ctx, flags);
    await secrets.remove(name, { force: flags.force, recoveryWindowMs });
    const purged = flags.force === true || recoveryWindowMs === 0;
    let purgeAt: string | undefined;
    if (!purged) {
      const page = await secrets.list({ prefix: name, includeDeleted: true, limit: 1000 });
      // The listing covers the parents too: the deleted secret is the one in this namespace.
      const own = (i: SecretMetadata) =>
        i.namespace === undefined || flags.namespace === '' || i.namespace === flags.namespace;
      purgeAt = page.items.find((i) => i.name === name && i.deletedAt && own(i))?.purgeAt;
    }
    if (flags.json)
      return writeJson(ctx, { store: secrets.storeName, name, namespace: flags.namespace, purged, purgeAt });
    const restoreCommand = `sesame secrets restore ${name}${flags.namespace ? ` --namespace ${flags.namespace}` : ''}`;
    ctx.stdout.write(
      purged
        ? `deleted ${name} in ${describeNamespace(flags.namespace)} for good\n`
        : `deleted ${name} in ${describeNamespace(flags.namespace)}` +
            (purgeAt ? `; restore it until ${purgeAt} with: ${restoreCommand}` : '') +
            '\n',
    );
  });

  const restore = secretsOptions(
    group.command('restore').description('undo a delete within the recovery window').argument('<name>'),
  );
  example(restore, 'sesame secrets restore jira/token --namespace acme.devops');
  restore.action(async (name: string, flags: Flags) => {
    const secrets = await open(ctx, flags);
    await secrets.restore(name);
    if (flags.json)
      return writeJson(ctx, { store: secrets.storeName, name, namespace: flags.namespace, restored: true });
    ctx.stdout.write(`restored ${name} in ${describeNamespace(flags.namespace)}\n`);
  });

  const versions = secretsOptions(
    group
      .command('versions')
      .description('the versions of a secret, newest first (no values)')
      .argument('<name>'),
  );
  example(versions, 'sesame secrets versions db/password --namespace acme');
  versions.action(async (name: string, flags: Flags) => {
    const secrets = await open(ctx, flags);
    const list = await secrets.versions(name);
    if (flags.json) return writeJson(ctx, { store: secrets.storeName, name, versions: list });
    const staged = list.some((v) => (v.stages ?? []).length > 0);
    writeTable(
      ctx,
      staged ? ['VERSION', 'CREATED', 'STAGES'] : ['VERSION', 'CREATED'],
      list.map((v) => [v.version, v.createdAt ?? '', ...(staged ? [(v.stages ?? []).join(',')] : [])]),
    );
  });

  const formatOption = () =>
    new Option('--format <format>', 'env or json (default: json for a .json file, else env)').choices([
      'env',
      'json',
    ]);

  const importCmd = secretsOptions(
    group
      .command('import')
      .description('write every entry of a .env or JSON file as a secret (a new version each)')
      .argument('<file>', 'the file; - reads stdin')
      .addOption(formatOption())
      .option('-p, --prefix <prefix>', 'put this in front of every name, e.g. app/')
      .option('--skip-empty', 'leave out entries with an empty value (default: refuse the file)'),
  );
  example(
    importCmd,
    'sesame secrets import .env --namespace acme.devops',
    'sesame secrets import secrets.json --prefix app/ --server',
  );
  importCmd.action(async (file: string, flags: Flags) => {
    if (file === '-' && ctx.stdin.isTTY)
      throw new UsageError(
        'import - reads the file from stdin: pipe it in, e.g. sesame secrets import - < .env',
      );
    const text = file === '-' ? await readStdin(ctx) : readInput(ctx, file, 'the file');
    const source = file === '-' ? 'stdin' : file;
    const entries = parseSecretsFile(text, formatOf(flags, file === '-' ? undefined : file), source).map(
      ([name, value]) => [`${flags.prefix ?? ''}${name}`, value] as [string, string],
    );
    const empty = entries.filter(([, value]) => value === '').map(([name]) => name);
    if (empty.length > 0 && !flags.skipEmpty) {
      throw new UsageError(
        `${source}: ${empty.join(', ')} ${empty.length === 1 ? 'has an empty value' : 'have empty values'}: nothing was written ` +
          '(give values, remove them, or pass --skip-empty; Sesame does not store empty values)',
      );
    }
    const writes = entries.filter(([, value]) => value !== '');
    if (writes.length === 0)
      throw new UsageError(`${source} holds no entries to import: nothing was written`);
    const secrets = await open(ctx, flags);
    // Every value the store would refuse for its size, before masking learns any: nothing written.
    for (const [name, value] of writes) secrets.check(name, value);
    for (const [, value] of entries) processRedactor.add(value);
    const progress = startProgress(ctx, 'importing', writes.length);
    const imported: Array<{ name: string; version: string }> = [];
    try {
      for (const [name, value] of writes) {
        const written = await secrets.write(name, value, {});
        imported.push({ name, version: written.version });
        progress.tick(name);
      }
    } catch (err) {
      progress.done();
      const failed = writes[imported.length]?.[0];
      ctx.stderr.write(
        `sesame: imported ${imported.length} of ${writes.length} before ${failed} failed; the rest were not written\n`,
      );
      throw err;
    }
    progress.done();
    if (flags.json)
      return writeJson(ctx, {
        store: secrets.storeName,
        namespace: flags.namespace,
        imported,
        skipped: empty,
      });
    const skipped = empty.length > 0 ? `; skipped ${empty.length} empty (${empty.join(', ')})` : '';
    ctx.stdout.write(
      `imported ${imported.length} secret${imported.length === 1 ? '' : 's'} from ${source} into ${describeNamespace(flags.namespace)} ` +
        `(store ${secrets.storeName})${skipped}\n`,
    );
  });

  const exportCmd = secretsOptions(
    group
      .command('export')
      .description(
        'write the secrets visible from a namespace as a .env or JSON file: references, or values with --reveal',
      )
      .addOption(formatOption())
      .option('-p, --prefix <prefix>', 'only names starting with this')
      .option('--reveal', 'write the values themselves, not references to them')
      .option('-o, --output <file>', 'write to this file (mode 0600) instead of stdout')
      .option('--force', 'replace the --output file if it exists'),
    // --json prints JSON already: --format json is the one way to ask for it here.
  );
  example(
    exportCmd,
    'sesame secrets export --namespace acme.devops > .env.sesame   # NAME=secret://builtin/NAME, for sesame run --env-file',
    'sesame secrets export --format json --reveal -o backup.json    # the values, in a 0600 file',
  );
  exportCmd.action(async (flags: Flags) => {
    const format = flags.format ?? (flags.json ? 'json' : formatOf(flags, flags.output));
    const secrets = await open(ctx, flags);
    const items = await listAll(secrets, flags.prefix);
    const entries: Array<[string, string]> = [];
    const progress = flags.reveal ? startProgress(ctx, 'reading', items.length) : undefined;
    try {
      for (const item of items) {
        if (flags.reveal) {
          const { value } = await secrets.get(item.name);
          processRedactor.add(value);
          entries.push([item.name, value]);
          progress?.tick(item.name);
        } else {
          entries.push([item.name, formatReference({ store: secrets.storeName, name: item.name })]);
        }
      }
    } finally {
      progress?.done();
    }
    let text: string;
    if (format === 'json') {
      text = `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`;
    } else {
      const keys = new Map<string, string>();
      const lines = [
        flags.reveal
          ? '# sesame secrets export --reveal: secret VALUES; keep this file safe, delete it when done'
          : '# sesame secrets export: references, not values (resolve them with sesame run --env-file FILE)',
      ];
      for (const [name, value] of entries) {
        const key = envKeyOf(name);
        const clash = keys.get(key);
        if (clash !== undefined) {
          throw new UsageError(
            `${clash} and ${name} are both ${key} in a .env file: nothing was written (use --format json)`,
          );
        }
        keys.set(key, name);
        const written = formatEnvValue(value);
        if (written === undefined) {
          throw new UsageError(
            `the value of ${name} cannot be written in a .env file that reads back the same (it holds every kind of quote, or a carriage return): nothing was written (use --format json)`,
          );
        }
        lines.push(`${key}=${written}`);
      }
      text = `${lines.join('\n')}\n`;
    }
    writeOutput(ctx, flags, text);
    const what = flags.reveal ? 'values' : 'references';
    const where = flags.output === undefined ? '' : ` to ${flags.output}`;
    if (flags.output !== undefined || ctx.stdout.isTTY !== true) {
      ctx.stderr.write(
        `sesame: exported ${entries.length} secret ${what}${where} from ${describeNamespace(flags.namespace)} (store ${secrets.storeName})\n`,
      );
    }
  });
}
