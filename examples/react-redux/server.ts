/**
 * Node side of the example: the emulator, and a web server for the app that also answers `/config.json?user=<name>`
 * with the emulator's URLs and a bearer for that user (standing in for the app's login).
 *
 * - `mode: 'dev'`: Vite's dev server (hot reload), for `npm run example`.
 * - `mode: 'build'`: `vite build`, then a small static server over the output, as an app is deployed (the e2e test).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { startEmulator, type Emulator } from '@feat/emulator';

export const EXAMPLE_ROOT = fileURLToPath(new URL('.', import.meta.url));
const CONFIG_FILE = join(EXAMPLE_ROOT, 'vite.config.ts');

export interface ExampleOptions {
  /** `'dev'`: Vite dev server; `'build'`: build, then serve the output. @default 'dev' */
  mode?: 'dev' | 'build';
  /** Web server port; 0 picks a free one. @default 5173 */
  port?: number;
  /** Emulator CouchDB port (accounts and REST on the next two); 0 picks free ones. @default 5984 */
  emulatorPort?: number;
  /** Interface for both. @default '127.0.0.1' */
  host?: string;
  /** Where `mode: 'build'` writes the app. @default examples/react-redux/dist */
  outDir?: string;
  /** Emulator request log on stderr. @default false */
  log?: boolean;
}

export interface RunningExample {
  /** The app's base URL, e.g. `http://127.0.0.1:5173`. */
  readonly url: string;
  readonly emulator: Emulator;
  /** The built files (`mode: 'build'`). */
  readonly build?: BuildReport;
  /** The app's URL for one device of one user. */
  deviceUrl(user: string, device: string): string;
  close(): Promise<void>;
}

export interface BuildReport {
  outDir: string;
  files: { file: string; bytes: number; gzip: number }[];
  /** JavaScript loaded by the page up front (the entry and what it imports statically), raw and gzipped. */
  totalJs: { bytes: number; gzip: number };
}

/** `GET /config.json?user=…` → `{ couchUrl, accountsUrl, auth }`; anything else: not handled. */
function configHandler(emulator: Emulator) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/config.json') return false;
    const user = url.searchParams.get('user') || 'alice';
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ couchUrl: emulator.couchUrl, accountsUrl: emulator.accountsUrl, auth: emulator.bearerFor(user) }));
    return true;
  };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

/** Serves `dir` (index.html for unknown paths) and `/config.json`. */
export async function serveStatic(dir: string, emulator: Emulator, port: number, host: string): Promise<Server> {
  const config = configHandler(emulator);
  const server = createServer((req, res) => {
    if (config(req, res)) return;
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      let file = normalize(join(dir, path));
      if (file !== dir && !file.startsWith(dir.endsWith(sep) ? dir : dir + sep)) file = join(dir, 'index.html');
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) file = join(dir, 'index.html');
      try {
        const body = await readFile(file);
        const immutable = relative(dir, file).startsWith('assets' + sep);
        res.writeHead(200, {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        });
        res.end(body);
      } catch {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** `vite build` of the example into `outDir`, with no configuration beyond `vite.config.ts`. */
export async function buildExample(outDir = join(EXAMPLE_ROOT, 'dist')): Promise<BuildReport> {
  const { build } = await import('vite');
  // Vite takes production-ness from NODE_ENV when it is set (vitest sets it to 'test', which would bundle React's
  // development build): a production build is what is measured and tested.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: CONFIG_FILE, mode: 'production', logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  const files: BuildReport['files'] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else {
        const body = await readFile(full);
        files.push({ file: relative(outDir, full), bytes: body.byteLength, gzip: gzipSync(new Uint8Array(body), { level: 9 }).byteLength });
      }
    }
  };
  await walk(outDir);
  // What index.html loads: its entry script and the chunks that entry imports statically (modulepreload links).
  const html = await readFile(join(outDir, 'index.html'), 'utf8');
  const upFront = new Set([...html.matchAll(/(?:src|href)="\/([^"]+\.js)"/g)].map((m) => m[1]!.split('/').join(sep)));
  const js = files.filter((f) => upFront.has(f.file));
  const totalJs = { bytes: js.reduce((n, f) => n + f.bytes, 0), gzip: js.reduce((n, f) => n + f.gzip, 0) };
  return { outDir, files, totalJs };
}

export async function startExample(options: ExampleOptions = {}): Promise<RunningExample> {
  const { mode = 'dev', port = 5173, emulatorPort = 5984, host = '127.0.0.1', log = false } = options;
  const emulator = await startEmulator({ port: emulatorPort, host, log });
  try {
    let url: string;
    let close: () => Promise<void>;
    let report: BuildReport | undefined;
    if (mode === 'build') {
      report = await buildExample(options.outDir);
      const server = await serveStatic(report.outDir, emulator, port, host);
      url = `http://${host}:${(server.address() as AddressInfo).port}`;
      close = () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
    } else {
      const { createServer: createViteServer } = await import('vite');
      const config = configHandler(emulator);
      const vite = await createViteServer({
        configFile: CONFIG_FILE,
        server: { port, host, strictPort: port !== 0 },
        plugins: [
          {
            name: 'feat-example-config',
            configureServer(server) {
              server.middlewares.use((req, res, next) => {
                if (!config(req, res)) next();
              });
            },
          },
        ],
      });
      await vite.listen();
      const address = vite.httpServer?.address() as AddressInfo;
      url = `http://${host}:${address.port}`;
      close = () => vite.close();
    }
    return {
      url,
      emulator,
      ...(report ? { build: report } : {}),
      deviceUrl: (user, device) => `${url}/?user=${encodeURIComponent(user)}&device=${encodeURIComponent(device)}`,
      async close() {
        await close();
        await emulator.stop();
      },
    };
  } catch (error) {
    await emulator.stop();
    throw error;
  }
}
