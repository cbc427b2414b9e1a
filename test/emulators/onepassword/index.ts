/**
 * A local 1Password Connect server speaking the parts of the Connect API (1.x, the published
 * OpenAPI document) Sesame uses:
 *
 * - `GET /v1/vaults[?filter=name eq "X"]` → the vaults the token may access (`Vault[]`)
 * - `GET /v1/vaults/{vaultUuid}` → `Vault`; 403 `vault {id} is not in scope`, 404 `vault {id} not found`
 * - `GET /v1/vaults/{vaultUuid}/items[?filter=title eq "X"]` → item summaries without fields
 * - `GET /v1/vaults/{vaultUuid}/items/{itemUuid}` → `FullItem` with `fields` and `sections`, and
 *   `files` (`{id, name, size, content_path}`) when the item has some; 404 `item {id} not found`
 * - `GET /v1/vaults/{vaultUuid}/items/{itemUuid}/files/{fileUuid}/content` → the file's bytes
 *   (`application/octet-stream`, `Content-Disposition: attachment; filename="…"`); 404
 *   `file {id} not found`
 * - `GET /heartbeat` → `.`, `GET /health` → server name, version and dependencies
 *
 * Every `/v1` call needs `Authorization: Bearer <token>`; a missing or unknown token is 401
 * `{"status":401,"message":"Invalid token signature"}` (the reference's example). Errors are the
 * reference's `ErrorResponse` (`{"status", "message"}`). Filters are the SCIM `eq` the reference
 * documents (`name` for vaults, `title` for items); anything else is 400.
 *
 * @example
 * const op = await startOnePasswordEmulator();
 * const prod = op.addVault('Prod');
 * op.putItem('Prod', 'jira', { username: 'bot', password: 'pw' });
 * const token = op.issueToken(['Prod']);
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FaultControls, Faults } from '../faults.js';

export interface OnePasswordField {
  id: string;
  type: 'STRING' | 'EMAIL' | 'CONCEALED' | 'URL' | 'TOTP' | 'DATE' | 'MONTH_YEAR' | 'MENU';
  purpose?: '' | 'USERNAME' | 'PASSWORD' | 'NOTES';
  label?: string;
  value?: string;
  section?: { id: string };
}

interface Vault {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  contentVersion: number;
}

interface Item {
  id: string;
  title: string;
  vaultId: string;
  category: string;
  version: number;
  tags: string[];
  fields: OnePasswordField[];
  sections: Array<{ id: string; label?: string }>;
  files: Array<{ id: string; name: string; content: Buffer }>;
  createdAt: string;
  updatedAt: string;
}

export interface OnePasswordEmulator {
  url: string;
  /** Shared fault injection on `/v1` calls after the token check: 403, 503, 429 (`ErrorResponse` bodies). */
  faults: FaultControls;
  /** Requests per operation (`GetVaults`, `GetVaultById`, `GetVaultItems`, `GetVaultItemById`) and `unauthorized`. */
  calls: Record<string, number>;
  /** Create a vault; returns its 26-character id. */
  addVault(name: string): string;
  /**
   * Create or replace an item by title. `fields` by label become STRING fields (`password`
   * CONCEALED with purpose PASSWORD, `username` purpose USERNAME); pass `OnePasswordField[]` for
   * full control. `alongside` adds a second item with the same title (1Password allows it)
   * instead of replacing. Returns the item id.
   */
  putItem(
    vault: string,
    title: string,
    fields: Record<string, string> | OnePasswordField[],
    options?: { category?: string; sections?: Array<{ id: string; label?: string }>; alongside?: boolean },
  ): string;
  /** A Document item: one file (`name`, `content`), no fields. */
  putDocument(vault: string, title: string, name: string, content: Buffer): string;
  /** A Secure Note item whose notes are `text`. */
  putNote(vault: string, title: string, text: string): string;
  /** A Connect token with access to these vaults (names or ids); `'all'` for every vault. */
  issueToken(vaults: string[] | 'all'): string;
  /** The next `times` requests answer `status` (e.g. 500, 503). */
  failNext(times: number, status: number): void;
  stop(): Promise<void>;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const newId = () => Array.from(randomBytes(26), (b) => ID_ALPHABET[b % ID_ALPHABET.length]).join('');

