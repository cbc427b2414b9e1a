/**
 * The `dialects:` key of `sesame.yaml`: which other products' reference syntaxes Sesame reads,
 * and which store each one reads from. Every dialect is off unless declared, so a config without
 * the key reads exactly what it read before (`{{ workato:sm:… }}` stays literal text).
 */
import { z } from 'zod';

const STORE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const storeName = z
  .string()
  .regex(STORE_NAME, 'a store name is lowercase letters, digits, "_" and "-" (at most 63), e.g. aws');

export const dialectsSchema = z.strictObject({
  /** `{{workato:sm:<key name>:<secret ARN>}}` — default store: the only `aws-secrets-manager` store. */
  workato: z.strictObject({ store: storeName.optional() }).optional(),
  /** `{{ secret('NAME') }}` — default store: `builtin` (namespace-aware, like Kestra's). */
  kestra: z.strictObject({ store: storeName.optional() }).optional(),
  /**
   * `{{ $secrets.<vault>.<name> }}` — `stores` maps an n8n vault (provider) name to a Sesame
   * store; without an entry, a store of that name, or for n8n's provider names
   * (`awsSecretsManager`, `azureKeyVault`, `gcpSecretsManager`, `vault`, `infisical`,
   * `onePassword`) the only store of that type.
   */
  n8n: z
    .strictObject({
      stores: z
        .record(z.string().regex(/^[A-Za-z0-9_]+$/, 'an n8n vault name is letters, digits and "_"'), storeName)
        .optional(),
    })
    .optional(),
  /** `ref+awssecrets://…`, `ref+vault://…`, `ref+gcpsecrets://…` — `stores` picks the store per backend. */
  vals: z
    .strictObject({
      stores: z
        .strictObject({
          awssecrets: storeName.optional(),
          vault: storeName.optional(),
          gcpsecrets: storeName.optional(),
        })
        .optional(),
    })
    .optional(),
  /** `op://<vault>/<item>/[<section>/]<field>` — default store: the only `1password-connect` store. */
  op: z.strictObject({ store: storeName.optional() }).optional(),
});

export type DialectsSettings = z.infer<typeof dialectsSchema>;
export type DialectName = keyof DialectsSettings;
export const DIALECT_NAMES: readonly DialectName[] = ['workato', 'kestra', 'n8n', 'vals', 'op'];
