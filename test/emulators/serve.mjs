#!/usr/bin/env node
/**
 * Start one of the emulators the tests use, for trying Sesame locally without a cloud account:
 *
 *   node test/emulators/serve.mjs aws|vault|azure|gcp|http [--json]
 *
 * It listens on 127.0.0.1 (a free port), puts one example secret in (`demo/db`, a JSON secret
 * with `username` and `password`), and prints the store settings to paste into sesame.yaml, any
 * environment variable Sesame needs to reach it, and a reference to try. It runs until Ctrl-C;
 * everything lives in memory. `--json` prints the same as one JSON line (for scripts and tests).
 *
 * The emulators are TypeScript (test/emulators/<name>/index.ts); Vite, already a dependency of
 * the admin UI build, loads them without a build step.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runnerImport } from 'vite';
import { stringify } from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const DEMO_NAME = 'demo/db';
const DEMO_VALUE = { username: 'app', password: 'emulator-demo-password' };

async function load(name) {
  const { module } = await runnerImport(path.join(here, name, 'index.ts'), { configFile: false, logLevel: 'silent' });
  return module;
}

/** Each emulator: start it, seed the demo secret, say how Sesame reaches it. */
const EMULATORS = {
  async aws() {
    const m = await load('aws');
    const em = await m.startAwsEmulator();
    em.seed(DEMO_NAME, JSON.stringify(DEMO_VALUE));
    return {
      url: em.url,
      stop: () => em.stop(),
      store: {
        name: 'aws',
        type: 'aws-secrets-manager',
        region: em.region,
        endpoint: em.url,
        auth: { method: 'static', ...m.AWS_EMULATOR_CREDENTIALS },
      },
      env: {},
      reference: `secret://aws/${DEMO_NAME}#password`,
    };
  },
  async vault() {
    const m = await load('vault');
    const em = await m.startVaultEmulator();
    em.writeSecret(DEMO_NAME, DEMO_VALUE);
    return {
      url: em.url,
      stop: () => em.stop(),
      store: { name: 'vault', type: 'vault', address: em.url, mount: 'secret', kvVersion: 2, auth: { method: 'token', token: em.rootToken } },
      env: {},
      reference: `secret://vault/${DEMO_NAME}#password`,
    };
  },
  async azure() {
    const m = await load('azure');
    const em = await m.startAzureKeyVaultEmulator();
    const clientId = '3f0e9b5e-5e1c-4c55-9d55-5e5ae5e5e5e5';
    const clientSecret = 'emulator-client-secret';
    em.controls.registerApp({ clientId, secret: clientSecret });
    // Key Vault names allow letters, digits and dashes: the store maps "/" (see docs/stores.md).
    em.controls.seed('demo-db', JSON.stringify(DEMO_VALUE));
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-azure-emulator-'));
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, em.ca);
    return {
      url: em.url,
      stop: () => em.stop(),
      store: {
        name: 'azure',
        type: 'azure-key-vault',
        vaultUrl: em.url,
        authorityHost: em.authorityHost,
        disableChallengeResourceVerification: true,
        auth: { method: 'client-secret', tenantId: em.controls.tenantId, clientId, clientSecret },
      },
      // The emulator's TLS certificate is its own: Node trusts it through this variable.
      env: { NODE_EXTRA_CA_CERTS: caFile },
      reference: 'secret://azure/demo-db#password',
    };
  },
  async gcp() {
    const m = await load('gcp');
    const em = await m.startGcpSecretManagerEmulator();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const email = `sesame@${em.controls.project}.iam.gserviceaccount.com`;
    const keyId = 'emulator-key';
    em.controls.registerServiceAccount({ email, keyId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) });
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-gcp-emulator-'));
    const keyFile = path.join(dir, 'service-account.json');
    writeFileSync(
      keyFile,
      JSON.stringify({
        type: 'service_account',
        project_id: em.controls.project,
        private_key_id: keyId,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        client_email: email,
        client_id: '100000000000000000001',
        token_uri: 'https://oauth2.googleapis.com/token',
        universe_domain: 'googleapis.com',
      }),
      { mode: 0o600 },
    );
    // Secret Manager ids allow letters, digits, "-" and "_".
    em.controls.seed('demo-db', JSON.stringify(DEMO_VALUE));
    return {
      url: em.url,
      stop: () => em.stop(),
      store: {
        name: 'gcp',
        type: 'gcp-secret-manager',
        project: em.controls.project,
        apiEndpoint: em.url,
        auth: { method: 'service-account-json', file: keyFile },
      },
      env: {},
      reference: 'secret://gcp/demo-db#password',
    };
  },
  async http() {
    const m = await load('http');
    const em = await m.startHttpStoreEmulator();
    const token = 'emulator-bearer-token';
    em.controls.requireAuth({ bearer: token });
    em.controls.seed(DEMO_NAME, JSON.stringify(DEMO_VALUE));
    return {
      url: em.url,
      stop: () => em.stop(),
      store: {
        name: 'custom',
        type: 'http',
        url: `${em.url}/v1/secrets/{name}?version={version}`,
        valuePath: '/data/value',
        listUrl: `${em.url}/v1/names?prefix={prefix}`,
        auth: { method: 'bearer', token },
      },
      env: {},
      reference: `secret://custom/${DEMO_NAME}#password`,
    };
  },
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const name = args.find((a) => !a.startsWith('-'));
const start = name ? EMULATORS[name] : undefined;
if (!start) {
  process.stderr.write(
    `usage: node test/emulators/serve.mjs <${Object.keys(EMULATORS).join('|')}> [--json]\n` +
      'starts that emulator on 127.0.0.1 and prints the store settings to paste into sesame.yaml\n',
  );
  process.exit(2);
}

const started = await start();
if (json) {
  process.stdout.write(`${JSON.stringify({ emulator: name, url: started.url, store: started.store, env: started.env, reference: started.reference })}\n`);
} else {
  const exports = Object.entries(started.env).map(([k, v]) => `  export ${k}=${v}\n`).join('');
  process.stdout.write(
    `${name} emulator listening on ${started.url} (Ctrl-C stops it; its secrets live in memory)\n` +
      `it holds one secret, ${started.reference.replace(/^secret:\/\/[^/]+\/|#.*$/g, '')}: ${JSON.stringify(DEMO_VALUE)}\n\n` +
      `Paste into sesame.yaml:\n\n${stringify({ stores: [started.store] }).replace(/^/gm, '  ')}\n` +
      (exports ? `In the shell where you run sesame:\n\n${exports}\n` : '') +
      `Then try:\n\n  sesame resolve '${started.reference}'\n  sesame stores test ${started.store.name}\n`,
  );
}

const stop = async () => {
  await started.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
