/**
 * Each dialect resolving through the real `sesame` bin against the AWS, Vault and 1Password
 * emulators and the builtin store, exactly like `secret://`: the same values, batching into one
 * BatchGetSecretValue, `--json` reports naming the canonical `secret://` reference, errors of the
 * same quality, no value on any failing output; and an undeclared dialect staying literal.
 * In-process: a dialect reference's value is masked like any resolved value.
 *
 * Needs `npm run build` (the bin runs dist/).
 */
import { SecretsManagerClient, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure, expectNoSecrets, expectValue, sesame, show, type Workdir, workdir } from '../e2e/support.js';
import {
  AWS_EMULATOR_CREDENTIALS,
  type AwsEmulator,
  callsSince,
  startAwsEmulator,
  startVaultEmulator,
  type VaultEmulator,
} from '../emulators/index.js';
import { type OnePasswordEmulator, startOnePasswordEmulator } from '../emulators/onepassword/index.js';
import { createSesame } from '../../src/sesame.js';
import { processRedactor } from '../../src/redact/redactor.js';

const JIRA_TOKEN = 'jira-token-dialect-3b9f1c';
const DB_PASSWORD = 'aws-db-password-dialect-51d0e7';
const VAULT_PASSWORD = 'vault-pass-dialect-8c21f0';
const CI_TOKEN = 'vault-ci-token-dialect-0a9d';
const OP_PASSWORD = 'op-password-dialect-77e1b2';
const KESTRA_TOKEN = 'kestra-github-token-dialect-4f2a';
const VALUES = [JIRA_TOKEN, DB_PASSWORD, VAULT_PASSWORD, CI_TOKEN, OP_PASSWORD, KESTRA_TOKEN];

