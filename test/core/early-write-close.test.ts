/**
 * A write made before ready() and followed at once by close() (an app that saves and shuts down): close() lets every
 * write made before it finish, and store calls made before ready() never fail because of ordering (README). The write
 * was dropped — it rejected with `closed`, and close() reported it as `network`.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const options = (user: string, mode: 'remote' | 'local-first'): FeatClientOptions => ({
  couchUrl: emu.couchUrl,
  accountsUrl: emu.accountsUrl,
  auth: emu.bearerFor(user),
  mode,
  local: { adapter: 'memory' },
});

describe.each(['remote', 'local-first'] as const)('%s: set() then close() before ready()', (mode) => {
  it('the write is stored (and pushed before a memory replica is discarded); no error event', async () => {
    const user = uniqueUser('early');
    const c = createFeatClient(options(user, mode));
    const errors: string[] = [];
    c.sync.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    const write = c.store.set('k', 'v').then(() => 'ok', (e: { code: string }) => e.code);
    await c.close();
    expect(await write).toBe('ok');
    expect(errors).toEqual([]);
    const reader = createFeatClient(options(user, 'remote'));
    try {
      expect(await reader.store.get('k')).toBe('v');
    } finally {
      await reader.close();
    }
  }, 30_000);
});
