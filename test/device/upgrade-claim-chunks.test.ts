/**
 * The claim of a replica that names no account (README "Upgrading from 0.1.0"; found by the attack of this fix): the
 * first proof, "the server knows a revision of one of its first 10 documents", assumed that another account's
 * database never holds them. But PouchDB's revision ids are deterministic (`deterministic_revs`, its
 * default): md5 of the document. v0.1.0's chunk documents are `{ _id: 'feat~chunk~<sha256 of data>', data }` — no time,
 * no writer — so the SAME big value written by two accounts gives byte-identical chunk documents with the SAME rev
 * `1-<md5>` on both replicas, and both servers (replication keeps revs). Chunks are written before their manifest,
 * so they are the replica's first changes.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { sharedReplicas } from '../support/shared-replica.js';
import { localDoc, openLevel, pushDocs, sessionOf } from '../support/legacy-replica.js';

const emu = useEmulator();
const { replicaPath, clientOf, serverKeys } = sharedReplicas(emu);

/** The app's built-in big value (a template every account gets on first start): the same for every account. */
const TEMPLATE = { kind: 'template', rows: Array.from({ length: 30_000 }, (_, i) => ({ i, label: `row ${i} of the default template` })) };

/** v0.1.0's chunk documents of a value, as a stand-in for its toChunks: content-addressed pieces, nothing else. */
async function v010Chunks(value: unknown): Promise<{ _id: string; data: string }[]> {
  const json = JSON.stringify(value);
  const { createHash } = await import('node:crypto');
  const pieces: string[] = [];
  for (let at = 0; at < json.length; at += 300_000) pieces.push(json.slice(at, at + 300_000));
  return pieces.map((data) => ({ _id: `feat~chunk~${createHash('sha256').update(data).digest('hex')}`, data }));
}

/** B opens A's replica (the app's fixed local.name on a shared device): what B got, and whether A's secret reached B's server. */
async function openAs(bob: string, aPath: string): Promise<{ outcome: string; secret: unknown; leaked: boolean }> {
  const b = clientOf(bob, aPath);
  b.sync.on('error', () => undefined);
  const outcome = await b.ready().then(
    () => 'claimed',
    (e: unknown) => (isFeatError(e) ? e.code : String(e)),
  );
  let secret: unknown;
  if (outcome === 'claimed') {
    secret = await b.store.get('a-secret');
    await b.sync.waitForPush({ timeout: 30_000 }).catch(() => undefined);
  }
  await b.close();
  return { outcome, secret, leaked: (await serverKeys(bob)).includes('a-secret') };
}
const REFUSED = { outcome: 'forbidden', secret: undefined, leaked: false };

/** B's own device, on this version, writes the same template: it reaches B's server. */
async function templateOnServer(bob: string): Promise<void> {
  const device = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(bob), local: { adapter: 'memory' } }));
  await device.ready();
  await device.store.set('template', TEMPLATE);
  await device.sync.waitForPush({ timeout: 60_000 });
  await device.close();
}

/** A v0.1.0 replica at `path` that wrote `value` as `key` (chunks, then the manifest) and then `extra` values. */
async function writeV010WithBig(path: string, key: string, value: unknown, extra: Record<string, unknown>): Promise<string[]> {
  const chunks = await v010Chunks(value);
  const db = await openLevel(path);
  try {
    const at = Date.now();
    await db.bulkDocs(chunks as never);
    await db.bulkDocs([{ _id: key, feat: { updatedAt: at, chunks: chunks.map((c) => c._id) } }] as never);
    await db.bulkDocs(Object.entries(extra).map(([k, v]) => ({ _id: k, doc: v, feat: { updatedAt: at + 1 } })) as never);
    await db.put({ _id: '_local/feat-synced', at } as never);
    return chunks.map((c) => c._id);
  } finally {
    await db.close();
  }
}

describe('a v0.1.0 replica of A (no session record) opened for B', () => {
  it('B, whose server holds the same big default value written by v0.1.0, claims A\'s replica — reads A\'s secret and pushes it into B\'s database', async () => {
    const [alice, bob] = [uniqueUser('r2c-a'), uniqueUser('r2c-b')];
    await sessionOf(emu, alice);
    await sessionOf(emu, bob);

    // A's shared device (v0.1.0): the app's template, then A's own offline secret; A's plain logout() left no session record.
    const aPath = replicaPath();
    const ids = await writeV010WithBig(aPath, 'template', TEMPLATE, { 'a-secret': 'A offline secret' });

    // B's own device (v0.1.0 too) wrote the same template and synced it: its documents, with their revisions, on B's server.
    const bPath = replicaPath();
    await writeV010WithBig(bPath, 'template', TEMPLATE, {});
    const bDb = await openLevel(bPath);
    let bDocs: { _id: string; _rev: string }[];
    try {
      bDocs = (await Promise.all([...ids, 'template'].map((id) => bDb.get(id, { revs: true })))) as never;
    } finally {
      await bDb.close();
    }
    for (const doc of bDocs) await pushDocs(emu, bob, [doc]);

    // The fact the proof overlooks: A's chunk revisions are byte-identical to B's (content-derived).
    const aDb = await openLevel(aPath);
    const aRevs = await Promise.all(ids.map(async (id) => ((await aDb.get(id)) as { _rev: string })._rev));
    await aDb.close();
    expect(aRevs).toEqual(bDocs.filter((d) => ids.includes(d._id)).map((d) => d._rev));

    // Expected: refused as another account's replica; nothing of A's read by B or pushed to B's database.
    expect(await openAs(bob, aPath)).toEqual(REFUSED);
    expect(await localDoc(aPath, '_local/feat-owner')).toBeUndefined();
  }, 180_000);

  it('the same with B on THIS version: B\'s device wrote the same big value (local-first) — B claims A\'s v0.1.0 replica', async () => {
    const [alice, bob] = [uniqueUser('r2n-a'), uniqueUser('r2n-b')];
    await sessionOf(emu, alice);
    const aPath = replicaPath();
    await writeV010WithBig(aPath, 'template', TEMPLATE, { 'a-secret': 'A offline secret' });

    // B, on another device with the current SDK, writes the same template; it reaches B's server.
    await templateOnServer(bob);

    expect(await openAs(bob, aPath)).toEqual(REFUSED);
  }, 180_000);

  it('a replica THIS version made whose owner record is missing (its best-effort write failed: full device) and whose session record a plain logout() removed — B claims it the same way', async () => {
    const [alice, bob] = [uniqueUser('r2cur-a'), uniqueUser('r2cur-b')];
    const aPath = replicaPath();
    const a = clientOf(alice, aPath);
    await a.ready();
    await a.store.set('template', TEMPLATE);
    await a.store.set('a-secret', 'A secret');
    await a.close();
    // The state the brief describes: no owner record (its write failed), no session record (logout) — made by hand.
    const db = await openLevel(aPath);
    for (const id of ['_local/feat-owner', '_local/feat-session']) {
      const doc = await db.get(id).catch(() => undefined);
      if (doc) await db.remove(doc as never);
    }
    await db.close();

    await templateOnServer(bob);

    expect(await openAs(bob, aPath)).toEqual(REFUSED);
  }, 180_000);
});
