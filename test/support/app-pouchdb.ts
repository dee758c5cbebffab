/**
 * An app that uses PouchDB itself next to the SDK: the same `pouchdb-core` class, with its own plugins
 * (pouchdb-replication, an adapter). Used to check that the SDK's registrations and the app's coexist in either order.
 */
import { expect } from 'vitest';
import PouchDB from 'pouchdb-core';
import replication from 'pouchdb-replication';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { uniqueUser } from './backend.js';

/** What an app does at start-up: register replication and an adapter on pouchdb-core (throws if they clash). */
export async function registerAppPlugins(): Promise<void> {
  const memory = (await import('pouchdb-adapter-memory' as string)) as { default: PouchDB.Plugin };
  PouchDB.plugin(memory.default);
  PouchDB.plugin(replication);
}

/** The app's own databases replicate with the API pouchdb-replication gives them. */
export async function appReplicates(): Promise<void> {
  const a = new PouchDB(uniqueUser('app-a'), { adapter: 'memory' });
  const b = new PouchDB(uniqueUser('app-b'), { adapter: 'memory' });
  try {
    await a.put({ _id: 'note', text: 'from a' });
    await a.replicate.to(b);
    expect(await b.get<{ text: string }>('note')).toMatchObject({ text: 'from a' });
    await b.put({ _id: 'other', text: 'from b' });
    await PouchDB.replicate(b, a);
    expect(await a.get<{ text: string }>('other')).toMatchObject({ text: 'from b' });
  } finally {
    await Promise.all([a.destroy(), b.destroy()]);
  }
}

/** A local-first client of `user` (memory replica) that is ready. */
export async function readyClient(emu: Emulator & { track<C extends FeatClient>(client: C): C }, user: string): Promise<FeatClient> {
  const client = emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'local-first', local: { adapter: 'memory' } }),
  );
  await client.ready();
  return client;
}

/** The SDK replicates: a value written on one device reaches another through the server. */
export async function sdkSyncs(writer: FeatClient, reader: FeatClient, key: string): Promise<void> {
  await writer.store.set(key, { n: 1 });
  await writer.sync.waitForPush({ timeout: 10_000 });
  const deadline = Date.now() + 10_000;
  while ((await reader.store.get(key)) === undefined) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${key} on the other device`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(await reader.store.get(key)).toEqual({ n: 1 });
}
