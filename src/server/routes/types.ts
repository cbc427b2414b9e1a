/**
 * The store and connection types this server knows, described from their own schemas: the admin
 * UI builds its forms from these (an auth method's fields appear when it is chosen; credential
 * settings are write-only), so a new type needs no UI code.
 */
import { z } from 'zod';
import { jsonSchema } from '../openapi.js';
import { type AnyRoute, route } from '../route.js';
import type { ServerServices } from '../services.js';

const storeType = z.object({
  type: z.string(),
  capabilities: z.record(z.string(), z.boolean()),
  settings: z.record(z.string(), z.unknown()).describe('JSON Schema (2020-12) of the settings as sent'),
  secretSettings: z.array(z.string()).describe('dotted paths of the settings that hold credentials (write-only)'),
});

const connectionType = z.object({
  type: z.string(),
  description: z.string(),
  fields: z.record(z.string(), z.unknown()).describe('JSON Schema (2020-12) of the resolved fields'),
  secretFields: z.array(z.string()).describe('dotted paths of the fields whose values are secret'),
  testable: z.boolean().describe('connections test authenticates against the target'),
});

export function typeRoutes(services: ServerServices): AnyRoute[] {
  const { sesame } = services;
  const manage = { roles: ['admin', 'operator'] as const };
  return [
    route({
      method: 'GET',
      path: '/store-types',
      summary: 'Store types: capabilities, the JSON Schema of their settings, and which settings are credentials',
      tag: 'stores',
      access: manage,
      response: z.object({ items: z.array(storeType) }),
      handler: async () => ({
        items: sesame.registry.types().map((name) => {
          const t = sesame.registry.get(name);
          return {
            type: t.type,
            capabilities: { ...t.capabilities },
            settings: jsonSchema(t.settings, 'input'),
            secretSettings: [...(t.secretSettings ?? [])],
          };
        }),
      }),
    }),
    route({
      method: 'GET',
      path: '/connection-types',
      summary: 'Connection types: the JSON Schema of their fields and which fields are secret',
      tag: 'connections',
      access: manage,
      response: z.object({ items: z.array(connectionType) }),
      handler: async () => ({
        items: sesame.connectionTypes.types().map((name) => {
          const t = sesame.connectionTypes.get(name);
          return {
            type: t.type,
            description: t.description,
            fields: jsonSchema(t.fields, 'input'),
            secretFields: [...t.secretFields],
            testable: typeof t.authenticate === 'function',
          };
        }),
      }),
    }),
  ];
}
