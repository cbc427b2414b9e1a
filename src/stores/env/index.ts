/** `env` store: a secret is an environment variable of the Sesame process (name = variable name). */
import { z } from 'zod';
import { ownConfiguration } from '../../config/own-configuration.js';
import { AccessDeniedError, SecretNotFoundError, UsageError } from '../../errors.js';
import type {
  CheckReport,
  HostAccess,
  ListOptions,
  ListPage,
  StoreClient,
  StoreContext,
  StoreType,
} from '../contract.js';
import { notFoundFix } from '../core/index.js';
import { pageInMemory } from '../core/paging.js';

const settings = z.strictObject({
  /** Prepended to every name: with `prefix: APP_`, `secret://env/DB_PASS` reads `APP_DB_PASS`. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_]*$/, 'an env prefix is letters, digits and "_"')
    .default(''),
});
export type EnvStoreSettings = z.infer<typeof settings>;

const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class EnvStoreClient implements StoreClient {
  constructor(
    private readonly settings: EnvStoreSettings,
    private readonly context: StoreContext,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  #variable(name: string): string {
    const variable = this.settings.prefix + name;
    if (!VARIABLE.test(variable)) {
      throw new UsageError(
        `[${this.context.storeName}] "${name}" is not an environment variable name (letters, digits and "_", not starting with a digit)`,
      );
    }
    const own = ownConfiguration(variable);
    if (own !== undefined) {
      const err = new AccessDeniedError(
        `[${this.context.storeName}] environment variable ${variable} is Sesame's own configuration (${own}): the env store does not serve it`,
      );
      err.fix = 'give workflows their secrets in other variables, or in a store';
      throw err;
    }
    return variable;
  }

  /** The advice for a variable that is not set: set it (its full name, with the prefix), or check the name. */
  #notSetFix(variable: string): string {
    const { prefix } = this.settings;
    return notFoundFix('read', {
      create: `set ${variable} in the environment of the process that runs sesame`,
      check: prefix ? `the name and the store prefix (${prefix})` : 'the name',
    });
  }

  async get(request: { name: string; version?: string | undefined; stage?: string | undefined }) {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const variable = this.#variable(request.name);
    const value = this.env[variable];
    if (value === undefined) {
      const err = new SecretNotFoundError(
        `[${this.context.storeName}] environment variable ${variable} is not set`,
      );
      err.fix = this.#notSetFix(variable);
      throw err;
    }
    return { value };
  }

  /** The environment is all in memory: paged here, after the last name served. */
  async list(options: Pick<ListOptions, 'prefix' | 'cursor' | 'limit'>): Promise<ListPage> {
    const { prefix } = this.settings;
    const items = Object.keys(this.env)
      .filter((k) => k.startsWith(prefix) && ownConfiguration(k) === undefined)
      .map((k) => k.slice(prefix.length))
      .filter((name) => name.length > 0 && (!options.prefix || name.startsWith(options.prefix)))
      .map((name) => ({ name }));
    return pageInMemory(items, options);
  }

  async check(options: { sample?: string | undefined }): Promise<CheckReport> {
    const listed = (await this.list({})).items.length;
    const steps = [
      {
        step: 'list',
        ok: true,
        detail: `${listed} environment variable${listed === 1 ? '' : 's'} visible${this.settings.prefix ? ` with prefix ${this.settings.prefix}` : ''}`,
      },
    ];
    if (options.sample) {
      try {
        const variable = this.#variable(options.sample);
        const ok = this.env[variable] !== undefined;
        steps.push({
          step: 'read',
          ok,
          detail: ok ? `${variable} is set` : `${variable} is not set`,
          ...(ok ? {} : { fix: this.#notSetFix(variable) }),
        });
      } catch (err) {
        // Not a variable name, or one the store does not serve.
        const e = err as UsageError | AccessDeniedError;
        steps.push({ step: 'read', ok: false, detail: e.message, ...(e.fix ? { fix: e.fix } : {}) });
      }
    }
    return { ok: steps.every((s) => s.ok), steps };
  }

  async close(): Promise<void> {}
}

export const envStoreType = {
  type: 'env',
  capabilities: {
    write: false,
    batch: false,
    versions: false,
    stages: false,
    namespaced: false,
    restore: false,
  },
  settings,
  hostAccess: (s: EnvStoreSettings): HostAccess[] => [
    {
      kind: 'environment',
      detail: s.prefix
        ? `reads this server's environment variables named ${s.prefix}*`
        : "reads this server's environment",
    },
  ],
  create: (s: EnvStoreSettings, context: StoreContext) => new EnvStoreClient(s, context),
} satisfies StoreType<EnvStoreSettings>;
