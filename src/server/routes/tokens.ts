/** Tokens (admin) and the audit trail (admin, auditor). */
import { z } from 'zod';
import { durationProblem, parseDuration } from '../../config/duration.js';
import type { VerifyResult } from '../../audit/index.js';
import { isRootAdmin } from '../../resolve/access.js';
import { ROLES } from '../../tokens/index.js';
import { ForbiddenError, ValidationError } from '../errors.js';
import { type AnyRoute, cursorParam, limitParam, namespaceParam, page, queryFlag, route } from '../route.js';
import type { ServerServices } from '../services.js';

const tokenView = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  namespace: z.string(),
  reveal: z.boolean(),
  createdAt: z.string(),
  createdBy: z.string(),
  expiresAt: z.string().optional(),
  revokedAt: z.string().optional(),
  revokedBy: z.string().optional(),
});

const auditRecord = z.object({
  seq: z.number().int(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  namespace: z.string(),
  target: z.string(),
  outcome: z.enum(['ok', 'denied', 'error']),
  detail: z.string().optional(),
  prevHash: z.string(),
  hash: z.string(),
});

const verification = z.object({
  ok: z.boolean(),
  records: z.number().int().optional().describe('records checked (tokens for the root namespace only)'),
  head: z.object({ seq: z.number().int(), hash: z.string() }).optional(),
  firstBroken: z
    .object({ seq: z.number().int(), reason: z.enum(['altered', 'chain', 'gap', 'truncated', 'checkpoint']), message: z.string() })
    .optional()
    .describe('the first record that does not verify (truncated: the record the checkpoint names, missing or different)'),
  keyedFrom: z.number().int().optional().describe('the first record of the keyed chain (sealed with the chain key); those before it are plain sha256 links'),
  checkpoint: z
    .object({
      file: z.string().optional(),
      state: z.enum(['matched', 'missing', 'none']),
      seq: z.number().int().optional(),
      at: z.string().optional(),
    })
    .optional()
    .describe('the head checkpointed outside the database: matched, missing (no file yet), or none (no place for one)'),
});

/**
 * The chain spans every namespace: its size, head, checkpoint file and where it broke describe
 * the whole server. A token limited to a namespace learns whether the chain verifies, and no more.
 */
function scopedVerification(result: VerifyResult, scope: string): z.input<typeof verification> {
  if (scope === '') return result;
  return { ok: result.ok };
}

const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO-8601 time, e.g. 2026-01-31T12:00:00Z');

export function tokenRoutes(services: ServerServices): AnyRoute[] {
  const { tokens, audit } = services;
  const admin = { roles: ['admin'] as const };
  return [
    route({
      method: 'POST',
      path: '/tokens',
      summary: 'Create a token; the token is in this response only',
      description:
        'The new token\'s namespace must lie within the creating token\'s; reveal can only be given by a token that holds it; ' +
        'a runtime token (it receives values) only by a token holding reveal or by the root admin.',
      tag: 'tokens',
      access: admin,
      status: 201,
      body: z.strictObject({
        role: z.enum(ROLES),
        namespace: namespaceParam.optional().describe('scope: "acme" covers acme and acme.*; default: the creating token\'s'),
        name: z.string().min(1).max(200).optional(),
        reveal: z.boolean().default(false).describe('may receive secret values outside resolve (admin, operator)'),
        expiresIn: z.string().optional().describe('a duration, e.g. 30d'),
        expiresAt: isoTime.optional(),
      }),
      response: tokenView.extend({ token: z.string().describe('the bearer token: shown once, stored hashed') }),
      handler: async (ctx) => {
        const body = ctx.body;
        const namespace = ctx.namespace(body.namespace);
        if (body.reveal && !ctx.principal.reveal) {
          throw new ForbiddenError('reveal_required', 'only a token holding the reveal permission can create a token with it');
        }
        // A runtime token receives values: minting one must not be a way around reveal. The root
        // admin may (it configures the host's own stores and destinations: it holds the host's trust).
        if (body.role === 'runtime' && !ctx.principal.reveal && !isRootAdmin(ctx.principal)) {
          throw new ForbiddenError(
            'reveal_required',
            'a runtime token receives secret values (through resolve): only a token holding the reveal permission, or an admin token for the root namespace, can create one',
          );
        }
        if (body.expiresIn !== undefined && body.expiresAt !== undefined) {
          throw new ValidationError([{ path: 'body.expiresIn', message: 'give expiresIn or expiresAt, not both' }]);
        }
        let expiresAt = body.expiresAt;
        if (body.expiresIn !== undefined) {
          const ms = parseDuration(body.expiresIn);
          if (ms === undefined || ms <= 0) {
            throw new ValidationError([{ path: 'body.expiresIn', message: `"${body.expiresIn}" ${durationProblem(body.expiresIn)}: e.g. 12h, 30d` }]);
          }
          expiresAt = new Date(services.now() + ms).toISOString();
        }
        // Lifetime is a right too: a token with an expiry must not mint one that outlives it (an
        // hour's admin token, or a leaked one about to expire, turned into a permanent one).
        if (ctx.principal.kind === 'token') {
          const creator = await tokens.get(ctx.principal.id);
          if (creator.expiresAt !== undefined) {
            const limit = Date.parse(creator.expiresAt);
            if (expiresAt === undefined || Date.parse(expiresAt) > limit) {
              const refused = new ForbiddenError(
                'forbidden_role',
                `this token expires at ${creator.expiresAt}: it can only create tokens that expire no later (${expiresAt === undefined ? 'no expiry was given' : `${expiresAt} was asked for`})`,
              );
              refused.fix = `give expiresAt ${creator.expiresAt} or earlier (or a shorter expiresIn), or create the token with a token that does not expire`;
              throw refused;
            }
          }
        }
        // The token and its audit record commit together.
        const created = await ctx.auditedWith({ action: 'token.create', namespace, target: `role:${body.role}` }, async (ok) => ({
          value: await tokens.create({
            role: body.role,
            namespace,
            name: body.name,
            reveal: body.reveal,
            expiresAt,
            createdBy: ctx.principal.id,
            audit: ok,
          }),
          recorded: true,
        }));
        services.sesame.redactor.add(created.token);
        return { ...created.info, token: created.token };
      },
    }),
    route({
      method: 'GET',
      path: '/tokens',
      summary: 'List tokens within the token\'s scope (never the tokens themselves)',
      tag: 'tokens',
      access: admin,
      query: z.strictObject({
        namespace: namespaceParam.optional(),
        role: z.enum(ROLES).optional(),
        includeRevoked: queryFlag,
        limit: limitParam,
        cursor: cursorParam,
      }),
      response: page(tokenView),
      handler: async (ctx) =>
        tokens.list({
          within: ctx.namespace(ctx.query.namespace),
          role: ctx.query.role,
          includeRevoked: ctx.query.includeRevoked,
          limit: ctx.query.limit,
          cursor: ctx.query.cursor,
        }),
    }),
    route({
      method: 'GET',
      path: '/tokens/{id}',
      summary: 'One token (never the token itself)',
      tag: 'tokens',
      access: admin,
      params: z.object({ id: z.string().min(1) }),
      response: tokenView,
      handler: async (ctx) => {
        const info = await tokens.get(ctx.params.id);
        ctx.requireNamespace(info.namespace);
        return info;
      },
    }),
    route({
      method: 'DELETE',
      path: '/tokens/{id}',
      summary: 'Revoke a token: refused from its next request on',
      tag: 'tokens',
      access: admin,
      params: z.object({ id: z.string().min(1) }),
      response: tokenView,
      handler: async (ctx) => {
        const info = await tokens.get(ctx.params.id);
        ctx.requireNamespace(info.namespace);
        return ctx.auditedWith({ action: 'token.revoke', namespace: info.namespace, target: info.id }, async (ok) => ({
          value: await tokens.revoke(info.id, ctx.principal.id, { audit: ok }),
          recorded: true,
        }));
      },
    }),
    route({
      method: 'GET',
      path: '/audit',
      summary: 'Audit records, newest first, with filters and paging',
      description:
        'Each record carries the MAC of the previous one. With verify=true the whole chain is checked (and its end against the checkpoint kept outside the database) and the first broken link reported.',
      tag: 'audit',
      access: { roles: ['admin', 'auditor'] },
      query: z.strictObject({
        from: isoTime.optional().describe('records at or after this time'),
        to: isoTime.optional().describe('records before this time'),
        actor: z.string().optional().describe('a token id, agent, cli…'),
        action: z.string().optional().describe('an action (resolve, secret.write…) or a prefix ending in "." (secret.)'),
        namespace: namespaceParam.optional().describe('this namespace and its children; default: the token\'s'),
        outcome: z.enum(['ok', 'denied', 'error']).optional(),
        order: z.enum(['asc', 'desc']).optional(),
        verify: queryFlag,
        limit: limitParam,
        cursor: cursorParam,
      }),
      response: page(auditRecord).extend({ verification: verification.optional() }),
      handler: async (ctx) => {
        const q = ctx.query;
        const namespace = ctx.namespace(q.namespace);
        const result = await audit.list({ ...q, namespace });
        if (!q.verify) return result;
        return { ...result, verification: scopedVerification(await audit.verify(), ctx.principal.namespace) };
      },
    }),
    route({
      method: 'GET',
      path: '/audit/verify',
      summary: 'Verify the audit chain, and its end against the checkpoint outside the database; report the first broken link',
      tag: 'audit',
      access: { roles: ['admin', 'auditor'] },
      response: verification,
      handler: async (ctx) => scopedVerification(await audit.verify(), ctx.principal.namespace)
    }),
  ];
}
