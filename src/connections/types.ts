/**
 * Connection types: a schema of fields (which may be literals or references), which of them
 * are secret, and how to prove the credentials work against the target.
 *
 * Plug-in point: a connection type is an object satisfying {@link ConnectionType}, registered
 * with {@link ConnectionTypeRegistry.register}; `createSesame(config, { connectionTypes })`
 * takes a registry with more types.
 */
import type { LookupFunction } from 'node:net';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { mayHoldReferences } from '../refs/template.js';

/** Outcome of authenticating against the target with resolved fields. */
export interface AuthenticationResult {
  ok: boolean;
  /** What was tried and what happened (status code, driver error) — never a value. */
  detail: string;
  /** The target refused the credentials (as opposed to being unreachable). */
  authFailure?: boolean | undefined;
}

/** What {@link ConnectionType.authenticate} is given besides the fields. */
export interface AuthenticateOptions {
  /** The time the whole attempt may take (connect, log in, answer). */
  timeoutMs: number;
  /** Aborted when `timeoutMs` has passed and the test has failed: close what was opened. */
  signal: AbortSignal;
  lookup?: LookupFunction | undefined;
}

export interface ConnectionType<Fields = Record<string, unknown>> {
  readonly type: string;
  readonly description: string;
  /** Validates the resolved fields (strict: unknown fields are errors). */
  readonly fields: z.ZodType<Fields>;
  /** Field names (dotted for nested) whose values are secret. */
  readonly secretFields: readonly string[];
  /**
   * Authenticate to the target with the resolved fields. Absent: nothing to test beyond
   * resolving. When `lookup` is given, every host name must be resolved through it (pass it to
   * `net`/`http`/`tls` as their `lookup` option): it refuses what the outbound policy refuses.
   * The whole attempt has `timeoutMs`: past it the test fails with "no answer within …"
   * whatever the type does, and `signal` aborts so the type can close what it opened.
   */
  authenticate?(fields: Fields, options: AuthenticateOptions): Promise<AuthenticationResult>;
  /**
   * Where {@link authenticate} connects, from the resolved fields (a URL or `host:port` each).
   * A type with `authenticate` but without this can be tested only by a root admin when the
   * connection was created through the API.
   */
  destinations?(fields: Fields): Array<{ field: string; address: string }>;
}

/** A field that may hold a literal of type T or a reference that resolves to one. */
export function orReference<T extends z.ZodType>(schema: T) {
  return z.union([schema, z.string().refine(mayHoldReferences, { message: 'expected a value or a {{ secret://… }} reference' })]);
}

export class ConnectionTypeRegistry {
  readonly #types = new Map<string, ConnectionType<never>>();

  register<F>(type: ConnectionType<F>): this {
    if (this.#types.has(type.type)) throw new Error(`connection type "${type.type}" is registered twice`);
    this.#types.set(type.type, type as unknown as ConnectionType<never>);
    return this;
  }

  get(type: string, path?: string): ConnectionType {
    const found = this.#types.get(type);
    if (!found) {
      throw new ConfigError(`unknown connection type "${type}"`, { path, hint: `use one of: ${this.types().join(', ')}` });
    }
    return found as unknown as ConnectionType;
  }

  types(): string[] {
    return [...this.#types.keys()].sort();
  }
}
