/**
 * API.md names the emulator's entry `@feat/sdk/emulator` (`startEmulator`; Node only): a re-export of the optional peer
 * `@feat/emulator` (src/emulator-entry.ts), so that an app's install carries none of its server packages. The published
 * entry is checked by `npm run install-figure -- --emulator` (CI): `startEmulator` from `@feat/sdk/emulator` starts one.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import * as fromSdk from '@feat/sdk/emulator';
import * as fromPackage from '@feat/emulator';
// (The entry's own module: vitest maps `@feat/sdk/emulator` to the emulator's sources, as tsconfig's paths do.)
import * as entry from '../../src/emulator-entry.js';

describe('@feat/sdk/emulator', () => {
  it('is the emulator package: the same startEmulator, and an emulator it starts answers as the deployment', async () => {
    expect(Object.keys(entry).sort()).toEqual(Object.keys(fromPackage).sort());
    expect(entry.startEmulator).toBe(fromPackage.startEmulator);
    const emu = await fromSdk.startEmulator({ port: 0 });
    const client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor('alice'), mode: 'remote' });
    try {
      expect(await client.ready()).toMatchObject({ userName: 'alice' });
      await client.store.set('k', { v: 1 });
      expect(await client.store.get('k')).toEqual({ v: 1 });
    } finally {
      await client.close();
      await emu.stop();
    }
  });

  it('the source re-exports the package, which is an optional peer of @feat/sdk (a browser app never installs it)', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, unknown>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      dependencies: Record<string, string>;
    };
    expect(readFileSync(new URL('../../src/emulator-entry.ts', import.meta.url), 'utf8')).toMatch(/^export \* from '@feat\/emulator';$/m);
    expect(manifest.exports['./emulator']).toEqual({ types: './dist/emulator/index.d.ts', default: './dist/emulator/index.js' });
    expect(manifest.peerDependenciesMeta['@feat/emulator']?.optional).toBe(true);
    expect(manifest.dependencies['@feat/emulator']).toBeUndefined();
  });
});
