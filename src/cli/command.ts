import type { ParseArgsConfig } from 'node:util';
import type { Ctx } from './context.js';

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** One `voke-auth <group> <verb>` command. --json and --help are added to every one. */
export interface Command {
  name: string;
  usage: string;
  summary: string;
  /** Extra lines for --help (options explained). */
  details?: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Returns the exit code, or nothing for 0. */
  run(ctx: Ctx, args: Parsed): Promise<number | void>;
}
