/**
 * `feat-emulator export --user NAME [--out FILE]` — one user's data as NDJSON (the format of `client.exportData`),
 * from a running emulator (`--couch-url`, with its `--secret` or a `--bearer`) or from an emulator's data directory
 * (`--data DIR`: an emulator is started in this process on that directory, then stopped). Node only.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { createFeatClient, type FeatClientOptions, type ProgressEvent } from '../index.js';
import { proxyToken, startEmulator, userDbName, type Emulator } from '../emulator/index.js';
import { monotonicNow } from '../util/clock.js';

export const EXPORT_USAGE = `Usage: feat-emulator export --user NAME [options]

Writes the user's data as NDJSON (a header line, then one line per key) to stdout or --out.

  --user NAME         whose data (required)
  --out FILE          write to FILE instead of stdout
  --data DIR          read the emulator data directory DIR (starts an emulator here; stop the other one first)
  --couch-url URL     a running emulator's CouchDB URL (default http://127.0.0.1:5984)
  --secret S          that emulator's proxy-auth secret (as given to feat-emulator --secret)
  --bearer B          or: a bearer for the user (as printed by feat-emulator), used with --accounts-url
  --accounts-url URL  the running emulator's accounts URL (default: --couch-url's port + 1)
  --progress          always draw the progress bar on stderr (default: only when stderr is a terminal)
  --quiet             no progress bar
  -h, --help          show this help
`;

export interface ExportArgs {
  user: string;
  out: string | undefined;
  data: string | undefined;
  couchUrl: string;
  accountsUrl: string | undefined;
  secret: string | undefined;
  bearer: string | undefined;
  progress: boolean | undefined;
  help: boolean;
}

export function parseExportArgs(argv: string[]): ExportArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      user: { type: 'string' },
      out: { type: 'string' },
      data: { type: 'string' },
      'couch-url': { type: 'string' },
      'accounts-url': { type: 'string' },
      secret: { type: 'string' },
      bearer: { type: 'string' },
      progress: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const help = values.help === true;
  if (!help && !values.user) throw new Error('--user is required');
  if (values.data !== undefined && (values['couch-url'] !== undefined || values.secret !== undefined || values.bearer !== undefined)) {
    throw new Error('--data starts its own emulator: do not combine it with --couch-url, --secret or --bearer');
  }
  if (!help && values.data === undefined && values.secret === undefined && values.bearer === undefined) {
    throw new Error('Pass --data DIR, or the running emulator\'s --secret (or a --bearer for the user)');
  }
  return {
    user: values.user ?? '',
    out: values.out,
    data: values.data,
    couchUrl: (values['couch-url'] ?? 'http://127.0.0.1:5984').replace(/\/+$/, ''),
    accountsUrl: values['accounts-url'],
    secret: values.secret,
    bearer: values.bearer,
    progress: values.quiet ? false : values.progress ? true : undefined,
    help,
  };
}

/** `[########............]  40%  120/300 keys` */
export function progressBar(event: ProgressEvent, width = 24): string {
  const label = event.phase === 'scan' ? 'scanning' : 'exporting';
  const ratio = event.total > 0 ? Math.min(1, event.done / event.total) : event.phase === 'scan' ? 0 : 1;
  const filled = Math.round(ratio * width);
  const pct = String(Math.round(ratio * 100)).padStart(3);
  return `${label.padEnd(9)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}%  ${event.done}/${event.total} ${event.phase === 'scan' ? 'documents' : 'keys'}`;
}

function clientOptions(args: ExportArgs, emu: Emulator | undefined): FeatClientOptions {
  const base = { mode: 'remote' as const, maintenance: { enabled: false } };
  if (emu) {
    return { ...base, couchUrl: emu.couchUrl, session: { dbName: userDbName(args.user), headers: emu.couchHeadersFor(args.user), userName: args.user } };
  }
  if (args.secret !== undefined) {
    const headers = { 'X-Auth-CouchDB-UserName': args.user, 'X-Auth-CouchDB-Token': proxyToken(args.secret, args.user) };
    return { ...base, couchUrl: args.couchUrl, session: { dbName: userDbName(args.user), headers, userName: args.user } };
  }
  const couch = new URL(args.couchUrl);
  const accountsUrl = args.accountsUrl ?? `${couch.protocol}//${couch.hostname}:${Number(couch.port || 80) + 1}`;
  return { ...base, couchUrl: args.couchUrl, accountsUrl, auth: args.bearer! };
}

/** Why the user's database cannot be exported (it does not exist, the server is out of reach), or undefined. */
async function noDatabase(couchUrl: string, session: { dbName: string; headers: Record<string, string>; userName?: string | undefined }): Promise<string | undefined> {
  const url = `${couchUrl}/${encodeURIComponent(session.dbName)}`;
  try {
    const response = await fetch(url, { headers: { ...session.headers, Accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
    await response.body?.cancel();
    if (response.status !== 404) return undefined;
    return `user "${session.userName ?? ''}" has no database here (${session.dbName}): check the user name; nothing was exported`;
  } catch (error) {
    return `${url} did not answer (${(error as Error).message}): is the server running?`;
  }
}

async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/** Runs the subcommand; returns the exit code. */
export async function exportCommand(argv: string[]): Promise<number> {
  let args: ExportArgs;
  try {
    args = parseExportArgs(argv);
  } catch (error) {
    process.stderr.write(`feat-emulator export: ${(error as Error).message}\n\n${EXPORT_USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(EXPORT_USAGE);
    return 0;
  }
  const showProgress = args.progress ?? process.stderr.isTTY === true;
  const emu = args.data === undefined ? undefined : await startEmulator({ port: 0, dataDir: args.data });
  const options = clientOptions(args, emu);
  // An export reads; it never creates the account the SDK's start would sign up (a user name mistyped).
  const missing = options.session ? await noDatabase(options.couchUrl, options.session) : undefined;
  if (missing !== undefined) {
    process.stderr.write(`feat-emulator export: ${missing}\n`);
    await emu?.stop();
    return 1;
  }
  const client = createFeatClient(options);
  const out: Writable = args.out === undefined ? process.stdout : createWriteStream(args.out);
  let drawn = '';
  let lastDraw = 0;
  const draw = (event: ProgressEvent, force = false) => {
    if (!showProgress) return;
    const now = monotonicNow();
    const bar = progressBar(event);
    if (bar === drawn || (!force && now - lastDraw < 100 && event.done !== event.total)) return;
    drawn = bar;
    lastDraw = now;
    process.stderr.write(`\r${bar}`);
  };
  let keys = 0;
  try {
    const lines = await client.exportData({ format: 'lines', onProgress: (event) => draw(event) });
    for await (const line of lines) {
      await write(out, `${line}\n`);
      keys++;
    }
    if (out !== process.stdout) {
      out.end();
      await once(out, 'finish');
    }
    if (showProgress) process.stderr.write('\n');
    process.stderr.write(`feat-emulator export: ${Math.max(0, keys - 1)} keys of "${args.user}"${args.out ? ` written to ${args.out}` : ''}\n`);
    return 0;
  } catch (error) {
    if (showProgress && drawn) process.stderr.write('\n');
    const e = error as { code?: string; message?: string };
    process.stderr.write(`feat-emulator export: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}\n`);
    if (out !== process.stdout) out.destroy();
    return 1;
  } finally {
    await client.close();
    await emu?.stop();
  }
}
