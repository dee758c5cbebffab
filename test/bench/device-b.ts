/**
 * W7's device B in a thread of its own (w7-latency.ts; named so that `npm run bench` does not take it for a benchmark): two devices never share an event loop, so B's work must not
 * delay A's (nor A's B's). It runs either the SDK (local-first, memory replica, `watch` on the prefix) or raw PouchDB
 * (a memory database in live sync with the server, its `changes` feed), reports each value it sees with the time it
 * saw it (`performance.timeOrigin + performance.now()`, comparable across threads), and answers its current values.
 */
import { parentPort, workerData } from 'node:worker_threads';
import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import MemoryAdapter from 'pouchdb-adapter-memory';
import replication from 'pouchdb-replication';
import { createFeatClient } from '@feat/sdk';

export type DeviceSetup =
  | { kind: 'sdk'; couchUrl: string; accountsUrl: string; auth: string; prefix: string }
  | { kind: 'raw'; dbUrl: string; headers: Record<string, string>; prefix: string };
export type DeviceMessage =
  | { kind: 'ready' }
  | { kind: 'seen'; id: string; i: number; at: number }
  | { kind: 'value'; ask: number; i: number | undefined }
  | { kind: 'closed' };

const setup = (workerData as { setup: DeviceSetup }).setup;
const port = parentPort!;
const now = () => performance.timeOrigin + performance.now();
const post = (message: DeviceMessage) => port.postMessage(message);
const index = (value: unknown) => (value as { i?: number } | undefined)?.i;

let valueOf: (id: string) => Promise<number | undefined>;
let close: () => Promise<void>;

if (setup.kind === 'sdk') {
  const b = createFeatClient({ couchUrl: setup.couchUrl, accountsUrl: setup.accountsUrl, auth: setup.auth, local: { adapter: 'memory' } });
  await b.ready();
  b.store.watch({ prefix: setup.prefix }, (e) => {
    const i = index(e.value);
    if (typeof i === 'number' && e.origin === 'remote') post({ kind: 'seen', id: e.key, i, at: now() });
  });
  valueOf = async (id) => index(await b.store.get(id));
  close = () => b.close();
} else {
  const core = PouchDB as unknown as { adapters: Record<string, unknown>; prototype: object };
  if (!core.adapters.http) PouchDB.plugin(HttpAdapter);
  if (!core.adapters.memory) PouchDB.plugin(MemoryAdapter);
  if (!('replicate' in core.prototype)) PouchDB.plugin(replication);
  const { headers } = setup;
  const fetchFn: typeof fetch = (url, init) => {
    const h = new Headers(init?.headers);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    return fetch(url, { ...init, headers: h });
  };
  const remote = new PouchDB(setup.dbUrl, { fetch: fetchFn, skip_setup: true } as PouchDB.Configuration.RemoteDatabaseConfiguration);
  const b = new PouchDB(`w7-raw-b-${Date.now()}`, { adapter: 'memory' } as PouchDB.Configuration.DatabaseConfiguration);
  const sync = b.sync(remote, { live: true, retry: true });
  const feed = b.changes({ since: 'now', live: true, include_docs: true }).on('change', (c) => {
    const i = index(c.doc);
    if (typeof i === 'number') post({ kind: 'seen', id: c.id, i, at: now() });
  });
  valueOf = async (id) => index(await b.get(id).catch(() => undefined));
  close = async () => {
    feed.cancel();
    sync.cancel();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await b.destroy();
  };
}

port.on('message', (message: { kind: 'value'; ask: number; id: string } | { kind: 'close' }) => {
  if (message.kind === 'value') void valueOf(message.id).then((i) => post({ kind: 'value', ask: message.ask, i }));
  else void close().finally(() => post({ kind: 'closed' }));
});
post({ kind: 'ready' });
