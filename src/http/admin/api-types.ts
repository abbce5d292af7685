// The admin API's shapes as TypeScript types, derived from the zod schemas the routes validate
// and document with (schemas.ts): what the routes answer and what the CLI reads. Types only, so
// the CLI pulls in no server code.
import type { z } from '@hono/zod-openapi';
import type * as S from './schemas.js';

export type Organization = z.output<typeof S.Organization>;
export type User = z.output<typeof S.Creator>;
/** A key as the lists answer it. */
export type ApiKey = z.output<typeof S.ApiKey>;
/** GET of one key: a list entry plus its AMQP connection values (<API_KEY> in the URI; null for a REST-only key). */
export type ApiKeyDetail = z.output<typeof S.ApiKeyDetail>;
export type AuditEvent = z.output<typeof S.AuditEvent>;
/** POST /api-keys: the only answer that ever holds the key. */
export type MintResult = z.output<typeof S.CreateApiKeyResponse>;
export type PageMeta = z.output<typeof S.PageMeta>;
