/** Settings of a `gcp-secret-manager` store, validated once by one strict schema. */
import { z } from 'zod';
import { credential } from '../core/credentials.js';

const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;

const authSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('default') }),
  z
    .strictObject({
      method: z.literal('service-account-json'),
      /** The key file's JSON text (typically `{{ secret://… }}` or `${env:…}`). */
      json: credential(z.string().min(1)).optional(),
      /** Path of the key file. */
      file: z.string().min(1).optional(),
    })
    .refine((a) => (a.json === undefined) !== (a.file === undefined), {
      message: 'give exactly one of json or file',
      path: ['json'],
    }),
]);

export const gcpLabels = z.record(
  z
    .string()
    .regex(
      LABEL_KEY,
      'label keys are lowercase letters, digits, _ and -, starting with a letter, at most 63',
    ),
  z.string().regex(LABEL_VALUE, 'label values are lowercase letters, digits, _ and -, at most 63'),
);

/**
 * The location a regional endpoint's host names (`secretmanager.<location>.rep.googleapis.com`).
 * The object's `.refine` runs even when `apiEndpoint` failed its own URL check, so an unparsable
 * value names no location here (its issue is already reported on `apiEndpoint`): never a throw.
 */
const endpointLocation = (url: string | undefined) =>
  url && URL.canParse(url)
    ? /^secretmanager\.([a-z0-9-]+)\.rep\.googleapis\.com$/.exec(new URL(url).hostname)?.[1]
    : undefined;

export const gcpSecretManagerSettings = z
  .strictObject({
    /** Project id (or number) that owns the secrets. */
    project: z
      .string()
      .regex(
        /^([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})$/,
        'project is a project id such as acme-prod, or a project number',
      ),
    /**
     * Location of regional secrets (e.g. `me-central2`): secrets are then
     * `projects/<project>/locations/<location>/secrets/<id>`, served by the regional endpoint.
     */
    location: z
      .string()
      .regex(/^[a-z]+(-[a-z]+)+[0-9]+$/, 'location is a Google Cloud location such as me-central2')
      .optional(),
    /** Override of the API host, as a URL (see the module comment). */
    apiEndpoint: z
      .url({
        protocol: /^https?$/,
        message: 'apiEndpoint is a URL such as https://secretmanager.me-central2.rep.googleapis.com',
      })
      .optional(),
    /** Prepended to every name to form the secret id. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]*$/, 'a prefix is letters, digits, _ and -')
      .default(''),
    /** Labels put on secrets Sesame creates (merged under the write's own tags). */
    labels: gcpLabels.default({}),
    auth: authSchema.default({ method: 'default' }),
  })
  // A regional endpoint serves only the regional secrets of its location, named with it.
  .refine(
    (s) => endpointLocation(s.apiEndpoint) === undefined || endpointLocation(s.apiEndpoint) === s.location,
    {
      message:
        'apiEndpoint is the regional endpoint of a location: set location to it (or leave apiEndpoint out)',
      path: ['location'],
    },
  );

export type GcpSecretManagerSettings = z.infer<typeof gcpSecretManagerSettings>;
