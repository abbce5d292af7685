import type postgres from 'postgres';

/** The pool or a transaction: store functions that must join a caller's transaction take this. */
export type Queryable = postgres.ISql<{}>;
