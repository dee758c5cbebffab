/**
 * Nothing of a closed client keeps talking after close() resolved: a watchQuery left open, a find still answering, a
 * watch or a pending listener print no console warning or error afterwards (a live query left open reported
 * "database is closed" and the engine's index warning after close).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const dir = mkdtempSync(join(tmpdir(), 'feat-after-close-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const options = (user: string, mode: 'remote' | 'local-first', adapter: 'memory' | 'leveldb'): FeatClientOptions => ({
  couchUrl: emu.couchUrl,
  accountsUrl: emu.accountsUrl,
  auth: emu.bearerFor(user),
  mode,
  local: adapter === 'leveldb' ? { adapter, name: join(dir, `r${n++}`) } : { adapter },
});

const scenarios: Record<string, (c: ReturnType<typeof createFeatClient>) => Promise<void>> = {
  watchQueryLeftOpen: async (c) => {
    c.store.watchQuery({ prefix: 'k' }, () => {});
    await c.store.set('k', 1);
  },
  watchQueryBeforeReady: async (c) => {
    c.store.watchQuery({ prefix: 'k' }, () => {});
  },
  watchInitialLeftOpen: async (c) => {
    c.store.watch({ prefix: '' }, () => {}, { initial: true });
    await c.store.set('k', 1);
  },
  pendingListener: async (c) => {
    c.sync.on('pending', () => {});
    await c.store.set('k', 1);
  },
  manyClientsBody: async (c) => {
    c.sync.on('status', () => {});
    c.sync.on('pending', () => {});
    const off = c.store.watch('k', () => {});
    c.store.watchQuery({ prefix: 'k' }, () => {});
    await c.store.set('k', 1);
    await c.store.get('k');
    off();
  },
  watchLeftOpen: async (c) => {
    c.store.watch('k', () => {});
    await c.store.set('k', 1);
  },
};

describe.each([
  ['remote', 'memory'],
  ['local-first', 'memory'],
  ['local-first', 'leveldb'],
] as const)('%s/%s', (mode, adapter) => {
  it.each(Object.keys(scenarios))('%s, then close(): no console.warn/error from the SDK after close() (5 rounds)', async (s) => {
    const warn = vi.spyOn(console, 'warn');
    const error = vi.spyOn(console, 'error');
    const late: string[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const c = createFeatClient(options(uniqueUser('noise'), mode, adapter));
        await scenarios[s]!(c);
        await c.close();
        warn.mockClear();
        error.mockClear();
        await new Promise((r) => setTimeout(r, 400));
        late.push(...[...warn.mock.calls, ...error.mock.calls].map((a) => a.map(String).join(' ').slice(0, 160)));
      }
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
    expect(late).toEqual([]);
  }, 60_000);
});
