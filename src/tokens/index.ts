/**
 * API tokens: random opaque bearer tokens, stored as their sha256 only, each with a role, a
 * namespace scope, an optional expiry and the `reveal` permission. A token is checked against
 * the database on every request, so a revocation (from the API or from `sesame tokens revoke`
 * in another process) takes effect on the next request.
 *
 * Why sha256 and not a password hash: a token is 256 random bits, so there is nothing to
 * brute-force, and a deterministic hash lets the check be one indexed lookup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { SesameDatabase } from '../db/index.js';
import type { ApiTokensTable } from '../db/tables.js';
import { SesameError, UsageError } from '../errors.js';

export const ROLES = ['admin', 'operator', 'runtime', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Prefix of every token Sesame generates, so secret scanners can recognize them. */
export const TOKEN_PREFIX = 'sesame_';
/** Shortest token accepted from outside (SESAME_ADMIN_TOKEN). */
export const MIN_TOKEN_LENGTH = 32;

const NAMESPACE = /^([a-z0-9][a-z0-9_-]{0,62})(\.[a-z0-9][a-z0-9_-]{0,62})*$/;

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  /** Scope: `acme` covers `acme` and `acme.*`; `` (the root) covers everything. */
  namespace: string;
  reveal: boolean;
  createdAt: string;
  createdBy: string;
  expiresAt?: string | undefined;
  revokedAt?: string | undefined;
  revokedBy?: string | undefined;
}

export interface CreateTokenInput {
  role: Role;
  namespace?: string | undefined;
  name?: string | undefined;
  reveal?: boolean | undefined;
  /** Absolute expiry (ISO-8601) or undefined for none. */
  expiresAt?: string | undefined;
  /** Who created it: a token id, `cli`, `bootstrap`… */
  createdBy: string;
}

export interface TokenPage {
  items: TokenInfo[];
  cursor?: string | undefined;
}

/** Why a presented token was refused. */
export type TokenRefusal = 'unknown' | 'expired' | 'revoked';

export class TokenNotFoundError extends UsageError {
  override readonly code = 'token_not_found';
  override readonly status = 404;
}

/** sha256 of a token, hex. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** `sesame_` + 43 characters of base64url: 256 random bits. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

function newTokenId(): string {
  return `tok_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
}

/** `scope` covers `namespace`: equal, a child, or the root scope. */
export function covers(scope: string, namespace: string): boolean {
  return scope === '' || namespace === scope || namespace.startsWith(`${scope}.`);
}

export function checkScopeNamespace(namespace: string): void {
  if (namespace !== '' && !NAMESPACE.test(namespace)) {
    throw new UsageError(
      `namespace ${JSON.stringify(namespace)} is not a namespace: dotted lowercase segments, e.g. "acme" or "acme.devops" ("" is the root)`,
    );
  }
}

function toInfo(row: ApiTokensTable): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    namespace: row.namespace,
    reveal: row.reveal === 1,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at ?? undefined,
    revokedAt: row.revoked_at ?? undefined,
    revokedBy: row.revoked_by ?? undefined,
  };
}

export class TokenService {
  constructor(
    private readonly database: SesameDatabase,
    private readonly now: () => number = () => Date.now(),
  ) {}

  #nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  /**
   * Create a token. The token itself is returned once here and never stored.
   *
   * @example
   * const { token, info } = await tokens.create({ role: 'runtime', namespace: 'acme', createdBy: 'cli' });
   */
  async create(input: CreateTokenInput, presetToken?: string): Promise<{ token: string; info: TokenInfo }> {
    const namespace = input.namespace ?? '';
    checkScopeNamespace(namespace);
    if (!ROLES.includes(input.role)) throw new UsageError(`unknown role "${input.role}": use one of ${ROLES.join(', ')}`);
    if (input.expiresAt !== undefined) {
      const at = Date.parse(input.expiresAt);
      if (Number.isNaN(at)) throw new UsageError(`expiry "${input.expiresAt}" is not a date`);
      if (at <= this.now()) throw new UsageError('the expiry is in the past: give a future time or a duration such as 30d');
    }
    const token = presetToken ?? generateToken();
    const row: ApiTokensTable = {
      id: newTokenId(),
      name: input.name ?? `${input.role}${namespace ? ` ${namespace}` : ''}`,
      token_hash: hashToken(token),
      role: input.role,
      namespace,
      reveal: input.reveal ? 1 : 0,
      created_at: this.#nowIso(),
      created_by: input.createdBy,
      expires_at: input.expiresAt === undefined ? null : new Date(input.expiresAt).toISOString(),
      revoked_at: null,
      revoked_by: null,
    };
    await this.database.write((trx) => trx.insertInto('api_tokens').values(row).execute());
    return { token, info: toInfo(row) };
  }

