/**
 * `1password-connect` store: items of a 1Password Connect server, over its REST API.
 *
 * A name is `<vault>/<item>` (or `<item>` when `vault` is set); vaults are found by name or id,
 * items by title through the API's `filter`. An item reads as a JSON object of its fields by
 * label (`secret://op/Prod/jira#password` picks one); a Secure Note with nothing but its notes
 * reads as the notes text, a Document as its file (bytes that are not UTF-8 kept as bytes). Connect serves the current version only and has no paging: a listing
 * is complete and paged in memory.
 *
 * @example
 * stores:
 *   - name: op
 *     type: 1password-connect
 *     url: http://op-connect:8080
 *     auth: { method: token, token: "${env:OP_CONNECT_TOKEN}" }
 */
import { z } from 'zod';
import { InvalidRequestError } from '../../errors.js';
import type {
  CheckOptions,
  FetchedSecret,
  HostAccess,
  ListOptions,
  ListPage,
  SecretRequest,
  StoreClient,
  StoreContext,
  StoreType,
} from '../contract.js';
import {
  type Classification,
  classifyHttp,
  credential,
  credentialPaths,
  expectOk,
  type HttpAnswer,
  jsonArray,
  HttpStatusError,
  HttpTransport,
  pageInMemory,
  type RetryPolicy,
  readSampleStep,
  runChecks,
  StoreCore,
  valueOfBytes,
} from '../core/index.js';

const settings = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'url is the Connect server URL, e.g. http://op-connect:8080' }),
  /** A vault name or id: names are then item titles in it. */
  vault: z.string().min(1).optional(),
  auth: z.discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('token'),
      token: credential(z.string().min(1, 'token is a Connect server access token')),
    }),
  ]),
});
export type OnePasswordSettings = z.infer<typeof settings>;

interface Op {
  action: string;
  name?: string | undefined;
}
interface Vault {
  id: string;
  name: string;
}
interface Field {
  label?: string;
  value?: string;
  purpose?: string;
  section?: { id: string; label?: string };
}
interface Item {
  id: string;
  title: string;
  version?: number;
  category?: string;
  fields?: Field[];
  sections?: Array<{ id: string; label?: string }>;
  files?: Array<{ id: string }>;
  updatedAt?: string;
  createdAt?: string;
}

const VAULT_ID = /^[a-z0-9]{26}$/;
const scimString = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/**
 * An item's value: the notes of a bare Secure Note, else its labelled fields as JSON, by label
 * (of two fields with one label, the first) and, for a field in a section, also by
 * `<section>/<label>` (the section's label, else its id), which `op://<vault>/<item>/<section>/<field>`
 * reads: two sections often hold fields of one label (`primary/password`, `replica/password`).
 */
export function itemValue(item: Item): string {
  const fields = (item.fields ?? []).filter((f) => f.label && f.value !== undefined);
  const onlyNotes = fields.length === 1 && fields[0]?.purpose === 'NOTES';
  if (item.category === 'SECURE_NOTE' && onlyNotes) return fields[0]?.value ?? '';
  const sections = new Map((item.sections ?? []).map((s) => [s.id, s.label]));
  const out: Record<string, string> = {};
  const put = (key: string, value: string) => {
    if (!Object.hasOwn(out, key)) out[key] = value;
  };
  for (const f of fields) put(f.label as string, f.value as string);
  for (const f of fields) {
    if (!f.section) continue;
    const section = f.section.label || sections.get(f.section.id) || f.section.id;
    put(`${section}/${f.label}`, f.value as string);
  }
  return JSON.stringify(out);
}

/** One object of the Connect API (a vault, an item): it has an id. */
const withId = (body: unknown): boolean => typeof (body as { id?: unknown } | null)?.id === 'string';

/**
 * The Connect API's error body (its spec's `ErrorResponse`: `{status, message}`). A 404 without
 * it is another service at url, not a missing vault or item.
 */
const connectError = (body: unknown): boolean => {
  const b = (body ?? {}) as { status?: unknown; message?: unknown };
  return typeof b.status === 'number' && typeof b.message === 'string';
};

