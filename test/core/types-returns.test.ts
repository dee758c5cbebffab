/** The declared types at runtime: promises typed Promise<void> resolve undefined; createIndex's documented `exists` vs its type. */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
describe.each([['remote', { mode: 'remote' }], ['local-first', { local: { adapter: 'memory' } }]] as const)('%s', (_, mode) => {
  it('createIndex / set / setParts / removeParts / flush / close resolve what their types say (void)', async () => {
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('types-ret')), ...mode } as FeatClientOptions));
    expect(await c.store.createIndex({ fields: ['a'] })).toBeUndefined();
    expect(await c.store.createIndex({ fields: ['a'] })).toBeUndefined();
    expect(await c.store.set('k', 1)).toBeUndefined();
    expect(await c.store.setParts('p', { a: 1 })).toBeUndefined();
    expect(await c.store.removeParts('p')).toBeUndefined();
    expect(await c.store.flush()).toBeUndefined();
    expect(Object.keys(await c.importData(await c.exportData())).sort()).toEqual(['imported', 'skipped']);
    expect(await c.close()).toBeUndefined();
  });
});
