/**
 * Connections end to end: validation by type, a test that resolves through exactly the path a
 * run uses and then authenticates to the target, and refresh-on-rotation (refresh the
 * connection's references and retry once when the target refuses the credentials).
 */
import type { z } from 'zod';
import type { LookupFunction } from 'node:net';
import { ConfigError, ForbiddenError, ResolutionError, SesameError, UsageError } from '../errors.js';
import type { AccessPolicy, Principal, Purpose } from '../resolve/access.js';
import { describeZodIssue } from '../config/issues.js';
import { collectReferences } from '../refs/template.js';
import type { AuthenticationResult, ConnectionType, ConnectionTypeRegistry } from './types.js';
import { timerDelay } from '../timers.js';

/** The part of Sesame connections need (kept narrow so this module stays testable). */
export interface ConnectionHost {
  connection(
    name: string,
    namespace?: string,
  ): {
    name: string;
    namespace: string;
    type: string;
    fields: Record<string, unknown>;
    origin?: 'config' | 'api' | undefined;
  };
  resolveConnection(
    name: string,
    options?: { namespace?: string; principal?: Principal | undefined; purpose?: Purpose | undefined },
  ): Promise<{ name: string; namespace: string; type: string; fields: Record<string, unknown> }>;
  refresh(target: { connection: string }, options?: { namespace?: string }): Promise<{ dropped: number }>;
  readonly connectionTypes: ConnectionTypeRegistry;
  /** Decides for tests made for a principal (`testConnection`'s `principal`). */
  readonly access?: Pick<AccessPolicy, 'checkDelivery'> | undefined;
}

function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

function valueAt(doc: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let node = doc;
  for (const p of path)
    node = node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[p] : undefined;
  return node;
}

/** One readable line per zod issue, naming the field (never echoing the value). */
function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string {
  return issues
    .map((i) => {
      const plain = describeZodIssue(i);
      const at = [prefix, formatIssuePath(plain.path)].filter(Boolean).join('.');
      const message =
        i.code === 'unrecognized_keys'
          ? plain.message.replace(/^unknown key/, 'unknown field')
          : plain.message;
      return `${at ? `${at}: ` : ''}${message}`;
    })
    .join('; ');
}

function holdsReference(v: unknown): boolean {
  return typeof v === 'string' && collectReferences(v).length > 0;
}

const unknownKeys = (issues: readonly z.core.$ZodIssue[]) =>
  issues.filter((i) => i.code === 'unrecognized_keys').length;
const closestBranch = (x: readonly z.core.$ZodIssue[], y: readonly z.core.$ZodIssue[]) =>
  unknownKeys(x) - unknownKeys(y) || x.length - y.length;

/**
 * The issues that matter: a union (e.g. postgres `url` or the parts) is reported through its
 * closest branch; with `fields` given, an issue on a field that holds a reference is left for
 * after resolution (its value is not known yet).
 */
function unexplained(issues: readonly z.core.$ZodIssue[], fields?: unknown): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'invalid_union') {
      const branches = issue.errors.map((branch) =>
        unexplained(
          branch.map((i) => ({ ...i, path: [...issue.path, ...i.path] })),
          fields,
        ),
      );
      if (branches.some((b) => b.length === 0)) continue;
      // The branch the value was meant for: the one that knows its keys, then the one with fewest problems.
      out.push(...(branches.sort(closestBranch)[0] ?? []));
      continue;
    }
    if (
      fields !== undefined &&
      issue.code !== 'unrecognized_keys' &&
      holdsReference(valueAt(fields, issue.path))
    )
      continue;
    out.push(issue);
  }
  return out;
}

/**
 * Config-time check of a connection's fields: unknown and missing fields, and literal values of
 * the wrong type. A field holding a reference is checked after it is resolved.
 */
export function validateConnectionFields(
  type: ConnectionType,
  fields: Record<string, unknown>,
  path: string,
): void {
  const parsed = type.fields.safeParse(fields);
  if (parsed.success) return;
  const real = unexplained(parsed.error.issues, fields);
  if (real.length > 0) {
    throw new ConfigError(`invalid fields for a ${type.type} connection: ${describeIssues(real, '')}`, {
      path,
    });
  }
}

export class ConnectionFieldsError extends UsageError {
  override readonly code = 'connection_fields';
}

export class ConnectionAuthError extends SesameError {
  override readonly code = 'connection_auth';
  override readonly status = 502;
}

