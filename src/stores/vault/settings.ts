/** Settings of a `vault` store (HashiCorp Vault KV v1/v2), validated once by one strict schema. */
import { z } from 'zod';
import { credential } from '../core/credentials.js';
import { urlPathSetting } from '../core/url-path.js';

const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');

/** Where an auth method is mounted (`vault auth enable -path=…`). */
const authPath = (fallback: string) =>
  urlPathSetting('path', fallback)
    .regex(/^[\w./-]+$/, `path is the auth mount path, e.g. ${fallback}`)
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
  namespace: urlPathSetting('namespace', 'admin/team-a').transform(trimSlashes).optional(),
  /** The KV mount (Kestra's rootEngine). */
  mount: urlPathSetting('mount', 'secret or kv/team-a').min(1).transform(trimSlashes).default('secret'),
  /** Detected with sys/internal/ui/mounts when not given. */
  kvVersion: z.union([z.literal(1), z.literal(2)]).optional(),
  /** PEM CA bundle for a Vault whose certificate is not signed by a public CA. */
  caFile: z.string().min(1).optional(),
  auth: vaultAuthSettings,
  /** Prepended to every secret path. */
  prefix: urlPathSetting('prefix', 'apps/').default(''),
});

export type VaultSettings = z.infer<typeof vaultSettings>;
export type VaultAuthSettings = z.infer<typeof vaultAuthSettings>;
