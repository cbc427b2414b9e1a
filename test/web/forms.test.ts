/**
 * The forms generated from the API's type schemas (GET /store-types, /connection-types), in
 * Chromium against a real `sesame serve`: a vault store (auth method token shows its fields; Test
 * shows FAIL steps with fixes; saved even though a check failed; the token never comes back), a builtin store saved
 * after a passing test, an http connection with a picked secret, secrets found by substring and by
 * tag; axe-core on each form; no value typed or stored reaches the page. Needs `npm run build`.
 */
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, launchChromium, ROOT, type Sesame, signInWith, startSesame } from './helpers.js';

const IMAGES = path.join(ROOT, 'docs/images');
const VAULT_TOKEN = 'hvs.canary-vault-token-5e2b7c91';
const SECRETS = {
  'billing/db-password': { value: 'forms-db-pass-0c4e8a1f', tags: { env: 'prod', team: 'billing' } },
  'billing/api-token': { value: 'forms-api-token-93b1d7e2', tags: { env: 'dev', team: 'billing' } },
  'ops/deploy-key': { value: 'forms-deploy-key-6f2a0b3c', tags: { env: 'prod', team: 'ops' } },
};
const CANARIES = [VAULT_TOKEN, ...Object.values(SECRETS).map((s) => s.value)];

let sesame: Sesame;
let browser: Browser;
/** One signed-in admin page for the whole file (signing in again per test only costs time). */
let page: Page;
const contexts: BrowserContext[] = [];
const responses: Array<{ url: string; body: string }> = [];

async function open(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  page.on('response', async (res) => {
    if (!res.url().includes('/api/')) return;
    try {
      responses.push({ url: res.url(), body: await res.text() });
    } catch {}
  });
  await signInWith(page, sesame.url, sesame.adminToken);
  return page;
}

async function expectClean(page: Page, name: string, { axe = true } = {}): Promise<void> {
  if (axe) {
    await page.waitForLoadState('networkidle');
    expect(await axeViolations(page), name).toEqual([]);
  }
  const seen = (await page.evaluate(
    '[document.documentElement.outerHTML, JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.cookie].join("\\n")',
  )) as string;
  // A typed credential stays in its input's live value, never in an attribute or text of the DOM.
  for (const v of CANARIES) expect(seen, `${name}: value ${v} visible`).not.toContain(v);
}

/** Holds the matching API calls back a little, so what shows while they run can be seen. */
async function slow(page: Page, pattern: string, ms = 400): Promise<void> {
  await page.route(pattern, async (route) => {
    await new Promise((r) => setTimeout(r, ms));
    await route.continue();
  });
}

beforeAll(async () => {
  sesame = await startSesame();
  browser = await launchChromium();
  for (const [name, s] of Object.entries(SECRETS)) {
    const put = await sesame.call('PUT', `/api/v1/secrets/${encodeURIComponent(name)}`, sesame.adminToken, s);
    expect(put.status).toBe(200);
  }
  page = await open();
}, 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await sesame?.stop();
});