describe('dialects resolve against AWS, Vault, 1Password and builtin through the CLI', () => {
  let aws: AwsEmulator;
  let vault: VaultEmulator;
  let op: OnePasswordEmulator;
  let wd: Workdir;
  let arn: string;
  let env: Record<string, string>;

  const stores = () => [
    { name: 'aws', type: 'aws-secrets-manager', region: 'us-east-1', endpoint: aws.url, auth: { method: 'static', accessKeyId: AWS_EMULATOR_CREDENTIALS.accessKeyId, secretAccessKey: AWS_EMULATOR_CREDENTIALS.secretAccessKey } },
    { name: 'vault', type: 'vault', address: vault.url, kvVersion: 2, auth: { method: 'token', token: '${env:VAULT_TOKEN}' } },
    { name: 'op', type: '1password-connect', url: op.url, auth: { method: 'token', token: '${env:OP_TOKEN}' } },
  ];
  const withDialects = () =>
    wd.config({
      stores: stores(),
      dialects: { workato: { store: 'aws' }, kestra: { store: 'builtin' }, n8n: {}, vals: {}, op: { store: 'op' } },
    });

  beforeAll(async () => {
    aws = await startAwsEmulator();
    aws.seed('prod-jira-credentials', JSON.stringify({ 'prod.jira.secret.key': JIRA_TOKEN, user: 'svc-jira' }));
    aws.seed('db_password', DB_PASSWORD);
    const sm = new SecretsManagerClient({ region: 'us-east-1', endpoint: aws.url, credentials: { ...AWS_EMULATOR_CREDENTIALS } });
    arn = (await sm.send(new DescribeSecretCommand({ SecretId: 'prod-jira-credentials' }))).ARN as string;
    sm.destroy();
    vault = await startVaultEmulator();
    vault.writeSecret('app/db', { username: 'app', password: VAULT_PASSWORD });
    vault.writeSecret('ci_token', { value: CI_TOKEN });
    op = await startOnePasswordEmulator();
    op.addVault('Prod');
    op.putItem('Prod', 'jira', { username: 'jira-bot', password: OP_PASSWORD });
    env = { VAULT_TOKEN: vault.rootToken, OP_TOKEN: op.issueToken(['Prod']) };
    wd = workdir('dialects');
    withDialects();
    const set = await sesame(wd, ['secrets', 'set', 'GITHUB_TOKEN', '--namespace', 'acme'], { env, input: KESTRA_TOKEN });
    expect(set.code, show(set)).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await aws?.stop();
    await vault?.stop();
    await op?.stop();
    wd?.remove();
  });

  it('workato: the key name of the secret the ARN names (AWS)', async () => {
    expectValue(await sesame(wd, ['resolve', `{{workato:sm:prod.jira.secret.key:${arn}}}`], { env }), JIRA_TOKEN);
  });

  it('vals: ref+awssecrets (AWS) and ref+vault with kv v2 data/ path (Vault)', async () => {
    expectValue(await sesame(wd, ['resolve', 'ref+awssecrets://prod-jira-credentials#/prod.jira.secret.key'], { env }), JIRA_TOKEN);
    expectValue(await sesame(wd, ['resolve', 'ref+vault://secret/data/app/db#/password'], { env }), VAULT_PASSWORD);
    expectValue(await sesame(wd, ['resolve', 'user=ref+vault://secret/app/db#username+;'], { env }), 'user=app;');
  });

  it('n8n: $secrets.<provider>.<name> through the store of that type (AWS, Vault)', async () => {
    expectValue(await sesame(wd, ['resolve', '{{ $secrets.awsSecretsManager.db_password }}'], { env }), DB_PASSWORD);
    expectValue(await sesame(wd, ['resolve', '{{ $secrets.vault.ci_token }}'], { env }), CI_TOKEN);
  });

  it("kestra: secret('NAME') in the caller's namespace and its children, not elsewhere (builtin)", async () => {
    expectValue(await sesame(wd, ['resolve', "{{ secret('GITHUB_TOKEN') }}", '--namespace', 'acme'], { env }), KESTRA_TOKEN);
    expectValue(await sesame(wd, ['resolve', "{{ secret('GITHUB_TOKEN') }}", '--namespace', 'acme.devops'], { env }), KESTRA_TOKEN);
    const elsewhere = expectFailure(await sesame(wd, ['resolve', "{{ secret('GITHUB_TOKEN') }}", '--namespace', 'other'], { env }), 1, VALUES);
    expect(elsewhere).toContain('secret://builtin/GITHUB_TOKEN');
  });

  it('op: op://<vault>/<item>/<field>, whole and in braces (1Password Connect)', async () => {
    expectValue(await sesame(wd, ['resolve', 'op://Prod/jira/password'], { env }), OP_PASSWORD);
    expectValue(await sesame(wd, ['resolve', 'pw={{ op://Prod/jira/password }}'], { env }), `pw=${OP_PASSWORD}`);
  });

  it("sesame run: a dialect reference in --env is resolved into the child's environment and masked in its output", async () => {
    const r = await sesame(wd, ['run', '--namespace', 'acme', '--env', "T={{ secret('GITHUB_TOKEN') }}", '--', 'sh', '-c', 'printf "%s|" "$T"; printf %s "$T" | wc -c'], { env });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.startsWith('***|'), show(r)).toBe(true);
    expect(r.stdout.slice(4).trim()).toBe(String(KESTRA_TOKEN.length));
    expectNoSecrets(r, VALUES);
  });

  it('a document mixing every dialect: one BatchGetSecretValue for its two AWS secrets, canonical references in the report', async () => {
    const file = wd.file(
      'doc.json',
      JSON.stringify({
        jira: `{{workato:sm:prod.jira.secret.key:${arn}}}`,
        db: 'ref+awssecrets://db_password',
        vault: '{{ $secrets.vault.ci_token }}',
        op: 'op://Prod/jira/username',
        plain: '{{ vars.region }}',
      }),
    );
    const delta = callsSince(aws.calls);
    const r = await sesame(wd, ['resolve', '--file', file, '--json'], { env });
    expect(r.code, show(r)).toBe(0);
    const report = JSON.parse(r.stdout) as { value: Record<string, unknown>; references: Array<{ reference: string; store: string }> };
    expect(report.value).toEqual({ jira: JIRA_TOKEN, db: DB_PASSWORD, vault: CI_TOKEN, op: 'jira-bot', plain: '{{ vars.region }}' });
    expect(report.references.map((x) => x.reference).sort()).toEqual(
      [`secret://aws/${arn}#prod.jira.secret.key`, 'secret://aws/db_password', 'secret://op/Prod/jira#username', 'secret://vault/ci_token'].sort(),
    );
    expect(delta().byOperation).toEqual({ BatchGetSecretValue: 1 });
  });

  it('a malformed dialect reference exits 2 with the offset and what was expected, no value', async () => {
    const e = expectFailure(await sesame(wd, ['resolve', "{{ secret('GITHUB_TOKEN', namespace='x') }}"], { env }), 2, VALUES);
    expect(e).toMatch(/malformed reference at offset 26: expected no namespace= argument/);
    const w = expectFailure(await sesame(wd, ['resolve', '{{workato:sm:prod.jira.secret.key:prod-jira}}'], { env }), 2, VALUES);
    expect(w).toContain('expected a key name, ":" and the secret ARN');
  });

  it('a missing secret through a dialect fails like secret:// does, naming the canonical reference', async () => {
    const e = expectFailure(await sesame(wd, ['resolve', 'ref+awssecrets://nope'], { env }), 1, VALUES);
    expect(e).toContain('secret://aws/nope');
  });

  it('without dialects declared, the text is literal and resolve says there is nothing to resolve', async () => {
    wd.config({ stores: stores() });
    try {
      const e = expectFailure(await sesame(wd, ['resolve', `{{workato:sm:prod.jira.secret.key:${arn}}}`], { env }), 2, VALUES);
      expect(e).toContain('nothing to resolve');
      const doc = wd.file('plain.json', JSON.stringify({ a: 'op://Prod/jira/password', b: "{{ secret('X') }}" }));
      const r = await sesame(wd, ['resolve', '--file', doc], { env });
      expect(r.code, show(r)).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ a: 'op://Prod/jira/password', b: "{{ secret('X') }}" });
    } finally {
      withDialects();
    }
  });

  it('a config error names the dialect setting to fix', async () => {
    wd.config({ stores: stores(), dialects: { kestra: { store: 'nope' } } });
    try {
      const e = expectFailure(await sesame(wd, ['resolve', "{{ secret('X') }}"], { env }), 2, VALUES);
      expect(e).toContain('dialects.kestra.store: names store "nope", which is not declared');
      wd.config({ stores: stores(), dialects: { zapier: {} } });
      expect(expectFailure(await sesame(wd, ['resolve', 'secret://env/X'], { env }), 2, VALUES)).toContain('unknown key "zapier"');
    } finally {
      withDialects();
    }
  });
});

