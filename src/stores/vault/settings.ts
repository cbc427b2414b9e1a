/** Settings of a `vault` store (HashiCorp Vault KV v1/v2), validated once by one strict schema. */
import { z } from 'zod';
import { credential } from '../core/credentials.js';

const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');

/**
 * A path inside Vault's API (`/v1/<namespace>/<mount>/…`): `.` and `..` segments would climb out
 * of it to any other endpoint of the server, so they are refused, as are characters that end or
 * escape a URL path.
 */
const vaultPath = (what: string, example: string) =>
  z
    .string()
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    .refine((s) => !/[\u0000-\u001f\u007f?#%\\]/.test(s), {
      message: `${what} may not contain control characters, "?", "#", "%" or "\\"`,
    })
    .refine((s) => !s.split('/').some((seg) => seg === '.' || seg === '..'), {
      message: `${what} may not contain "." or ".." path segments (e.g. ${example})`,
    });

/** Where an auth method is mounted (`vault auth enable -path=…`). */
const authPath = (fallback: string) =>
  z
    .string()
    .regex(/^[\w./-]+$/, 'path is the auth mount path, e.g. approle')
    .refine((s) => !s.split('/').some((seg) => seg === '.' || seg === '..'), {
      message: 'path may not contain "." or ".." segments (e.g. approle)',
    })
    .transform(trimSlashes)
    .default(fallback);

export const vaultAuthSettings = z.discriminatedUnion('method', [
  z.strictObject({
    method: z.literal('token'),
    token: credential(z.string().min(1, 'token is the Vault token')),
  }),
  z.strictObject({
    method: z.literal('userpass'),
    username: z.string().min(1),
    password: credential(z.string().min(1)),
    path: authPath('userpass'),
  }),
  z.strictObject({
    method: z.literal('approle'),
    roleId: z.string().min(1),
    secretId: credential(z.string().min(1)),
    path: authPath('approle'),
  }),
]);

export const vaultSettings = z.strictObject({
  /** e.g. https://vault.example.com:8200 */
  address: z.url({
    protocol: /^https?$/,
    error: 'address is the Vault URL with scheme and port, e.g. https://vault:8200',
  }),
  /** Vault Enterprise namespace, sent as X-Vault-Namespace. */
  namespace: vaultPath('namespace', 'admin/team-a').transform(trimSlashes).optional(),
  /** The KV mount (Kestra's rootEngine). */
  mount: vaultPath('mount', 'secret or kv/team-a').min(1).transform(trimSlashes).default('secret'),
  /** Detected with sys/internal/ui/mounts when not given. */
  kvVersion: z.union([z.literal(1), z.literal(2)]).optional(),
  /** PEM CA bundle for a Vault whose certificate is not signed by a public CA. */
  caFile: z.string().min(1).optional(),
  auth: vaultAuthSettings,
  /** Prepended to every secret path. */
  prefix: vaultPath('prefix', 'apps/').default(''),
});

export type VaultSettings = z.infer<typeof vaultSettings>;
export type VaultAuthSettings = z.infer<typeof vaultAuthSettings>;