describe('generated forms', () => {
  it('a vault store: auth method token shows its fields, Test shows FAIL steps with fixes, Save saves it when told to even though a check failed, the token is never shown back', async () => {
    await page.getByRole('link', { name: 'Stores' }).click();
    await page.getByRole('button', { name: 'New store' }).click();
    const form = page.getByRole('form', { name: 'New store' });
    await form.getByLabel('Type').selectOption('vault');
    await form.getByLabel('Store name').fill('vault-lab');
    expect(await form.getByLabel('token', { exact: true }).count()).toBe(0);
    await form.getByLabel('auth method').selectOption('token');
    const token = form.getByLabel('token', { exact: true });
    await token.waitFor();
    expect(await token.getAttribute('type')).toBe('password');
    // A credential may be a secret of another store: Pick secret beside it, not beside the address.
    const pickBeside = (label: string) =>
      form
        .locator('.field', { has: page.getByLabel(label, { exact: true }) })
        .getByRole('button', { name: 'Pick secret' });
    expect(await pickBeside('token').count()).toBe(1);
    expect(await pickBeside('address').count()).toBe(0);
    expect(await form.getByLabel('address', { exact: true }).getAttribute('required')).not.toBeNull();
    // Choosing another method shows that branch's fields instead.
    await form.getByLabel('auth method').selectOption('approle');
    await form.getByLabel('roleId').waitFor();
    expect(await token.count()).toBe(0);
    await form.getByLabel('auth method').selectOption('token');
    await form.getByLabel('address', { exact: true }).fill('https://203.0.113.10:8200');
    await token.fill(VAULT_TOKEN);
    await expectClean(page, 'new vault store');

    // Test: progress while it runs (buttons disabled), then each step with ok/FAIL and its fix.
    await slow(page, '**/api/v1/stores/vault-lab/test**');
    await form.getByRole('button', { name: 'Test' }).click();
    await form.getByRole('status').filter({ hasText: 'Testing the store' }).waitFor();
    expect(await form.getByRole('button', { name: 'Save', exact: true }).isDisabled()).toBe(true);
    const steps = form.getByRole('list', { name: 'Test steps' });
    await steps.waitFor();
    expect(await steps.textContent()).toContain('FAIL');
    expect(await steps.textContent()).toContain('Fix:');
    expect(await page.getByRole('cell', { name: /^vault-lab/ }).count()).toBe(0); // Test alone saves nothing
    // Save tests first: a check fails, so nothing is saved until "Save even though a check failed" is ticked.
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await form.getByText('The store was not saved because a check failed.').waitFor();
    expect(await page.getByRole('cell', { name: /^vault-lab/ }).count()).toBe(0);
    await form.getByLabel('Save even though a check failed').check();
    await form.getByRole('button', { name: 'Save' }).click();
    await form.waitFor({ state: 'detached' });
    const row = page.getByRole('row', { name: /vault-lab/ });
    await row.getByText('auth.token: set').waitFor();
    await row.getByText('FAIL').waitFor(); // the last test, as the API keeps it
    const stored = (await sesame.call('GET', '/api/v1/stores/vault-lab', sesame.adminToken)).body as {
      settings: { address: string; auth: { method: string; token: string } };
      lastTest?: { ok: boolean };
    };
    expect(stored.settings).toEqual({
      address: 'https://203.0.113.10:8200',
      auth: { method: 'token', token: '***' },
    });
    expect(stored.lastTest?.ok).toBe(false);
    // Editing shows the token as set, never its value; saving unchanged keeps it.
    await page.getByRole('button', { name: 'Edit vault-lab' }).click();
    const edit = page.getByRole('form', { name: 'Edit store vault-lab' });
    const kept = edit.getByLabel(/^token/);
    expect(await kept.inputValue()).toBe('');
    expect(await edit.getByText('(set)').count()).toBe(1);
    await page.screenshot({ path: path.join(IMAGES, 'store-form.png') });
    // A narrow screen: the form fits, nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 900 });
    try {
      expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
      await page.screenshot({ path: path.join(IMAGES, 'store-form-narrow.png'), fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    await expectClean(page, 'edit vault store', { axe: false });
    // An edit is tested before it is saved, too: the check fails (nothing listens), so nothing changes…
    await edit.getByLabel('mount').fill('kv');
    await edit.getByRole('button', { name: 'Save', exact: true }).click();
    await edit.getByRole('list', { name: 'Test steps' }).waitFor();
    await edit.getByText('The store was not saved because a check failed.').waitFor();
    const unchanged = (await sesame.call('GET', '/api/v1/stores/vault-lab', sesame.adminToken)).body as {
      settings: Record<string, unknown>;
    };
    expect(unchanged.settings['mount']).not.toBe('kv');
    expect(unchanged.settings).toMatchObject({ auth: { method: 'token', token: '***' } });
    // …until saved even though a check failed, which keeps the stored token ("***").
    await edit.getByLabel('Save even though a check failed').check();
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'detached' });
    const after = (await sesame.call('GET', '/api/v1/stores/vault-lab', sesame.adminToken)).body as {
      settings: Record<string, unknown>;
    };
    expect(after.settings).toMatchObject({ mount: 'kv', auth: { method: 'token', token: '***' } });
  });

  it("every store type's form: each auth method shows its own fields, credentials are password inputs, axe passes", async () => {
    const types = (await sesame.call('GET', '/api/v1/store-types', sesame.adminToken)).body as {
      items: Array<{ type: string; secretSettings: string[] }>;
    };
    await page.getByRole('link', { name: 'Stores' }).click();
    await page.getByRole('button', { name: 'New store' }).click();
    const form = page.getByRole('form', { name: 'New store' });
    const offered = await form.getByLabel('Type').locator('option').allTextContents();
    expect(offered.sort()).toEqual(types.items.map((t) => t.type).sort());
    for (const t of types.items) {
      await form.getByLabel('Type').selectOption(t.type);
      const secretNames = new Set(t.secretSettings.map((p) => p.split('.').pop()));
      const method = form.getByLabel('auth method');
      const methods = (await method.count())
        ? (await method.locator('option').allTextContents()).filter((o) => !o.startsWith('('))
        : [];
      const seen = new Set<string>();
      for (const m of methods) {
        await method.selectOption(m);
        const source = form.getByLabel('source method');
        if (await source.count()) await source.selectOption('static');
        const inputs = form.getByRole('region', { name: 'Settings' }).locator('input');
        const fields = await inputs.evaluateAll((els) =>
          // Runs in the page; typed structurally (the test project has no DOM lib).
          els.map((e) => {
            const input = e as unknown as {
              labels?: ArrayLike<{ firstChild?: { textContent?: string | null } | null }>;
              type: string;
            };
            return { label: input.labels?.[0]?.firstChild?.textContent ?? '', type: input.type };
          }),
        );
        for (const f of fields) {
          if (secretNames.has(f.label)) expect(f.type, `${t.type} ${m} ${f.label}`).toBe('password');
          else expect(f.type, `${t.type} ${m} ${f.label}`).not.toBe('password');
        }
        seen.add(fields.map((f) => f.label).join(','));
      }
      // Each method shows a different set of fields.
      expect(seen.size, t.type).toBe(methods.length);
      expect(await axeViolations(page), t.type).toEqual([]);
    }
    await form.getByRole('button', { name: 'Cancel' }).click();
  });

  it('a builtin store is saved after a passing test; tags as key/value rows, defaults as placeholders', async () => {
    await page.getByRole('link', { name: 'Stores' }).click();
    await page.getByRole('button', { name: 'New store' }).click();
    const form = page.getByRole('form', { name: 'New store' });
    await form.getByLabel('Type').selectOption('builtin');
    await form.getByLabel('Store name').fill('local-kv');
    expect(await form.getByLabel('maxValueSize').getAttribute('placeholder')).toBe('65536');
    await form.getByRole('button', { name: 'Add tags' }).click();
    await form.getByLabel('tags 1 key').fill('team');
    await form.getByLabel('tags 1 value').fill('ops');
    await expectClean(page, 'new builtin store', { axe: false });
    await slow(page, '**/api/v1/stores/local-kv/test**');
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await form.getByRole('status').filter({ hasText: 'Testing the store' }).waitFor();
    await form.waitFor({ state: 'detached' });
    await page
      .getByRole('row', { name: /local-kv/ })
      .getByText('ok', { exact: true })
      .waitFor();
    const stored = (await sesame.call('GET', '/api/v1/stores/local-kv', sesame.adminToken)).body as {
      settings: Record<string, unknown>;
      lastTest?: { ok: boolean };
    };
    expect(stored.settings).toEqual({ tags: { team: 'ops' } });
    expect(stored.lastTest?.ok).toBe(true);
  });

  it('an http connection from its type schema: auth method bearer, the token picked as a secret (a chip)', async () => {
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('button', { name: 'New connection' }).click();
    const form = page.getByRole('form', { name: 'New connection' });
    await form.getByLabel('Connection name').fill('billing-api');
    // postgres: one url, or host, database, user and password.
    await form.getByLabel('Type').selectOption('postgres');
    await form.getByLabel('url', { exact: true }).waitFor();
    await form.getByLabel('Fields: one of').selectOption({ label: 'host, database, user, password' });
    expect(await form.getByLabel('password', { exact: true }).getAttribute('type')).toBe('password');
    expect(await form.getByLabel('port').getAttribute('placeholder')).toBe('5432');
    expect(await form.getByLabel('url', { exact: true }).count()).toBe(0);
    await form.getByLabel('Type').selectOption('http');
    await form.getByLabel('baseUrl').fill('https://billing.example.com');
    await form.getByLabel('auth method').selectOption('bearer');
    // The bearer token of auth (the type also takes a top-level token, its shorthand).
    const auth = form.getByRole('group', { name: 'auth' });
    const tokenField = auth.locator('.field', { has: page.getByLabel('token', { exact: true }) });
    expect(await auth.getByLabel('token', { exact: true }).getAttribute('type')).toBe('password');
    // Every field keeps its Pick secret button.
    expect(await form.getByRole('button', { name: 'Pick secret' }).count()).toBeGreaterThanOrEqual(2);
    await tokenField.getByRole('button', { name: 'Pick secret' }).click();
    await form.getByLabel('Search names').fill('db-pass');
    await form.getByRole('radio', { name: 'billing/db-password' }).check();
    expect(await form.getByRole('radio').count()).toBe(1);
    await form.getByRole('button', { name: 'Use this secret' }).click();
    await form.getByText('builtin / billing/db-password').waitFor();
    await expectClean(page, 'new http connection');
    await page.screenshot({ path: path.join(IMAGES, 'connection-form.png') });
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'builtin / billing/db-password' }).waitFor();
    const read = async () =>
      (await sesame.call('GET', '/api/v1/connections/billing-api', sesame.adminToken)).body as {
        type: string;
        fields: Record<string, unknown>;
      };
    const stored = await read();
    expect(stored.type).toBe('http');
    // References as written; literals of fields that are not secret (the URL, the method) as written.
    expect(stored.fields).toEqual({
      baseUrl: expect.stringMatching(/^https?:\/\//),
      auth: { method: 'bearer', token: '{{ secret://builtin/billing/db-password }}' },
    });
    // Edit: the stored URL shows as itself, the reference as its chip; saving keeps both.
    await page.getByRole('button', { name: 'Edit billing-api' }).click();
    const edit = page.getByRole('form', { name: 'Edit billing-api' });
    await edit.getByText('builtin / billing/db-password').waitFor();
    expect(await edit.getByLabel('baseUrl').inputValue()).toBe(stored.fields.baseUrl);
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'detached' });
    expect((await read()).fields).toEqual(stored.fields);
    const resolved = await sesame.call('POST', '/api/v1/connections/billing-api/test', sesame.adminToken);
    expect(JSON.stringify(resolved.body)).not.toContain('***');
  });

  it('secrets are found by substring and by tag; a store that cannot search says so', async () => {
    await page.getByRole('link', { name: 'Secrets' }).click();
    await page.getByRole('button', { name: 'Open ops/deploy-key' }).waitFor();
    const search = page.getByRole('form', { name: 'Search secrets' });
    const shown = () =>
      page
        .getByRole('table', { name: 'Secrets' })
        .getByRole('button', { name: /^Open / })
        .allTextContents();
    await search.getByLabel('Contains').fill('/api');
    await search.getByRole('button', { name: 'Search' }).click();
    await expect.poll(shown).toEqual(['billing/api-token']);
    await search.getByLabel('Contains').fill('');
    await search.getByLabel('Tags').fill('env=prod');
    await search.getByRole('button', { name: 'Search' }).click();
    await expect.poll(async () => (await shown()).sort()).toEqual(['billing/db-password', 'ops/deploy-key']);
    // A tag without "=": the search is not sent, and the alert says how to write one.
    await search.getByLabel('Tags').fill('prod');
    await search.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('alert').filter({ hasText: 'write each tag as key=value, e.g. env=prod' }).waitFor();
    await search.getByLabel('Tags').fill('env=prod team=ops');
    await search.getByRole('button', { name: 'Search' }).click();
    await expect.poll(shown).toEqual(['ops/deploy-key']);
    await search.getByLabel('Contains').fill('billing');
    await search.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No secret matches the search.').waitFor();
    await expectClean(page, 'secrets search');
    // The env store cannot search by substring: the API's words are shown.
    await search.getByLabel('Tags').fill('');
    await search.getByLabel('Store').selectOption('env');
    await search.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('alert').filter({ hasText: 'cannot search names by substring' }).waitFor();
  });

  it('no stored or typed secret value reached the page in any API response', () => {
    expect(responses.length).toBeGreaterThan(10);
    for (const r of responses) {
      for (const v of CANARIES) expect(r.body, `${r.url} carried a value`).not.toContain(v);
    }
  });
});