/** Throw {@link HttpStatusError} unless 2xx; a 404 not in Connect's error shape is a foreign answer. */
function expectConnectOk(answer: HttpAnswer): HttpAnswer {
  if (answer.status === 404) answer.expectJson(connectError, "1Password Connect's error");
  return expectOk(answer);
}

export class OnePasswordStore implements StoreClient {
  readonly #s: OnePasswordSettings;
  readonly #core: StoreCore<Op>;
  readonly #http: HttpTransport;
  readonly #base: string;
  readonly #vaults = new Map<string, Promise<Vault>>();

  constructor(s: OnePasswordSettings, context: StoreContext, options: { retry?: RetryPolicy } = {}) {
    this.#s = s;
    this.#base = s.url.replace(/\/+$/, '');
    this.#http = new HttpTransport({
      lookup: context.lookup,
      settings: { address: 'url', provider: '1Password Connect' },
    });
    this.#core = new StoreCore({
      context,
      settings: s,
      credentialPaths: onePasswordStoreType.secretSettings,
      retry: options.retry,
      classify: (err, op) => this.#classify(err, op),
    });
  }

  #classify(err: unknown, op: Op): Classification | undefined {
    const what = `${op.action}${op.name ? ` "${op.name}"` : ''} at ${this.#base}`;
    if (!(err instanceof HttpStatusError)) return classifyHttp(err, what);
    const said = err.answer.json<{ message?: string }>()?.message ?? `HTTP ${err.status}`;
    if (err.status === 401)
      return {
        kind: 'denied',
        message: `${what}: the Connect server refused the token (401 ${said})`,
        fix: 'set auth.token to an access token of this Connect server (1Password: Developer → Connect servers → tokens)',
      };
    if (err.status === 403)
      return {
        kind: 'denied',
        message: `${what}: ${said} (403)`,
        fix: "a Connect token's vaults are set when it is issued: use a token issued for this vault (op connect token create <name> --server <server> --vault <vault>), on a server that has the vault (op connect vault grant --server <server> --vault <vault>)",
      };
    if (err.status === 404) return { kind: 'not_found', message: `${what}: ${said}` };
    return classifyHttp(err, what);
  }

  #request(op: Op, path: string, query?: Record<string, string>) {
    const headers = { authorization: `Bearer ${this.#s.auth.token}` };
    return this.#core.call(op, async () =>
      expectConnectOk(await this.#http.request('GET', `${this.#base}/v1/${path}`, { headers, query })),
    );
  }

  /** A GET whose JSON answer is a list (`T[]`) or one object with an id, else the address does not answer like Connect. */
  #get<T>(op: Op, path: string, query?: Record<string, string>): Promise<T> {
    const headers = { authorization: `Bearer ${this.#s.auth.token}` };
    const list = query !== undefined || /(^vaults|\/items)$/.test(path);
    return this.#core.call(op, async () =>
      expectConnectOk(
        await this.#http.request('GET', `${this.#base}/v1/${path}`, { headers, query }),
      ).expectJson<T>(list ? jsonArray : withId, list ? 'a list' : 'an object with an id'),
    );
  }

  /** A vault by name (the API's filter) or else by id; cached, forgotten when the lookup fails. */
  #vault(ref: string): Promise<Vault> {
    let found = this.#vaults.get(ref);
    if (!found) {
      found = (async () => {
        const op = { action: 'finding vault', name: ref };
        const [byName] = await this.#get<Vault[]>(op, 'vaults', { filter: `name eq ${scimString(ref)}` });
        if (byName) return byName;
        if (VAULT_ID.test(ref)) return this.#get<Vault>(op, `vaults/${ref}`);
        throw this.#core.fail({
          kind: 'not_found',
          message: `no vault named "${ref}" in the Connect token's scope`,
          fix: `check the vault name, or give the token access to vault "${ref}"`,
        });
      })();
      this.#vaults.set(ref, found);
      found.catch(() => this.#vaults.delete(ref));
    }
    return found;
  }

  #split(name: string): [string, string] {
    if (this.#s.vault) return [this.#s.vault, name];
    const at = name.indexOf('/');
    if (at <= 0 || at === name.length - 1)
      throw new InvalidRequestError(
        `${this.#core.tag} "${name}" is not <vault>/<item>: name the vault first, or set vault on the store`,
      );
    return [name.slice(0, at), name.slice(at + 1)];
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    const [vaultRef, title] = this.#split(request.name);
    const vault = await this.#vault(vaultRef);
    const op = { action: 'reading', name: request.name };
    const matches = await this.#get<Item[]>(op, `vaults/${vault.id}/items`, {
      filter: `title eq ${scimString(title)}`,
    });
    if (matches.length === 0)
      throw this.#core.fail({
        kind: 'not_found',
        message: `no item titled "${title}" in vault "${vault.name}"`,
      });
    if (matches.length > 1)
      throw this.#core.fail({
        kind: 'conflict',
        message: `${matches.length} items titled "${title}" in vault "${vault.name}"`,
        fix: 'give the items distinct titles',
      });
    const path = `vaults/${vault.id}/items/${(matches[0] as Item).id}`;
    const item = await this.#get<Item>(op, path);
    const version = item.version === undefined ? undefined : String(item.version);
    // A Document item is its file (text or bytes): its fields hold nothing of it.
    const [file, ...more] = item.files ?? [];
    if (item.category === 'DOCUMENT' && file && more.length === 0) {
      const content = await this.#request(op, `${path}/files/${encodeURIComponent(file.id)}/content`);
      return { value: valueOfBytes(content.body), version };
    }
    return { value: itemValue(item), version };
  }

  async list(options: ListOptions): Promise<ListPage> {
    const vaults = this.#s.vault
      ? [await this.#vault(this.#s.vault)]
      : await this.#get<Vault[]>({ action: 'listing vaults' }, 'vaults');
    const items = [];
    for (const vault of vaults) {
      for (const item of await this.#get<Item[]>(
        { action: 'listing items of vault', name: vault.name },
        `vaults/${vault.id}/items`,
      )) {
        const name = this.#s.vault ? item.title : `${vault.name}/${item.title}`;
        if (!options.prefix || name.startsWith(options.prefix))
          items.push({
            name,
            version: item.version === undefined ? undefined : String(item.version),
            createdAt: item.createdAt,
            updatedAt: item.updatedAt,
          });
      }
    }
    return pageInMemory(items, options);
  }

  check(options: CheckOptions) {
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        run: async () => {
          const vaults = await this.#get<Vault[]>({ action: 'listing vaults' }, 'vaults');
          return `token accepted; vaults in its scope: ${vaults.map((v) => v.name).join(', ') || 'none'}`;
        },
      },
      this.#s.vault !== undefined && {
        step: 'vault',
        required: true,
        run: async () => {
          const v = await this.#vault(this.#s.vault as string);
          return `vault "${v.name}" (${v.id})`;
        },
      },
      {
        step: 'list',
        run: async () => `${(await this.list({ namespaces: options.namespaces })).items.length} item(s)`,
        fix: 'give the token read access to the vault',
      },
      readSampleStep(
        this,
        options,
        'check the name (<vault>/<item title>) and that the token may read its vault',
      ),
    ]);
  }

  async close(): Promise<void> {
    this.#http.close();
  }
}

export const onePasswordStoreType = {
  type: '1password-connect',
  capabilities: {
    write: false,
    batch: false,
    versions: false,
    stages: false,
    namespaced: false,
    restore: false,
  },
  settings,
  secretSettings: credentialPaths(settings),
  connectsThroughLookup: true,
  hostAccess: (s: OnePasswordSettings): HostAccess[] => [{ kind: 'address', setting: 'url', url: s.url }],
  create: (s: OnePasswordSettings, context: StoreContext) => new OnePasswordStore(s, context),
} satisfies StoreType<OnePasswordSettings>;
