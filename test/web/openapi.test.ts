/**
 * The UI's client types come from web/src/api/openapi.json (npm run web:api): it must be the
 * document the server serves now, or the types describe an API that no longer exists.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, type Sesame, startSesame } from './helpers.js';

let sesame: Sesame;
beforeAll(async () => {
  sesame = await startSesame();
});
afterAll(async () => {
  await sesame?.stop();
});

it('the committed openapi.json is the document the server serves (else run npm run web:api)', async () => {
  const served = await (await fetch(`${sesame.url}/api/v1/openapi.json`)).json();
  const committed = JSON.parse(readFileSync(path.join(ROOT, 'web/src/api/openapi.json'), 'utf8'));
  expect(served, 'web/src/api/openapi.json is out of date: npm run build && npm run web:api').toEqual(
    committed,
  );
});
