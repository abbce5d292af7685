import type { Command } from '../command.js';
import type { Organization } from '../context.js';
import { UsageError } from '../errors.js';
import { table } from '../table.js';

export const orgsCreate: Command = {
  name: 'orgs create',
  usage: 'orgs create <slug> --name <name>',
  summary: 'Create an organization (its slug is the AMQP username of its keys)',
  options: { name: { type: 'string' } },
  async run(ctx, { values, positionals }) {
    const [slug, ...rest] = positionals;
    if (slug === undefined || rest.length > 0) throw new UsageError('give exactly one slug');
    if (typeof values.name !== 'string') throw new UsageError('--name is required');
    const org = await ctx.client.request<Organization>('POST', '/api/v1/admin/organizations', { body: { slug, name: values.name } });
    if (ctx.json) return ctx.printJson(org);
    ctx.print(table(['ID', 'SLUG', 'NAME', 'CREATED'], [[org.id, org.slug, org.name, org.createdAt]]));
  },
};

export const orgsList: Command = {
  name: 'orgs list',
  usage: 'orgs list',
  summary: 'List organizations (newest first)',
  options: {},
  async run(ctx, { positionals }) {
    if (positionals.length > 0) throw new UsageError('orgs list takes no arguments');
    const orgs = await ctx.orgs();
    if (ctx.json) return ctx.printJson(orgs);
    ctx.print(
      table(
        ['ID', 'SLUG', 'NAME', 'CREATED'],
        orgs.map((o) => [o.id, o.slug, o.name, o.createdAt]),
      ),
    );
  },
};
