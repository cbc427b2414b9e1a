/** Settings of an `azure-key-vault` store, validated once by one strict schema. */
import { z } from 'zod';
import { credential } from '../core/credentials.js';
import { keyVaultSpelling } from './names.js';

const nonEmpty = (what: string) => z.string().min(1, `${what} must not be empty`);

const authSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('default') }),
  z.strictObject({ method: z.literal('managed-identity'), clientId: nonEmpty('clientId').optional() }),
  z.strictObject({
    method: z.literal('client-secret'),
    tenantId: nonEmpty('tenantId'),
    clientId: nonEmpty('clientId'),
    clientSecret: credential(nonEmpty('clientSecret')),
  }),
  z.strictObject({
    method: z.literal('client-certificate'),
    tenantId: nonEmpty('tenantId'),
    clientId: nonEmpty('clientId'),
    /** PEM file holding the certificate and its private key. */
    certificatePath: nonEmpty('certificatePath'),
  }),
]);

export const azureKeyVaultSettings = z
  .strictObject({
    /** `https://<vault>.vault.azure.net` (or a sovereign cloud / private endpoint / emulator URL). */
    vaultUrl: z
      .url({ protocol: /^https?$/, message: 'vaultUrl is a URL such as https://my-vault.vault.azure.net' })
      .optional(),
    /** Short form for the public cloud: `my-vault` means `https://my-vault.vault.azure.net`. */
    vaultName: z
      .string()
      .regex(
        /^[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]$/,
        'a vault name is 3-24 letters, digits and single dashes, starting with a letter',
      )
      .optional(),
    /** Microsoft Entra ID authority, e.g. https://login.microsoftonline.us (must be https). */
    authorityHost: z
      .url({
        protocol: /^https$/,
        message: 'authorityHost is an https URL such as https://login.microsoftonline.com',
      })
      .optional(),
    /** Allow an http:// vaultUrl (emulators only). */
    allowInsecureConnection: z.boolean().default(false),
    /** Skip checking that the challenge's resource matches the vault's domain (emulators, private endpoints). */
    disableChallengeResourceVerification: z.boolean().default(false),
    /** Prepended to every Sesame name before it is mapped to a Key Vault name, so it must be spellable. */
    prefix: z
      .string()
      .superRefine((prefix, ctx) => {
        const spelled = prefix ? keyVaultSpelling.encode(prefix) : undefined;
        if (spelled?.ok === false)
          ctx.addIssue(`prefix cannot be part of a Key Vault name: ${spelled.reason}`);
      })
      .default(''),
    /** Tags put on every secret Sesame writes (merged under the write's own tags). */
    tags: z.record(z.string(), z.string()).default({}),
    auth: authSchema.default({ method: 'default' }),
  })
  .refine((s) => (s.vaultUrl === undefined) !== (s.vaultName === undefined), {
    message: 'give exactly one of vaultUrl or vaultName',
    path: ['vaultUrl'],
  })
  .refine((s) => s.allowInsecureConnection || !/^http:/i.test(s.vaultUrl ?? ''), {
    message: 'vaultUrl is plain http: use https, or set allowInsecureConnection: true for a local emulator',
    path: ['vaultUrl'],
  });

export type AzureKeyVaultSettings = z.infer<typeof azureKeyVaultSettings>;
