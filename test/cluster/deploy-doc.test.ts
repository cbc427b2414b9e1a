/**
 * docs/deploy.md: its Kubernetes manifest parses, and says what the page says (replicas behind a
 * Service, the probes on /readyz and /healthz, the master key, admin token and database URL from
 * a Secret, a config that validates as a Sesame config on PostgreSQL).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { defaultConnectionTypes } from '../../src/connections/default-types.js';
import { interpolate, parseConfigText } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/schema.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';

const page = readFileSync(fileURLToPath(new URL('../../docs/deploy.md', import.meta.url)), 'utf8');

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are checked field by field below.
type Manifest = any;

function manifests(): Manifest[] {
  // The manifest: the one YAML block of the page that holds Kubernetes objects.
  const blocks = [...page.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string).filter((b) => /^apiVersion:/m.test(b));
  expect(blocks).toHaveLength(1);
  return parseAllDocuments(blocks[0] as string).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS();
  });
}

describe('docs/deploy.md Kubernetes manifest', () => {
  const all = manifests();
  const byKind = (kind: string) => all.find((m) => m.kind === kind);
  const deployment = byKind('Deployment');
  const container = deployment.spec.template.spec.containers[0];

  it('has a ConfigMap, a Deployment of several replicas and a Service selecting them', () => {
    expect(all.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Service']);
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    expect(byKind('Service').spec.selector).toEqual(labels);
  });

  it('serves on every interface on the port the Service targets, with the probes the page names', () => {
    expect(container.args.slice(0, 1)).toEqual(['serve']);
    const arg = (flag: string) => container.args[container.args.indexOf(flag) + 1];
    expect(arg('--host')).toBe('0.0.0.0');
    const port = container.ports.find((p: Manifest) => p.name === 'http');
    expect(Number(arg('--port'))).toBe(port.containerPort);
    expect(byKind('Service').spec.ports[0].targetPort).toBe('http');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(page).toContain('`GET /readyz`');
    expect(page).toContain('`GET /healthz`');
  });

  it('takes the master key, the admin token and the database URL from a Secret, never a literal', () => {
    const env = Object.fromEntries(container.env.map((e: Manifest) => [e.name, e]));
    for (const name of ['SESAME_MASTER_KEY', 'SESAME_ADMIN_TOKEN', 'SESAME_DATABASE_URL']) {
      expect(env[name].value, name).toBeUndefined();
      expect(env[name].valueFrom.secretKeyRef.name, name).toBe('sesame');
    }
  });

  it('mounts a config that validates: PostgreSQL from the environment, the master key from SESAME_MASTER_KEY', () => {
    const mount = container.volumeMounts[0];
    const configPath = container.args[container.args.indexOf('--config') + 1];
    expect(configPath.startsWith(`${mount.mountPath}/`)).toBe(true);
    const text = byKind('ConfigMap').data[configPath.slice(mount.mountPath.length + 1)];
    const doc = interpolate(parseConfigText(text, 'sesame.yaml'), '/', { SESAME_DATABASE_URL: 'postgres://sesame@postgres:5432/sesame' });
    const config = validateConfig(doc, { registry: defaultStoreTypes(), connectionTypes: defaultConnectionTypes(), baseDir: '/' });
    expect(config.database).toMatch(/^postgres:\/\//);
    expect(config.masterKey).toEqual({ env: 'SESAME_MASTER_KEY' });
    expect(text).toContain('${env:SESAME_DATABASE_URL}');
    // The audit spool of database outages is on a writable volume of the pod.
    const spoolDir = (config.server?.auditSpool as { dir?: string } | undefined)?.dir;
    expect(spoolDir).toBeDefined();
    const spoolMount = container.volumeMounts.find((m: Manifest) => m.mountPath === spoolDir);
    expect(spoolMount?.readOnly).not.toBe(true);
    expect(deployment.spec.template.spec.volumes.some((v: Manifest) => v.name === spoolMount.name)).toBe(true);
    expect(page).toContain('server.auditSpool.dir');
  });
});
