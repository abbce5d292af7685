import postgres from 'postgres';

export type Sql = postgres.Sql<{}>;

export interface Database {
  sql: Sql;
  url: string;
  close(): Promise<void>;
}

export function connect(url: string, options: { max?: number } = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: 5,
    idle_timeout: 60,
    onnotice: () => {},
    // Rows come back camelCase (organization_id → organizationId) and sql(obj) helpers write
    // camelCase keys to snake_case columns. Column names only: JSON values (audit details) are
    // returned as stored.
    transform: { column: { from: postgres.toCamel, to: postgres.fromCamel } },
    // Keep the admin API's answers in UTC ISO form; timestamps come back as Date.
    connection: { application_name: 'voke-auth', TimeZone: 'UTC' },
  });
}
