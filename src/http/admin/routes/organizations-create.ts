import { createRoute, type RouteHandler } from '@hono/zod-openapi';
import { brokerUserNames } from '../../../broker/definitions.js';
import { insertOrganization } from '../../../store/organizations.js';
import type { AdminEnv } from '../auth.js';
import { ApiError } from '../errors.js';
import { ACCESS, BODY_ERRORS, errorResponses, json, jsonBody, withBody } from '../openapi.js';
import { CreateOrganizationBody, Organization } from '../schemas.js';

export const route = createRoute({
  method: 'post',
  path: '/api/v1/admin/organizations',
  summary: 'Create an organization (its slug is the AMQP username of its keys)',
  tags: ['Admin'],
  security: ACCESS.superAdmin.security,
  middleware: withBody(ACCESS.superAdmin.middleware),
  request: { body: jsonBody(CreateOrganizationBody) },
  responses: {
    201: json(Organization, 'Created'),
    ...errorResponses(ACCESS.superAdmin.errors, ['CONFLICT'], BODY_ERRORS),
  },
});

export const handler: RouteHandler<typeof route, AdminEnv> = async (c) => {
  const deps = c.get('deps');
  const body = c.req.valid('json');
  // The broker asks its internal backend first: a slug equal to a broker user would log in as it.
  if (brokerUserNames().has(body.slug)) {
    throw new ApiError('CONFLICT', `Slug "${body.slug}" is reserved (a broker user of definitions.json)`, { field: 'slug', reason: 'reserved' });
  }
  const org = await insertOrganization(deps.sql, body);
  if (org === undefined) throw new ApiError('CONFLICT', `Slug "${body.slug}" is taken`, { field: 'slug', reason: 'taken' });
  deps.log.info({ organizationId: org.id, slug: org.slug, actorId: c.get('principal').userId }, 'organization created');
  return c.json(org, 201);
};
