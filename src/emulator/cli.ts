#!/usr/bin/env node
/**
 * `feat-emulator` — runs the local backend emulator until Ctrl-C.
 *
 *   feat-emulator [--port 5984] [--accounts-port N] [--api-port N] [--host 127.0.0.1] [--data DIR]
 *                 [--secret S] [--max-request-bytes N] [--max-document-bytes N] [--peruser-delay-ms N]
 *                 [--peruser-admin-only-ms N]
 *                 [--profile emulator|couchdb] [--max-request-records N] [--user NAME] [--quiet]
 *
 *   feat-emulator export --user NAME [--out FILE] [--data DIR | --couch-url URL --secret S] [--progress|--quiet]
 *
 * Subcommands are dispatched from `main` on the first argument.
 */
import { parseArgs } from 'node:util';
import { startEmulator } from './index.js';
import type { Emulator, EmulatorOptions } from './index.js';
import { PROFILES } from './fidelity.js';
import type { Profile } from './fidelity.js';

const USAGE = `Usage: feat-emulator [options]

  --port N                CouchDB port (default 5984; 0 = free port)
  --accounts-port N       accounts service port (default port+1)
  --api-port N            REST API port (default port+2)
  --host HOST             interface to listen on (default 127.0.0.1)
  --data DIR              keep data on disk in DIR (default: in memory)
  --secret S              proxy-auth secret (default: random)
  --max-request-bytes N   proxy body limit, 0 = none (default 1048576)
  --max-document-bytes N  CouchDB document limit (default 8000000)
  --peruser-delay-ms N    delay before a new user's database appears (default 50)
  --peruser-admin-only-ms N  how long a new user's database answers the user 403
                          (default 5-60 ms under --profile couchdb, else 0)
  --profile P             emulator (fast, lenient; default) or couchdb (real
                          CouchDB 3.4 timing, sign-up 403 window and quirks)
  --max-request-records N request records kept in memory (default 10000)
  --user NAME             user of the printed demo bearer (default demo)
  --quiet                 do not log requests
  -h, --help              show this help

Commands:
  export --user NAME      write a user's data as NDJSON (feat-emulator export --help)
`;

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

export function parseCli(argv: string[]): { options: EmulatorOptions; user: string; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      'accounts-port': { type: 'string' },
      'api-port': { type: 'string' },
      host: { type: 'string' },
      data: { type: 'string' },
      secret: { type: 'string' },
      'max-request-bytes': { type: 'string' },
      'max-document-bytes': { type: 'string' },
      'peruser-delay-ms': { type: 'string' },
      'peruser-admin-only-ms': { type: 'string' },
      profile: { type: 'string' },
      'max-request-records': { type: 'string' },
      user: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const options: EmulatorOptions = {
    port: integer('port', values.port) ?? 5984,
    log: values.quiet !== true,
  };
  const set = <K extends keyof EmulatorOptions>(key: K, value: EmulatorOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set('accountsPort', integer('accounts-port', values['accounts-port']));
  set('apiPort', integer('api-port', values['api-port']));
  set('host', values.host);
  set('dataDir', values.data);
  set('secret', values.secret);
  set('maxRequestBytes', integer('max-request-bytes', values['max-request-bytes']));
  set('maxDocumentBytes', integer('max-document-bytes', values['max-document-bytes']));
  set('peruserDelayMs', integer('peruser-delay-ms', values['peruser-delay-ms']));
  set('peruserAdminOnlyMs', integer('peruser-admin-only-ms', values['peruser-admin-only-ms']));
  set('maxRequestRecords', integer('max-request-records', values['max-request-records']));
  if (values.profile !== undefined) {
    if (!(PROFILES as readonly string[]).includes(values.profile)) throw new Error(`--profile must be one of ${PROFILES.join(', ')}, got "${values.profile}"`);
    options.profile = values.profile as Profile;
  }
  return { options, user: values.user ?? 'demo', help: values.help === true };
}

function banner(emu: Emulator, user: string): string {
  return [
    'feat emulator running',
    `  couchUrl:    ${emu.couchUrl}`,
    `  accountsUrl: ${emu.accountsUrl}`,
    `  apiUrl:      ${emu.apiUrl}`,
    `  profile:     ${emu.profile}`,
    `  bearer for "${user}": ${emu.bearerFor(user)}`,
    '',
    `  try: curl -H 'Authorization: ${emu.bearerFor(user)}' ${emu.accountsUrl}/couchdb/token/`,
    'Ctrl-C to stop.',
  ].join('\n');
}

/** Subcommands (`feat-emulator <command> …`); running the emulator is the default. Each loads on use. */
const COMMANDS: Record<string, ((argv: string[]) => Promise<number>) | undefined> = {
  export: async (argv) => (await import('../export/cli.js')).exportCommand(argv),
};

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first !== undefined && !first.startsWith('-')) {
    const command = COMMANDS[first];
    if (!command) {
      process.stderr.write(`feat-emulator: unknown command "${first}"\n\n${USAGE}`);
      return 2;
    }
    return command(rest);
  }
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const emu = await startEmulator(parsed.options);
  process.stdout.write(`${banner(emu, parsed.user)}\n`);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      process.stderr.write(`\n${signal}: stopping…\n`);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      emu.stop().then(resolve, resolve);
    };
    const onInt = () => shutdown('SIGINT');
    const onTerm = () => shutdown('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  return 0;
}

const invokedDirectly = (() => {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  return /(^|[\\/])(cli\.(ts|js|mjs)|feat-emulator)$/.test(entry);
})();

if (invokedDirectly) {
  // Last resort: an exception thrown asynchronously inside PouchDB while it serves one request (the emulator validates
  // what it knows to crash it, but a library may hold more) is logged, and the emulator keeps serving every other user
  // instead of exiting. The request it came from may stay unanswered.
  const survive = (kind: string) => (err: unknown) => {
    process.stderr.write(`feat-emulator: ${kind} (the emulator keeps running): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  };
  process.on('uncaughtException', survive('uncaught exception'));
  process.on('unhandledRejection', survive('unhandled rejection'));
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`feat-emulator: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
