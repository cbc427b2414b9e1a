/**
 * A local Doppler API (v3) speaking the calls Sesame makes, as Doppler's API reference gives them:
 *
 * - `GET /v3/configs/config/secret?project&config&name` → `{"name", "value": {"raw", "computed",
 *   "note"}, "success": true}`; 404 `{"messages": ["Could not find requested secret"], "success": false}`
 * - `GET /v3/configs/config/secrets?project&config[&secrets=A,B]` → `{"secrets": {"NAME": {"raw",
 *   "computed", "note"}}, "success": true}` (only the named ones when `secrets` is given; names
 *   that do not exist are left out)
 * - `GET /v3/configs/config/secrets/names?project&config[&include_managed_secrets=false]` →
 *   `{"names": [...], "success": true}` (Doppler's managed `DOPPLER_*` secrets included by default)
 * - `GET /v3/me` → the token's `slug`, `name`, `type`, `token_preview`, `workplace`
 *
 * Tokens go in `Authorization: Bearer <token>` (or as the basic-auth user name, as Doppler also
 * takes them). A service token (`dp.st.…`) belongs to one project and config: `project` and
 * `config` may be left out (they are implied) and naming another one is 403. A personal token
 * (`dp.pt.…`) reaches every config but then `project` and `config` are required (400). An unknown
 * token is 401 `Invalid Auth token`. Errors carry Doppler's `{"messages": [...], "success": false}`.
 *
 * Each value carries `rawVisibility` and `computedVisibility` (`masked` by default, `unmasked`,
 * `restricted`); a restricted value is given to service tokens only: to a personal token its
 * `raw` and `computed` are null.
 *
 * Computed values follow Doppler's references: `${NAME}` (same config), `${config.NAME}` (same
 * project), `${project.config.NAME}`; a reference to nothing computes to an empty string.
 * Rate limiting: `throttle(n)` answers 429 with `retry-after`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FaultControls, Faults } from '../faults.js';

type Scope = { kind: 'service'; project: string; config: string } | { kind: 'personal' };
export type Visibility = 'masked' | 'unmasked' | 'restricted';
type Stored = { raw: string; note: string; visibility?: Visibility };

export interface DopplerEmulator {
  url: string;
  /** Shared fault injection after the token check: 403, 503, 429 with `retry-after: 0`. */
  faults: FaultControls;
  /** Requests per operation (`secrets-get`, `secrets-list`, `secrets-names`, `auth-me`) and `unauthorized`. */
  calls: Record<string, number>;
  /** A secret's visibility (`masked` until set). */
  setVisibility(project: string, config: string, name: string, visibility: Visibility): void;
  /** Set a secret's raw value (references are computed on read). */
  setSecret(project: string, config: string, name: string, raw: string, note?: string): void;
  /** A service token for one config, or a personal token for every config. */
  issueToken(scope: { project: string; config: string } | 'personal'): string;
  /** The next `times` requests answer 429 with `retry-after: seconds`. */
  throttle(times: number, seconds?: number): void;
  /** The next `times` requests answer `status` (5xx). */
  failNext(times: number, status: number): void;
  stop(): Promise<void>;
}

const MANAGED = ['DOPPLER_CONFIG', 'DOPPLER_ENVIRONMENT', 'DOPPLER_PROJECT'];