describe('dialect values are masked like any resolved value, and refreshed with their connection (in process)', () => {
  it("refreshing a connection drops its dialect references' cached values", async () => {
    process.env.SESAME_DIALECT_ROTATING = 'first-value-0c1d';
    const s = createSesame({
      dialects: { kestra: { store: 'env' } },
      connections: [{ name: 'jira', type: 'generic', fields: { token: "{{ secret('SESAME_DIALECT_ROTATING') }}" } }],
    });
    try {
      expect((await s.resolveConnection('jira')).fields.token).toBe('first-value-0c1d');
      process.env.SESAME_DIALECT_ROTATING = 'second-value-7e2f';
      expect((await s.resolveConnection('jira')).fields.token).toBe('first-value-0c1d');
      expect((await s.refresh({ connection: 'jira' })).dropped).toBe(1);
      expect((await s.resolveConnection('jira')).fields.token).toBe('second-value-7e2f');
    } finally {
      delete process.env.SESAME_DIALECT_ROTATING;
      await s.close();
    }
  });

  it("kestra's secret() through the env store: the value is known to the redactor", async () => {
    const value = 'kestra-env-value-masked-91c3';
    process.env.SESAME_DIALECT_TEST = value;
    const s = createSesame({ dialects: { kestra: { store: 'env' } } });
    try {
      expect(await s.resolve("x {{ secret('SESAME_DIALECT_TEST') }}")).toBe(`x ${value}`);
      expect(processRedactor.redact(`leak ${value} here`)).not.toContain(value);
    } finally {
      delete process.env.SESAME_DIALECT_TEST;
      await s.close();
    }
  });
});