/** SCIM `attr eq "value"` (the only filter the reference documents); undefined when malformed. */
function parseEq(filter: string, attr: string): string | undefined {
  const m = new RegExp(`^\\s*${attr}\\s+eq\\s+"((?:[^"\\\\]|\\\\.)*)"\\s*$`).exec(filter);
  return m ? (m[1] as string).replace(/\\(.)/g, '$1') : undefined;
}

export async function startOnePasswordEmulator(): Promise<OnePasswordEmulator> {
  const vaults = new Map<string, Vault>();
  const items = new Map<string, Item>();
  const tokens = new Map<string, Set<string> | 'all'>();
  const calls: Record<string, number> = {};
  const faultPlan = new Faults();
  let faults: { times: number; status: number } = { times: 0, status: 500 };
  const now = () => new Date().toISOString();

  const vaultOf = (nameOrId: string): Vault => {
    const found = vaults.get(nameOrId) ?? [...vaults.values()].find((v) => v.name === nameOrId);
    if (!found) throw new Error(`emulator: no vault ${nameOrId}`);
    return found;
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, message: string) =>
    send(res, status, { status, message });
  const count = (op: string) => {
    calls[op] = (calls[op] ?? 0) + 1;
  };

  const vaultJson = (v: Vault) => ({
    id: v.id,
    name: v.name,
    attributeVersion: 1,
    contentVersion: v.contentVersion,
    items: [...items.values()].filter((i) => i.vaultId === v.id).length,
    type: 'USER_CREATED',
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
  });
  const summary = (i: Item) => ({
    id: i.id,
    title: i.title,
    vault: { id: i.vaultId },
    category: i.category,
    version: i.version,
    tags: i.tags,
    favorite: false,
    createdAt: i.createdAt,
    updatedAt: i.updatedAt,
    lastEditedBy: 'EMULATORUSER0000000000000',
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (req.method === 'GET' && url.pathname === '/heartbeat') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('.');
      return;
    }
    if (req.method === 'GET' && url.pathname === '/health') {
      send(res, 200, {
        name: '1Password Connect API',
        version: '1.7.3',
        dependencies: [{ service: 'sqlite', status: 'ACTIVE', message: 'Connected to ./1password.sqlite' }],
      });
      return;
    }
    if (faults.times > 0) {
      faults.times -= 1;
      error(res, faults.status, 'emulated failure');
      return;
    }
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const scope = auth === undefined ? undefined : tokens.get(auth);
    if (!url.pathname.startsWith('/v1/')) return error(res, 404, 'not found');
    if (scope === undefined) {
      count('unauthorized');
      return error(res, 401, 'Invalid token signature');
    }
    const inScope = (v: Vault) => scope === 'all' || scope.has(v.id);
    const injected = await faultPlan.next();
    if (injected === 'denied') return error(res, 403, 'Unauthorized access: the token may not do this');
    if (injected === 'unavailable')
      return error(res, 503, 'service unavailable: sync with 1Password.com failed');
    if (injected === 'throttled') return error(res, 429, 'too many requests');
    if (req.method !== 'GET') return error(res, 405, 'method not allowed in this emulator');
    const parts = url.pathname.slice('/v1/'.length).split('/').map(decodeURIComponent);
    const filter = url.searchParams.get('filter');

    if (parts.length === 1 && parts[0] === 'vaults') {
      count('GetVaults');
      let list = [...vaults.values()].filter(inScope);
      if (filter !== null) {
        const name = parseEq(filter, 'name');
        if (name === undefined) return error(res, 400, `Invalid filter: ${filter}`);
        list = list.filter((v) => v.name === name);
      }
      return send(res, 200, list.map(vaultJson));
    }
    if (parts[0] !== 'vaults' || parts.length < 2) return error(res, 404, 'not found');
    const vault = vaults.get(parts[1] as string);
    const vaultMissing = () => error(res, 404, `vault ${parts[1]} not found`);
    const notInScope = () => error(res, 403, `vault ${parts[1]} is not in scope`);
    if (parts.length === 2) {
      count('GetVaultById');
      if (!vault) return vaultMissing();
      if (!inScope(vault)) return notInScope();
      return send(res, 200, vaultJson(vault));
    }
    if (
      parts[2] !== 'items' ||
      (parts.length > 4 && !(parts.length === 7 && parts[4] === 'files' && parts[6] === 'content'))
    )
      return error(res, 404, 'not found');
    if (parts.length === 3) {
      count('GetVaultItems');
      if (!vault) return vaultMissing();
      if (!inScope(vault)) return notInScope();
      let list = [...items.values()].filter((i) => i.vaultId === vault.id);
      if (filter !== null) {
        const title = parseEq(filter, 'title');
        const tag = title === undefined ? parseEq(filter, 'tag') : undefined;
        if (title === undefined && tag === undefined) return error(res, 400, `Invalid filter: ${filter}`);
        list = list.filter((i) => (title !== undefined ? i.title === title : i.tags.includes(tag as string)));
      }
      return send(res, 200, list.map(summary));
    }
    count(parts.length === 4 ? 'GetVaultItemById' : 'DownloadFileByID');
    if (!vault) return vaultMissing();
    if (!inScope(vault)) return notInScope();
    const item = items.get(parts[3] as string);
    if (!item || item.vaultId !== vault.id) return error(res, 404, `item ${parts[3]} not found`);
    if (parts.length === 7) {
      const file = item.files.find((f) => f.id === parts[5]);
      if (!file) return error(res, 404, `file ${parts[5]} not found`);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="${file.name}"`,
        'content-length': String(file.content.length),
      });
      res.end(file.content);
      return;
    }
    const files = item.files.map((f) => ({
      id: f.id,
      name: f.name,
      size: f.content.length,
      content_path: `v1/vaults/${vault.id}/items/${item.id}/files/${f.id}/content`,
    }));
    return send(res, 200, {
      ...summary(item),
      fields: item.fields,
      sections: item.sections,
      ...(files.length > 0 ? { files } : {}),
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => error(res, 500, 'emulator failure'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const emulator: OnePasswordEmulator = {
    url: `http://127.0.0.1:${port}`,
    faults: faultPlan,
    calls,
    addVault(name) {
      const id = newId();
      vaults.set(id, { id, name, createdAt: now(), updatedAt: now(), contentVersion: 1 });
      return id;
    },
    putItem(vaultName, title, fields, options = {}) {
      const vault = vaultOf(vaultName);
      const list: OnePasswordField[] = Array.isArray(fields)
        ? fields
        : Object.entries(fields).map(([label, value]) => ({
            id: label === 'password' || label === 'username' ? label : newId(),
            type: label === 'password' ? 'CONCEALED' : 'STRING',
            purpose: label === 'password' ? 'PASSWORD' : label === 'username' ? 'USERNAME' : '',
            label,
            value,
          }));
      const existing = options.alongside
        ? undefined
        : [...items.values()].find((i) => i.vaultId === vault.id && i.title === title);
      const id = existing?.id ?? newId();
      items.set(id, {
        id,
        title,
        vaultId: vault.id,
        category: options.category ?? (Array.isArray(fields) ? 'API_CREDENTIAL' : 'LOGIN'),
        version: (existing?.version ?? 0) + 1,
        tags: [],
        fields: list,
        sections: options.sections ?? [],
        files: [],
        createdAt: existing?.createdAt ?? now(),
        updatedAt: now(),
      });
      vault.contentVersion += 1;
      return id;
    },
    putDocument(vaultName, title, name, content) {
      const id = emulator.putItem(vaultName, title, [], { category: 'DOCUMENT' });
      (items.get(id) as Item).files = [{ id: newId(), name, content }];
      return id;
    },
    putNote(vaultName, title, text) {
      return emulator.putItem(
        vaultName,
        title,
        [{ id: 'notesPlain', type: 'STRING', purpose: 'NOTES', label: 'notesPlain', value: text }],
        { category: 'SECURE_NOTE' },
      );
    },
    issueToken(scope) {
      // Connect tokens are JWTs; the emulator only needs an opaque, unguessable string.
      const token = `eyJhbGciOiJFUzI1NiJ9.${randomBytes(24).toString('base64url')}.${randomBytes(16).toString('base64url')}`;
      tokens.set(token, scope === 'all' ? 'all' : new Set(scope.map((v) => vaultOf(v).id)));
      return token;
    },
    failNext(times, status) {
      faults = { times, status };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return emulator;
}
