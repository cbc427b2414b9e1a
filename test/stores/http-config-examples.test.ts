/**
 * The config examples handed to the README for the azure-key-vault, gcp-secret-manager and http
 * store types, validated through the core's config schema so the documentation cannot drift.
 */
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/schema.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { httpStoreType } from '../../src/stores/http/index.js';

const README_EXAMPLES = `
stores:
  # Azure Key Vault ------------------------------------------------------------
  - name: azure                     # DefaultAzureCredential: env vars, workload/managed identity, az login
    type: azure-key-vault
    vaultName: acme-prod            # or vaultUrl: https://acme-prod.vault.azure.net
    prefix: sesame/                 # optional; secret://azure/db/password -> Key Vault "sesame--sdb--spassword"
    tags: { application: sesame }   # put on secrets Sesame writes
    auth: { method: default }
  - name: azure-mi
    type: azure-key-vault
    vaultUrl: https://acme-prod.vault.azure.net
    auth: { method: managed-identity, clientId: 1e2d3c4b-0000-4000-8000-00000000b001 }   # clientId: user-assigned only
  - name: azure-sp
    type: azure-key-vault
    vaultName: acme-prod
    auth:
      method: client-secret
      tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47
      clientId: 5b1c2a4e-0000-4000-8000-00000000a001
      clientSecret: "{{ secret://env/AZURE_KV_CLIENT_SECRET }}"
  - name: azure-cert
    type: azure-key-vault
    vaultUrl: https://acme-prod.vault.usgovcloudapi.net
    authorityHost: https://login.microsoftonline.us
    auth:
      method: client-certificate
      tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47
      clientId: 5b1c2a4e-0000-4000-8000-00000000a002
      certificatePath: ./certs/sesame-app.pem     # PEM: certificate + private key
  - name: azure-local               # emulators and private endpoints only
    type: azure-key-vault
    vaultUrl: http://127.0.0.1:8443
    allowInsecureConnection: true
    disableChallengeResourceVerification: true
    auth: { method: managed-identity }

  # GCP Secret Manager ---------------------------------------------------------
  - name: gcp                       # Application Default Credentials
    type: gcp-secret-manager
    project: acme-prod
    prefix: sesame_                 # secret ids are letters, digits, _ and -
    labels: { application: sesame } # put on secrets Sesame creates
    auth: { method: default }
  - name: gcp-sa
    type: gcp-secret-manager
    project: acme-prod
    auth: { method: service-account-json, file: ./keys/sesame-sa.json }
  - name: gcp-sa-inline
    type: gcp-secret-manager
    project: acme-prod
    location: me-central2           # regional secrets, served by the regional endpoint below
    apiEndpoint: https://secretmanager.me-central2.rep.googleapis.com   # https: gRPC to that host
    auth: { method: service-account-json, json: "{{ secret://env/GCP_SA_KEY_JSON }}" }
  - name: gcp-local
    type: gcp-secret-manager
    project: sesame-test
    apiEndpoint: http://127.0.0.1:8085                                  # http: REST transport (emulators)
    auth: { method: service-account-json, file: ./keys/emulator-sa.json }

  # Custom HTTP store ----------------------------------------------------------
  - name: custom
    type: http
    url: https://secrets.internal/v1/secrets/{+name}?version={version}  # {name} encodes /, {+name} keeps it
    method: GET
    valuePath: /data/value          # JSON Pointer; omit to take the body text
    timeout: 5s
    caFile: ./certs/internal-ca.pem
    listUrl: https://secrets.internal/v1/names?prefix={prefix}         # ["a", ...] or {"names": [...]}
    headers: { X-Tenant: acme }
    auth: { method: bearer, token: "{{ secret://env/CUSTOM_STORE_TOKEN }}" }
  - name: custom-basic
    type: http
    url: https://legacy.internal/lookup
    method: POST                    # body: {"name": ..., "version": ...}
    auth: { method: basic, username: sesame, password: "{{ secret://env/LEGACY_STORE_PASSWORD }}" }
  - name: custom-open
    type: http
    url: http://127.0.0.1:9000/raw/{name}
    auth: { method: none }
`;

describe('README examples for azure-key-vault, gcp-secret-manager and http stores', () => {
  it('validate against the config schema', () => {
    const registry = defaultStoreTypes();
    if (!registry.has('http')) registry.register(httpStoreType);
    const config = validateConfig(parseYaml(README_EXAMPLES), { registry, baseDir: '/etc/sesame' });
    const declared = config.stores.filter((s) => !s.implicit).map((s) => [s.name, s.type]);
    expect(declared).toEqual([
      ['azure', 'azure-key-vault'],
      ['azure-mi', 'azure-key-vault'],
      ['azure-sp', 'azure-key-vault'],
      ['azure-cert', 'azure-key-vault'],
      ['azure-local', 'azure-key-vault'],
      ['gcp', 'gcp-secret-manager'],
      ['gcp-sa', 'gcp-secret-manager'],
      ['gcp-sa-inline', 'gcp-secret-manager'],
      ['gcp-local', 'gcp-secret-manager'],
      ['custom', 'http'],
      ['custom-basic', 'http'],
      ['custom-open', 'http'],
    ]);
  });

  it('rejects a misspelt key with its path', () => {
    const registry = defaultStoreTypes();
    if (!registry.has('http')) registry.register(httpStoreType);
    const bad = parseYaml(
      'stores:\n  - name: azure\n    type: azure-key-vault\n    vaultName: acme-prod\n    vaultUri: x\n',
    );
    expect(() => validateConfig(bad, { registry, baseDir: '/' })).toThrow(/stores\[0\]/);
  });
});
