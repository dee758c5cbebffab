/**
 * Scaffolding for the tests of one `local.name` (a LevelDB replica in a temporary folder) shared by several accounts:
 * clients of an emulator on that replica, a FeatError's code, and the keys the server holds for a user.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient } from '@feat/sdk';
import type { useEmulator } from './backend.js';

/** The outcome of a call: 'ok', or the FeatError's code. */
export const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: unknown) => (isFeatError(e) ? e.code : `non-FeatError ${String(e)}`),
  );

/** Replica paths (removed after the file) and clients of `emu` on them; the keys a user's server database holds. */
export function sharedReplicas(emu: ReturnType<typeof useEmulator>) {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const replicaPath = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'feat-shared-'));
    dirs.push(d);
    return join(d, 'replica');
  };
  const clientOf = (user: string, name: string): FeatClient =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'leveldb', name } }));
  const serverKeys = async (user: string): Promise<string[]> => {
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
    try {
      await c.ready();
      return (await c.store.keys()).sort();
    } finally {
      await c.close();
    }
  };
  return { replicaPath, clientOf, serverKeys };
}