  /** The live token a bearer string stands for, or why it is refused. */
  async authenticate(token: string): Promise<TokenInfo | { refused: TokenRefusal }> {
    const row = await this.database.kysely
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', hashToken(token))
      .executeTakeFirst();
    if (!row) return { refused: 'unknown' };
    if (row.revoked_at !== null) return { refused: 'revoked' };
    if (row.expires_at !== null && Date.parse(row.expires_at) <= this.now()) return { refused: 'expired' };
    return toInfo(row);
  }

  async get(id: string): Promise<TokenInfo> {
    const row = await this.database.kysely.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new TokenNotFoundError(`no token with id "${id}": list them with sesame tokens list`);
    return toInfo(row);
  }

  /** Tokens in id order, never the token itself. */
  async list(
    query: {
      /** Only tokens whose scope lies within this namespace. */
      within?: string | undefined;
      role?: Role | undefined;
      includeRevoked?: boolean | undefined;
      limit?: number | undefined;
      cursor?: string | undefined;
    } = {},
  ): Promise<TokenPage> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    let q = this.database.kysely.selectFrom('api_tokens').selectAll().orderBy('id').limit(limit + 1);
    if (query.cursor) q = q.where('id', '>', query.cursor);
    if (query.role) q = q.where('role', '=', query.role);
    if (!query.includeRevoked) q = q.where('revoked_at', 'is', null);
    const within = query.within ?? '';
    if (within !== '') {
      // `acme` and every `acme.…`. Not LIKE (the "_" namespaces may hold is a wildcard there) and
      // not a range (PostgreSQL's default collation does not sort punctuation bytewise).
      const prefix = `${within}.`;
      q = q.where((eb) =>
        eb.or([eb('namespace', '=', within), eb(sql<string>`substr(namespace, 1, ${prefix.length})`, '=', prefix)]),
      );
    }
    const rows = await q.execute();
    const items = rows.slice(0, limit).map(toInfo);
    return { items, ...(rows.length > limit ? { cursor: items[items.length - 1]?.id } : {}) };
  }

  /** Revoke a token; effective on its next request. Revoking twice is not an error. */
  async revoke(id: string, by: string): Promise<TokenInfo> {
    await this.database.write(async (trx) => {
      const row = await trx.selectFrom('api_tokens').select(['id', 'revoked_at']).where('id', '=', id).executeTakeFirst();
      if (!row) throw new TokenNotFoundError(`no token with id "${id}": list them with sesame tokens list`);
      if (row.revoked_at !== null) return;
      await trx.updateTable('api_tokens').set({ revoked_at: this.#nowIso(), revoked_by: by }).where('id', '=', id).execute();
    });
    return this.get(id);
  }

  async count(): Promise<number> {
    const row = await this.database.kysely
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * The first admin token of a server. With `presetToken` (SESAME_ADMIN_TOKEN), that token is
   * the admin token: it is stored hashed if new, and admin tokens an earlier value of the
   * variable created are revoked. Without it, a random admin token is created only when the
   * database has no token at all (the first start); it is returned so the caller can show it once.
   */
  async bootstrapAdmin(presetToken?: string | undefined): Promise<{ token: string; info: TokenInfo } | undefined> {
    const FROM_ENV = 'env:SESAME_ADMIN_TOKEN';
    if (presetToken !== undefined) {
      if (presetToken.length < MIN_TOKEN_LENGTH || /\s/.test(presetToken)) {
        throw new UsageError(
          `SESAME_ADMIN_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters without spaces: make one with openssl rand -base64 32`,
        );
      }
      const hash = hashToken(presetToken);
      const existing = await this.database.kysely
        .selectFrom('api_tokens')
        .selectAll()
        .where('token_hash', '=', hash)
        .executeTakeFirst();
      if (existing && (existing.revoked_at !== null || existing.role !== 'admin' || existing.namespace !== '')) {
        throw new SesameError(
          'SESAME_ADMIN_TOKEN matches a token that is revoked or is not a root admin token: set it to a new value',
        );
      }
      const stale = await this.database.kysely
        .selectFrom('api_tokens')
        .select('id')
        .where('created_by', '=', FROM_ENV)
        .where('revoked_at', 'is', null)
        .where('token_hash', '!=', hash)
        .execute();
      for (const s of stale) await this.revoke(s.id, FROM_ENV);
      if (existing) return undefined;
      await this.create({ role: 'admin', name: 'admin (SESAME_ADMIN_TOKEN)', createdBy: FROM_ENV }, presetToken);
      return undefined;
    }
    if ((await this.count()) > 0) return undefined;
    return this.create({ role: 'admin', name: 'admin (first start)', createdBy: 'bootstrap' });
  }
}
