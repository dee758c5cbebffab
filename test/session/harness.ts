/**
 * Shared helpers for the session and transport suites: a recording `fetch` wrapper (the client's `fetch` option),
 * unique user names, and small assertion helpers. Everything goes over real HTTP to an emulator; faults are injected
 * either by the wrapper (`intercept`) or by msw in the test files.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createFeatClient, FeatError, isFeatError, type FeatClient, type FeatClientOptions, type FeatErrorCode } from '@feat/sdk';
import type { Emulator, EmulatorOptions } from '@feat/emulator';
import { useEmulator } from '../support/backend.js';

export interface Call {
  method: string;
  url: string;
  /** Path without the query string. */
  path: string;
  headers: Headers;
  credentials: RequestCredentials | undefined;
  redirect: RequestRedirect | undefined;
  /** UTF-8 bytes of the request body (0 without one). */
  bodyBytes: number;
  body: string | undefined;
  /** Status of the response the client received (after `intercept`); undefined when fetch threw. */
  status?: number;
  /** True when `intercept` answered instead of the network. */
  faked: boolean;
  /** When the call was made (ms since the epoch). */
  at: number;
}

export type Intercept = (call: Call) => Response | undefined | Promise<Response | undefined>;

export interface Recorder {
  /** Pass as the client's `fetch` option. */
  fetch: typeof fetch;
  calls: Call[];
  /** Answers instead of the network when it returns a response. */
  intercept: Intercept | undefined;
  /** Calls whose URL starts with `base`. */
  to(base: string): Call[];
  reset(): void;
}

export function urlOf(input: RequestInfo | URL): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

function bodyText(body: BodyInit | null | undefined): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body).toString('utf8');
  return String(body);
}

/** A fetch wrapper (around `globalThis.fetch`, so msw still sees the request) that records every call. */
export function recorder(intercept?: Intercept): Recorder {
  const rec: Recorder = {
    calls: [],
    intercept,
    to: (base) => rec.calls.filter((c) => c.url.startsWith(base)),
    reset: () => void (rec.calls.length = 0),
    fetch: async (input, init) => {
      const url = urlOf(input);
      const body = bodyText(init?.body);
      const call: Call = {
        method: (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase(),
        url,
        path: new URL(url).pathname,
        headers: new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)),
        credentials: init?.credentials,
        redirect: init?.redirect,
        bodyBytes: body === undefined ? 0 : Buffer.byteLength(body, 'utf8'),
        body,
        faked: false,
        at: Date.now(),
      };
      rec.calls.push(call);
      const fake = await rec.intercept?.(call);
      if (fake) {
        call.faked = true;
        call.status = fake.status;
        return fake;
      }
      const response = await globalThis.fetch(input, init);
      call.status = response.status;
      return response;
    },
  };
  return rec;
}

let counter = 0;
/** A user name no other test (or run) uses. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** `userdb-` + hex of the UTF-8 bytes (equals CouchDB's unpadded form for ASCII names). */
export function dbNameOf(userName: string): string {
  return `userdb-${Buffer.from(userName, 'utf8').toString('hex')}`;
}

/** The rejection of `promise`; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<FeatError> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    return error as FeatError;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
}

/** Asserts a FeatError with `code` (and returns it for more checks). */
export async function rejectsWith(promise: Promise<unknown>, code: FeatErrorCode): Promise<FeatError> {
  const error = await rejection(promise);
  expect(error, `expected FeatError "${code}", got ${String(error)}`).toBeInstanceOf(FeatError);
  expect(isFeatError(error, code), `expected code "${code}", got "${error.code}": ${error.message}`).toBe(true);
  return error;
}

/** A TCP port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A JSON response as CouchDB would send it. */
export function couchJson(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** nginx's HTML error page. */
export function nginxHtml(status: number, title: string): Response {
  const html = `<html>\r\n<head><title>${status} ${title}</title></head>\r\n<body>\r\n<center><h1>${status} ${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  return new Response(html, { status, headers: { 'content-type': 'text/html' } });
}

/**
 * The scaffolding every session/transport test file shares: the emulator (started once per file), the clients a test
 * created (closed after each test) and an msw server that lets other requests through to the emulator (faults only).
 */
export function useBackend(options: { emulator?: EmulatorOptions } = {}): {
  emu: Emulator;
  clients: FeatClient[];
  server: ReturnType<typeof setupServer>;
} {
  const server = setupServer();
  const clients: FeatClient[] = [];
  beforeAll(() => server.listen({ onUnhandledRequest: 'bypass' }));
  const emu = useEmulator(options.emulator);
  afterEach(async () => {
    server.resetHandlers();
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(() => server.close());
  return { emu, clients, server };
}

/** A remote-mode client of `userName` on `on` whose requests `rec` records; tracked in `clients` for cleanup. */
export function recordingClient(
  clients: FeatClient[],
  on: Emulator,
  userName: string,
  rec: Recorder = recorder(),
  extra: Partial<FeatClientOptions> = {},
): FeatClient {
  const c = createFeatClient({
    couchUrl: on.couchUrl,
    accountsUrl: on.accountsUrl,
    auth: on.bearerFor(userName),
    mode: 'remote',
    fetch: rec.fetch,
    ...extra,
  });
  clients.push(c);
  return c;
}
