/**
 * The Node adapters are optional peer dependencies of @feat/sdk: without the package, opening such a replica fails with
 * `invalid_argument` naming the package to install (the import error kept as `cause`), not with a bare module error.
 */
import { expect, it, vi } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { expectCode, useEmulator, uniqueUser } from '../support/backend.js';

vi.mock('pouchdb-adapter-leveldb', () => {
  throw new Error("Cannot find package 'pouchdb-adapter-leveldb'");
});

const emu = useEmulator();

it('local.adapter "leveldb" without pouchdb-adapter-leveldb installed → invalid_argument: npm install pouchdb-adapter-leveldb', async () => {
  const user = uniqueUser('no-leveldb');
  const client = emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'leveldb', name: `/tmp/${user}` } }),
  );
  const error = await expectCode(client.ready(), 'invalid_argument');
  expect(error.message).toContain('npm install pouchdb-adapter-leveldb');
  expect(error.cause).toBeInstanceOf(Error);
});