export async function startDopplerEmulator(): Promise<DopplerEmulator> {
  /** `project\0config` → name → { raw, note, visibility }. */
  const configs = new Map<string, Map<string, Stored>>();
  const tokens = new Map<string, Scope & { slug: string; name: string }>();
  const calls: Record<string, number> = {};
  const faultPlan = new Faults();
  let throttled = { times: 0, seconds: 1 };
  let faults = { times: 0, status: 500 };
  const key = (project: string, config: string) => `${project}\u0000${config}`;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) =>
    send(res, status, { messages: [message], success: false }, headers);
  const count = (op: string) => {
    calls[op] = (calls[op] ?? 0) + 1;
  };

  function managed(project: string, config: string): Record<string, string> {
    return {
      DOPPLER_CONFIG: config,
      DOPPLER_ENVIRONMENT: config.split('_')[0] as string,
      DOPPLER_PROJECT: project,
    };
  }

  function compute(project: string, config: string, raw: string, depth = 0): string {
    if (depth > 8) return raw;
    return raw.replace(/\$\{([A-Za-z0-9_.-]+)\}/g, (_, ref: string) => {
      const parts = ref.split('.');
      const [p, c, n] =
        parts.length === 1
          ? [project, config, parts[0]]
          : parts.length === 2
            ? [project, parts[0], parts[1]]
            : [parts[0], parts[1], parts.slice(2).join('.')];
      const target = configs.get(key(p as string, c as string))?.get(n as string);
      return target ? compute(p as string, c as string, target.raw, depth + 1) : '';
    });
  }

  /** A secret's value object; a restricted value only for service tokens. */
  function secretValueOf(scope: Scope, project: string, config: string, v: Stored) {
    const visibility = v.visibility ?? 'masked';
    const hidden = visibility === 'restricted' && scope.kind !== 'service';
    return {
      raw: hidden ? null : v.raw,
      computed: hidden ? null : compute(project, config, v.raw),
      note: v.note,
      rawVisibility: visibility,
      computedVisibility: visibility,
    };
  }

  function token(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer (.+)$/i.exec(header)?.[1];
    if (bearer) return bearer;
    const basic = /^Basic (.+)$/i.exec(header)?.[1];
    return basic ? Buffer.from(basic, 'base64').toString('utf8').split(':')[0] : undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (throttled.times > 0) {
      throttled.times -= 1;
      return fail(res, 429, 'You have exceeded the rate limit', {
        'retry-after': String(throttled.seconds),
        'x-ratelimit-remaining': '0',
      });
    }
    if (faults.times > 0) {
      faults.times -= 1;
      return fail(res, faults.status, 'Internal server error');
    }
    const presented = token(req);
    const scope = presented === undefined ? undefined : tokens.get(presented);
    if (!scope) {
      count('unauthorized');
      return fail(res, 401, 'Invalid Auth token');
    }
    if (req.method !== 'GET') return fail(res, 405, 'Method not allowed in this emulator');
    const injected = await faultPlan.next();
    if (injected === 'denied')
      return fail(res, 403, 'This token does not have access to requested project or config');
    if (injected === 'unavailable') return fail(res, 503, 'Service unavailable');
    if (injected === 'throttled')
      return fail(res, 429, 'You have exceeded the rate limit', { 'retry-after': '0' });

    if (url.pathname === '/v3/me') {
      count('auth-me');
      return send(res, 200, {
        slug: scope.slug,
        name: scope.name,
        created_at: '2026-01-01T00:00:00.000Z',
        last_seen_at: new Date().toISOString(),
        type: scope.kind === 'service' ? 'service_token' : 'personal',
        token_preview: `${(presented as string).slice(0, 5)}...${(presented as string).slice(-6)}`,
        workplace: { slug: 'emulatorworkplace0001', name: 'Emulator Workplace' },
      });
    }

    let project = url.searchParams.get('project') ?? undefined;
    let config = url.searchParams.get('config') ?? undefined;
    if (scope.kind === 'service') {
      if (
        (project !== undefined && project !== scope.project) ||
        (config !== undefined && config !== scope.config)
      ) {
        return fail(res, 403, 'This token does not have access to requested project or config');
      }
      project = scope.project;
      config = scope.config;
    } else if (project === undefined || config === undefined) {
      return fail(res, 400, 'You must specify a project and config');
    }
    const secrets = configs.get(key(project, config));
    if (!secrets) return fail(res, 404, 'Could not find requested config');

    if (url.pathname === '/v3/configs/config/secret') {
      count('secrets-get');
      const name = url.searchParams.get('name');
      if (!name) return fail(res, 400, 'You must specify a secret name');
      const found = secrets.get(name);
      const managedValue = managed(project, config)[name];
      if (!found && managedValue === undefined) return fail(res, 404, 'Could not find requested secret');
      const stored = found ?? { raw: managedValue as string, note: '' };
      return send(res, 200, { name, value: secretValueOf(scope, project, config, stored), success: true });
    }
    if (url.pathname === '/v3/configs/config/secrets') {
      count('secrets-list');
      const wanted = url.searchParams.get('secrets')?.split(',');
      const includeManaged = url.searchParams.get('include_managed_secrets') !== 'false';
      const all: Record<string, Stored> = Object.fromEntries(secrets);
      if (includeManaged) {
        for (const [n, v] of Object.entries(managed(project, config))) all[n] ??= { raw: v, note: '' };
      }
      const out: Record<string, ReturnType<typeof secretValueOf>> = {};
      for (const [n, v] of Object.entries(all)) {
        if (!wanted || wanted.includes(n)) out[n] = secretValueOf(scope, project, config, v);
      }
      return send(res, 200, { secrets: out, success: true });
    }
    if (url.pathname === '/v3/configs/config/secrets/names') {
      count('secrets-names');
      const includeManaged = url.searchParams.get('include_managed_secrets') !== 'false';
      const names = [...secrets.keys(), ...(includeManaged ? MANAGED : [])].sort();
      return send(res, 200, { names, success: true });
    }
    return fail(res, 404, 'Endpoint not found');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => fail(res, 500, 'Internal server error'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    faults: faultPlan,
    calls,
    setSecret(project, config, name, raw, note = '') {
      const k = key(project, config);
      if (!configs.has(k)) configs.set(k, new Map());
      const visibility = configs.get(k)?.get(name)?.visibility;
      configs.get(k)?.set(name, { raw, note, ...(visibility ? { visibility } : {}) });
    },
    setVisibility(project, config, name, visibility) {
      const found = configs.get(key(project, config))?.get(name);
      if (!found) throw new Error(`emulator: no secret ${name} in ${project}/${config}`);
      found.visibility = visibility;
    },
    issueToken(scope) {
      const random = randomBytes(30).toString('base64url').replace(/[-_]/g, 'x');
      if (scope === 'personal') {
        const t = `dp.pt.${random}`;
        tokens.set(t, { kind: 'personal', slug: randomBytes(8).toString('hex'), name: 'personal' });
        return t;
      }
      const t = `dp.st.${scope.config}.${random}`;
      if (!configs.has(key(scope.project, scope.config)))
        configs.set(key(scope.project, scope.config), new Map());
      tokens.set(t, {
        kind: 'service',
        ...scope,
        slug: randomBytes(8).toString('hex'),
        name: `${scope.config}-token`,
      });
      return t;
    },
    throttle(times, seconds = 1) {
      throttled = { times, seconds };
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
}