/** Resolve a connection and validate the resolved fields against its type. */
export async function resolveTypedConnection(
  host: ConnectionHost,
  name: string,
  namespace: string,
  access: { principal?: Principal | undefined; purpose?: Purpose | undefined } = {},
) {
  const resolved = await host.resolveConnection(name, { namespace, ...access });
  const type = host.connectionTypes.get(resolved.type);
  const parsed = type.fields.safeParse(resolved.fields);
  if (!parsed.success) {
    throw new ConnectionFieldsError(
      `connection ${name}: resolved fields do not fit type ${type.type}: ${describeIssues(unexplained(parsed.error.issues), 'fields')}`,
    );
  }
  return { ...resolved, fields: parsed.data as Record<string, unknown>, connectionType: type };
}

export interface ConnectionTestStep {
  step: 'resolve' | 'authenticate' | 'refresh';
  ok: boolean;
  detail: string;
  /** What to do about a failed step, when the error knew (a store's advice, as `stores test` gives it). */
  fix?: string | undefined;
  reference?: string | undefined;
  field?: string | undefined;
}

/** How {@link testConnection} runs: from which namespace, as whom, and whether a refusal refreshes and retries. */
export interface ConnectionTestOptions {
  namespace?: string;
  refreshOnAuthFailure?: boolean;
  timeoutMs?: number;
  principal?: Principal | undefined;
}

export interface ConnectionTestReport {
  connection: string;
  namespace: string;
  type: string;
  ok: boolean;
  /** The step that failed last, when not ok. */
  failedStep?: 'resolve' | 'authenticate' | undefined;
  /** True when the credentials were refused, the references refreshed and the test retried. */
  retried: boolean;
  steps: ConnectionTestStep[];
}

/**
 * Test a connection the way a run uses it: resolve (same cache, namespace and stores), then
 * authenticate to the target. With `refreshOnAuthFailure`, a refusal refreshes the connection's
 * references and tries once more.
 */
export async function testConnection(
  host: ConnectionHost,
  name: string,
  options: ConnectionTestOptions = {},
): Promise<ConnectionTestReport> {
  const namespace = options.namespace ?? '';
  const conn = host.connection(name, namespace);
  const { principal } = options;
  const report: ConnectionTestReport = {
    connection: conn.name,
    namespace: conn.namespace,
    type: conn.type,
    ok: false,
    retried: false,
    steps: [],
  };
  const attempt = async (): Promise<'ok' | 'auth' | 'failed'> => {
    let resolved: Awaited<ReturnType<typeof resolveTypedConnection>>;
    try {
      // The values go to the connection's target, not to the caller: resolved to be delivered.
      resolved = await resolveTypedConnection(host, name, namespace, { principal, purpose: 'deliver' });
      const count = collectReferences(conn.fields).length;
      report.steps.push({
        step: 'resolve',
        ok: true,
        detail: `resolved ${count} reference${count === 1 ? '' : 's'}`,
      });
    } catch (err) {
      // A refusal of the authorization point is the answer to the request, not a step of the test.
      if (err instanceof ForbiddenError) throw err;
      const e = err as Error;
      report.steps.push({
        step: 'resolve',
        ok: false,
        detail: e.message,
        // The store's advice, scrubbed by the store core like the message; the report is redacted as a whole where it is served.
        ...(err instanceof SesameError && err.fix ? { fix: err.fix } : {}),
        reference: err instanceof ResolutionError ? err.reference : undefined,
        field: err instanceof ResolutionError ? err.field : undefined,
      });
      report.failedStep = 'resolve';
      return 'failed';
    }
    const type = resolved.connectionType;
    const authenticate = type.authenticate?.bind(type);
    if (!authenticate) {
      report.steps.push({
        step: 'authenticate',
        ok: true,
        detail: `a ${conn.type} connection has no target to authenticate against`,
      });
      return 'ok';
    }
    // Where the type connects: checked by the access policy, and named if the target does not answer.
    const destinations = type.destinations?.(resolved.fields);
    let lookup: LookupFunction | undefined;
    if (principal !== undefined) {
      if (!host.access) throw new Error('testConnection for a principal needs the access policy');
      ({ lookup } = await host.access.checkDelivery(
        principal,
        {
          name,
          chosenThroughApi: conn.origin === 'api',
          carriesSecrets: collectReferences(conn.fields).length > 0,
        },
        destinations,
      ));
    }
    const result = await authenticateWithin(
      options.timeoutMs ?? 10_000,
      (signal, timeoutMs) => authenticate(resolved.fields, { timeoutMs, signal, lookup }),
      destinations,
    );
    report.steps.push({ step: 'authenticate', ok: result.ok, detail: result.detail });
    if (result.ok) return 'ok';
    report.failedStep = 'authenticate';
    return result.authFailure ? 'auth' : 'failed';
  };
  let outcome = await attempt();
  if (outcome === 'auth' && options.refreshOnAuthFailure) {
    const { dropped } = await host.refresh({ connection: name }, { namespace });
    report.steps.push({
      step: 'refresh',
      ok: true,
      detail: `credentials refused: refreshed ${dropped} cached value${dropped === 1 ? '' : 's'}, retrying once`,
    });
    report.retried = true;
    outcome = await attempt();
  }
  report.ok = outcome === 'ok';
  if (report.ok) report.failedStep = undefined;
  return report;
}

