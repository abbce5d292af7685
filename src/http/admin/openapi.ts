// The OpenAPI 3.1 document, generated from the route descriptions and their zod schemas
// (the same objects that validate requests), never kept by hand.
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import { impliedErrors, defineRoute, type AnyRoute } from './route.js';
import { API_ROUTES } from './routes/index.js';
import { ErrorEnvelope } from './schemas.js';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(route: AnyRoute): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const m of route.path.matchAll(/:([A-Za-z0-9_]+)/g)) {
    out.push({ name: m[1], in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
  }
  if (route.access === 'org') {
    out.push({ name: 'x-org-id', in: 'header', required: true, description: 'Organization the call acts on', schema: { type: 'string', format: 'uuid' } });
  }
  if (route.query) {
    // Query values are strings on the wire; the parsed (output) form says what they mean
    // (integer ranges, enums), the input form which ones may be left out.
    type Obj = { properties?: Record<string, JsonSchema>; required?: string[] };
    const input = jsonSchema(route.query, 'input') as Obj;
    const output = jsonSchema(route.query, 'output') as Obj;
    for (const [name, schema] of Object.entries(output.properties ?? {})) {
      const { description, ...rest } = schema;
      out.push({ name, in: 'query', required: input.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
    }
  }
  return out;
}

function errorCodes(route: AnyRoute): ErrorCode[] {
  const codes = new Set<ErrorCode>([...impliedErrors(route.access), ...route.errors]);
  if (route.body) codes.add('VALIDATION_ERROR').add('PAYLOAD_TOO_LARGE');
  if (route.access !== 'public') codes.add('INTERNAL_SERVER_ERROR');
  return [...codes];
}

function responses(route: AnyRoute): Record<string, JsonSchema> {
  const s = route.success;
  const out: Record<string, JsonSchema> = {
    [String(s.status)]: {
      description: s.description,
      content: { [s.contentType ?? 'application/json']: { schema: s.schema ? jsonSchema(s.schema, 'output') : { type: 'string' } } },
    },
  };
  for (const extra of route.alsoAnswers ?? []) out[String(extra.status)] = { ...out[String(s.status)], description: extra.description };
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorCodes(route)) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: `Error envelope; code: ${codes.join(', ')}`,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } },
    };
  }
  return out;
}

function operation(route: AnyRoute): JsonSchema {
  const op: JsonSchema = {
    operationId: `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
    summary: route.summary,
    tags: [route.tag],
    security: route.access === 'public' ? [] : [{ bearerAuth: [] }],
    parameters: parameters(route),
    responses: responses(route),
  };
  if (route.body) {
    op.requestBody = {
      required: !route.body.safeParse(undefined).success,
      content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
    };
  }
  return op;
}

export function buildOpenApiDocument(routes: readonly AnyRoute[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const p = openApiPath(route.path);
    (paths[p] ??= {})[route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'voke-auth admin API',
      version: '1',
      description:
        'Organizations, partner API keys and their audit log. Errors always use the envelope ' +
        '{code, details, error, message, statusCode}. Request bodies are limited to 64 KiB; unknown fields are rejected.',
    },
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'A token from ADMIN_TOKENS, or an HS256 JWT signed with JWT_SECRET' },
      },
      schemas: { ErrorEnvelope: jsonSchema(ErrorEnvelope, 'output') },
    },
    paths,
  };
}

let cached: JsonSchema | undefined;

export const openApiRoute: AnyRoute = defineRoute({
  method: 'get',
  path: '/openapi.json',
  summary: 'This document',
  tag: 'Operations',
  access: 'public',
  success: { status: 200, description: 'OpenAPI 3.1 document', schema: z.record(z.string(), z.unknown()) },
  errors: [],
  async handle({ c }) {
    cached ??= buildOpenApiDocument(ADMIN_ROUTES);
    return c.json(cached, 200);
  },
});

/** Every route of the admin listener. */
export const ADMIN_ROUTES: readonly AnyRoute[] = [...API_ROUTES, openApiRoute];
