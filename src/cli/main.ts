// voke-auth: the admin scripts' command, a client of the admin API (docs/admin.md).
// Exit 0 ok, 1 failure (one-line reason on stderr), 2 usage error.
import { parseArgs } from 'node:util';
import { AdminClient } from './client.js';
import type { Command } from './command.js';
import { audit } from './commands/audit.js';
import { keysImport, keysList, keysMint, keysRevoke, keysRotate, keysShow, keysUpdate } from './commands/keys.js';
import { orgsCreate, orgsList } from './commands/orgs.js';
import { type Io, makeCtx } from './context.js';
import { CliFailure, oneLine, UsageError } from './errors.js';

export const COMMANDS: readonly Command[] = [orgsCreate, orgsList, keysMint, keysList, keysShow, keysUpdate, keysRotate, keysRevoke, keysImport, audit];
const GROUPS = new Set(COMMANDS.map((c) => c.name.split(' ')[0]!));
const DEFAULT_URL = 'http://127.0.0.1:8081';
const DEFAULT_TIMEOUT_MS = 60_000; // a mint with a broker self-test takes seconds

export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return (
    'Usage: voke-auth <command> [options] [--json] [--help]\n\n' +
    'Commands:\n' +
    COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n') +
    '\n\n' +
    'Environment:\n' +
    `  VOKE_AUTH_URL    admin listener (default ${DEFAULT_URL})\n` +
    '  VOKE_AUTH_TOKEN  bearer token (a super-admin token of ADMIN_TOKENS)\n\n' +
    'Every command takes --json (standard output is exactly the JSON) and --help.\n' +
    'Exit status: 0 ok, 1 failure (reason on standard error), 2 usage error.\n'
  );
}

function commandHelp(c: Command): string {
  return `Usage: voke-auth ${c.usage} [--json]\n\n${c.summary}.\n${c.details ? `\n${c.details}\n` : ''}`;
}

/** Picks the command from the first words; returns it with the words left for parseArgs. */
function findCommand(argv: string[]): { command: Command | undefined; rest: string[]; group: string | undefined } {
  const [group, verb] = argv;
  if (group === undefined || group.startsWith('-')) return { command: undefined, rest: argv, group: undefined };
  const single = COMMANDS.find((c) => c.name === group);
  if (single) return { command: single, rest: argv.slice(1), group };
  const command = verb === undefined ? undefined : COMMANDS.find((c) => c.name === `${group} ${verb}`);
  return { command, rest: argv.slice(command ? 2 : 1), group };
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { command, rest, group } = findCommand(argv);
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  if (command === undefined) {
    if (group !== undefined && GROUPS.has(group) && (wantsHelp || rest.length === 0)) {
      const help = COMMANDS.filter((c) => c.name.startsWith(`${group} `))
        .map(commandHelp)
        .join('\n');
      if (wantsHelp) io.stdout(help);
      else io.stderr(help);
      return wantsHelp ? 0 : 2;
    }
    if (group === undefined && wantsHelp) {
      io.stdout(overview());
      return 0;
    }
    io.stderr(group === undefined ? overview() : `voke-auth: unknown command "${oneLine(argv.slice(0, 2).join(' '))}" (see voke-auth --help)\n`);
    return 2;
  }
  if (wantsHelp) {
    io.stdout(commandHelp(command));
    return 0;
  }

  let json = rest.includes('--json');
  try {
    const parsed = parseArgs({
      args: rest,
      options: { ...command.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    json = parsed.values.json === true;
    const client = new AdminClient({
      baseUrl: io.env.VOKE_AUTH_URL || DEFAULT_URL,
      token: io.env.VOKE_AUTH_TOKEN,
      timeoutMs: Number(io.env.VOKE_AUTH_TIMEOUT_MS) || DEFAULT_TIMEOUT_MS,
    });
    const code = await command.run(makeCtx(client, io, json), parsed as Parameters<Command['run']>[1]);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`voke-auth ${command.name}: ${oneLine((err as Error).message)}\nUsage: voke-auth ${command.usage}\n`);
      return 2;
    }
    if (err instanceof CliFailure) {
      io.stderr(`voke-auth ${command.name}: ${oneLine(err.message)}\n`);
      for (const line of err.extraLines) io.stderr(`  ${oneLine(line)}\n`);
      return 1;
    }
    // A bug: say so in one line, never a stack with request data in it.
    io.stderr(`voke-auth ${command.name}: internal error: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    return 1;
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/** The process entry (bin/voke-auth.js). */
export async function main(): Promise<void> {
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  const code = await run(process.argv.slice(2), {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    readStdin: () => {
      if (process.stdin.isTTY) process.stderr.write('Paste the keys, one per line, then Ctrl-D:\n');
      return readAll(process.stdin);
    },
    env: process.env,
    signal: stop.signal,
  });
  process.exitCode = code;
}
