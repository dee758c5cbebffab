/**
 * A local HTTP server that answers as each test tells it (`handler`): stalls, trickles, endless or malformed bodies.
 * Registers its start and stop with vitest; at the end, no unhandled rejection may have happened during the file.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, expect } from 'vitest';
import { isFeatError, type FeatError } from '@feat/sdk';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HostileServer {
  /** Its base URL (`http://127.0.0.1:<port>`), once started. */
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
}

/** Starts the server for the file; `handle` answers each request once its body was read. `beforeStop` runs first. */
export function useHostileServer(handle: Handler, beforeStop?: () => Promise<unknown>): HostileServer {
  let url = '';
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => handle(req, res));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(async () => {
    await beforeStop?.();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled.map((e) => inspect(e))).toEqual([]);
  });
  return {
    get url() {
      return url;
    },
    get requests() {
      return requests;
    },
  };
}

/** Answers `body` as JSON with `status`. */
export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** The promise's FeatError, and how long it took; fails the test when it did not reject within `bound` ms. */
export async function failure(promise: Promise<unknown>, bound = 4_000): Promise<{ error: FeatError; ms: number }> {
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'pending'>((resolve) => (timer = setTimeout(resolve, bound, 'pending')));
  const outcome = await Promise.race([promise.then((value) => ({ value }), (error: unknown) => ({ error })), late]);
  clearTimeout(timer);
  expect(outcome, `still pending after ${bound} ms`).not.toBe('pending');
  const error = (outcome as { error?: unknown }).error;
  expect(isFeatError(error), `not a FeatError: ${inspect(outcome)}`).toBe(true);
  return { error: error as FeatError, ms: Date.now() - started };
}