/**
 * The `host:port` of a destination, never more: a URL's user, password, path and query may hold
 * resolved secrets (`https://svc:{{ secret://… }}@jira…`).
 */
function hostOf(address: string): string {
  if (!address.includes('://')) return address;
  try {
    return new URL(address).host;
  } catch {
    return 'the target';
  }
}

/**
 * Run a type's `authenticate` within `timeoutMs` whatever it does: a target that accepts the
 * connection and then answers nothing, or a byte at a time, fails the step when the time is up
 * (the type's own limits, such as a socket's idle timeout, do not cover every way to hang), and
 * the signal tells the type to close what it opened.
 */
async function authenticateWithin(
  timeoutMs: number,
  authenticate: (signal: AbortSignal, timeoutMs: number) => Promise<AuthenticationResult>,
  destinations: ReadonlyArray<{ address: string }> | undefined,
): Promise<AuthenticationResult> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const where = destinations?.length ? ` from ${destinations.map((d) => hostOf(d.address)).join(', ')}` : '';
  const limit = new Promise<AuthenticationResult>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error('the connection test ran out of time'));
      resolve({
        ok: false,
        detail: `no answer within ${Number((timeoutMs / 1000).toFixed(3))} s${where}: check that the target is up, not overloaded, and the service this connection's type expects`,
      });
    }, timerDelay(timeoutMs));
  });
  const attempt = authenticate(controller.signal, timeoutMs);
  // A type that fails after the time is up has nobody to tell.
  attempt.catch(() => {});
  try {
    return await Promise.race([attempt, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Raised by a consumer to say the target refused the credentials it was given. */
export class AuthenticationFailedError extends Error {
  constructor(message = 'the target refused the credentials') {
    super(message);
    this.name = 'AuthenticationFailedError';
  }
}

/**
 * Run `use` with a connection's resolved fields; when it fails with an authentication failure
 * (an {@link AuthenticationFailedError}, or what `isAuthFailure` recognises), refresh the
 * connection's references and run it once more with the new values. A second failure is
 * rethrown as a {@link ConnectionAuthError} that says the retry after refresh failed too.
 *
 * @example
 * await sesame.useConnection('warehouse', async (f) => runJob(f), {
 *   namespace: 'acme.devops',
 *   isAuthFailure: (err) => (err as { code?: string }).code === '28P01',
 * });
 */
export async function useConnection<T>(
  host: ConnectionHost,
  name: string,
  use: (fields: Record<string, unknown>, attempt: number) => Promise<T>,
  options: { namespace?: string; isAuthFailure?: (err: unknown) => boolean } = {},
): Promise<T> {
  const namespace = options.namespace ?? '';
  const isAuth = (err: unknown) =>
    err instanceof AuthenticationFailedError || (options.isAuthFailure?.(err) ?? false);
  const first = await resolveTypedConnection(host, name, namespace);
  try {
    return await use(first.fields, 1);
  } catch (err) {
    if (!isAuth(err)) throw err;
  }
  await host.refresh({ connection: name }, { namespace });
  const second = await resolveTypedConnection(host, name, namespace);
  try {
    return await use(second.fields, 2);
  } catch (err) {
    if (!isAuth(err)) throw err;
    throw new ConnectionAuthError(
      `connection ${name}: the target refused the credentials again after they were refreshed from their stores: update the secret, then retry`,
      { cause: err },
    );
  }
}
