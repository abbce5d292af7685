import { brokerUserNames } from '../../../broker/definitions.js';
import { insertOrganization, listOrganizations } from '../../../store/organizations.js';
import { pageOf as page } from '../../../store/rows.js';
import { ApiError } from '../errors.js';
import { defineRoute } from '../route.js';
import { CreateOrganizationBody, Organization, PageQuery, pageOf } from '../schemas.js';

export const createOrganizationRoute = defineRoute({
  method: 'post',
  path: '/api/v1/admin/organizations',
  summary: 'Create an organization (its slug is the AMQP username of its keys)',
  tag: 'Admin',
  access: 'super-admin',
  body: CreateOrganizationBody,
  success: { status: 201, description: 'Created', schema: Organization },
  errors: ['VALIDATION_ERROR', 'CONFLICT'],
  async handle({ c, deps, body }) {
    // The broker asks its internal backend first: a slug equal to a broker user would log in as it.
    if (brokerUserNames().has(body.slug)) {
      throw new ApiError('CONFLICT', `Slug "${body.slug}" is reserved (a broker user of definitions.json)`, { field: 'slug', reason: 'reserved' });
    }
    const org = await insertOrganization(deps.sql, body);
    if (org === undefined) throw new ApiError('CONFLICT', `Slug "${body.slug}" is taken`, { field: 'slug', reason: 'taken' });
    deps.log.info({ organizationId: org.id, slug: org.slug, actorId: c.get('principal').userId }, 'organization created');
    return c.json(org, 201);
  },
});

export const listOrganizationsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/admin/organizations',
  summary: 'List organizations (newest first)',
  tag: 'Admin',
  access: 'super-admin',
  query: PageQuery,
  success: { status: 200, description: 'A page of organizations', schema: pageOf(Organization) },
  errors: ['VALIDATION_ERROR'],
  async handle({ c, deps, query }) {
    const { rows, total } = await listOrganizations(deps.sql, query);
    return c.json(page(rows, total, query), 200);
  },
});
