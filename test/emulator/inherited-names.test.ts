/**
 * Keys that are the names of `Object.prototype`'s members (`constructor`, `toString`, `__proto__`, …) are keys like any
 * other, on the server as in the SDK. The emulator looked a document's path up in a table of routes and took
 * `constructor` for a route (HTTP 500 "allowed.split is not a function" — found by the convergence fuzz, remote mode).
 * Runs on both backends: CouchDB 3.4 stores them as documents.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
// (A key may not start with `_`, CouchDB's; a subkey may.)
const NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable'];
const SUBKEYS = [...NAMES, '__proto__', '__defineGetter__'];

describe.each(['remote', 'local-first'] as const)('%s mode', (mode) => {
  it("keys named after Object.prototype's members are written, read, listed, parted and removed", async () => {
    const auth = emu.bearerFor(uniqueUser('proto'));
    const client = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth, mode, ...(mode === 'local-first' ? { local: { adapter: 'memory' as const } } : {}) }));
    await client.ready();
    for (const [i, name] of NAMES.entries()) await client.store.set(name, { i });
    await client.store.setParts('obj', Object.fromEntries(SUBKEYS.map((n, i) => [n, i])));
    for (const [i, name] of NAMES.entries()) expect(await client.store.get(name)).toEqual({ i });
    expect((await client.store.keys()).filter((k) => NAMES.includes(k)).sort()).toEqual([...NAMES].sort());
    const parts = await client.store.getParts<number>('obj');
    expect(Object.keys(parts).sort()).toEqual([...SUBKEYS].sort());
    expect(parts['__proto__']).toBe(SUBKEYS.indexOf('__proto__'));
    await client.sync.waitForPush({ timeout: 30_000 });

    // Another device reads them from the server.
    const other = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth, mode: 'remote' }));
    for (const [i, name] of NAMES.entries()) expect(await other.store.get(name)).toEqual({ i });
    expect(Object.keys(await other.store.getParts('obj')).sort()).toEqual([...SUBKEYS].sort());
    for (const name of NAMES) await client.store.remove(name);
    await client.sync.waitForPush({ timeout: 30_000 });
    for (const name of NAMES) expect(await other.store.get(name)).toBeUndefined();
  });
});

describe('query values named after Object.prototype members', () => {
  it('`_changes?feed=constructor` is no feed type: refused (CouchDB 3.4, the couchdb profile) or a normal feed, never a long-poll', async () => {
    const user = uniqueUser('feed');
    await emu.createUser(user);
    const db = `userdb-${Buffer.from(user).toString('hex')}`;
    const headers = emu.couchHeadersFor(user);
    // An empty database: a long-poll would wait for a change (its default timeout, a minute).
    const started = performance.now();
    const odd = await fetch(`${emu.couchUrl}/${db}/_changes?feed=constructor`, { headers, signal: AbortSignal.timeout(10_000) });
    const body = await odd.text();
    expect([200, 400]).toContain(odd.status);
    if (odd.status === 200) expect(JSON.parse(body)).toMatchObject({ results: [] });
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
