/**
 * A document the server refuses must be "sent again with backoff … and after a restart" (README, Sync), and its
 * refusal kept visible (status `denied`) while it holds. The push checkpoint must therefore never pass it.
 *
 * These tests restart the push side in the ordinary ways (pause()/resume(), a network blip, close + reopen of a
 * leveldb replica) and check that the refused document is still tried (status, an error event per session) and
 * reaches the server once the rule is lifted.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { raw } from '../support/devices.js';
import { forbidGate, type Gate } from '../support/refusal-gate.js';

const emu = useEmulator();

function open(user: string, gate: Gate, local: { adapter: 'memory' | 'leveldb'; name?: string } = { adapter: 'memory' }) {
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      local,
      fetch: gate.fetch,
      requestTimeout: 8_000,
      maintenance: { enabled: false },
    } as never),
  ) as FeatClient;
  const errors: FeatError[] = [];
  c.sync.on('error', (e) => errors.push(e));
  return { c, errors };
}

const forbiddenFor = (errors: FeatError[], key: string) => errors.filter((e) => e.code === 'forbidden' && e.key === key).length;

async function onServer(user: string, id: string): Promise<unknown> {
  const server = await raw(emu, user);
  const d = await server.doc(id);
  return d.status === 200 ? d.body.doc : undefined;
}

describe('the push checkpoint never passes a refused document', () => {
  // Failed before (both backends): the catch-up saved its checkpoint past k, so the second resume never sent k again —
  // status idle while pending() 1, and k never reached the server once the rule was lifted.
  it('pause()/resume() twice while k is refused: k still refused (denied), and sent once the rule is lifted', async () => {
    const user = uniqueUser('ckp');
    const gate = forbidGate((id) => id === 'k');
    const { c, errors } = open(user, gate);
    await c.ready();
    await c.store.set('k', 'refused value');
    await c.store.set('ok1', 1);
    await waitFor(() => forbiddenFor(errors, 'k') === 1, 20_000, 'the first refusal');
    await waitFor(async () => (await onServer(user, 'ok1')) === 1, 20_000, 'ok1 on the server');

    // Restart 1: the push side starts from its checkpoint (held before k), catches up, k is refused again.
    c.sync.pause();
    await waitFor(() => c.sync.status === 'paused', 5_000, 'paused');
    c.sync.resume();
    await waitFor(() => c.sync.status === 'denied', 20_000, 'denied after resume 1');
    await sleep(1_500);
    // Restart 2.
    c.sync.pause();
    await waitFor(() => c.sync.status === 'paused', 5_000, 'paused');
    c.sync.resume();
    await sleep(6_000);
    const state2 = { status: c.sync.status, pending: await c.sync.pending() };

    // The rule is lifted: the refused document must now reach the server (resent with backoff from 5 s).
    gate.on = false;
    let arrived: unknown;
    await waitFor(async () => (arrived = await onServer(user, 'k')) !== undefined, 40_000, 'k on the server').catch(() => undefined);
    expect({ state2, arrived }).toEqual({ state2: { status: 'denied', pending: 1 }, arrived: 'refused value' });
  }, 120_000);

  // (Passed before only because the next start took the missing k for a server restore and read it all again.)
  it('a network blip + another write, then a restart (leveldb): k is refused again and sent once the rule is lifted', async () => {
    const user = uniqueUser('ckb');
    const gate = forbidGate((id) => id === 'k');
    const name = join(mkdtempSync(join(tmpdir(), 'feat-refused-')), 'db');
    const first = open(user, gate, { adapter: 'leveldb', name });
    await first.c.ready();
    await first.c.store.set('k', 'refused value');
    await waitFor(() => forbiddenFor(first.errors, 'k') === 1, 20_000, 'the first refusal');
    // The network drops; a write is made meanwhile; the network comes back and the write goes.
    await emu.suspend();
    await first.c.store.set('later', 2);
    await waitFor(() => first.c.sync.status === 'offline', 30_000, 'offline').catch(() => undefined);
    await emu.resume();
    await waitFor(async () => (await onServer(user, 'later')) === 2, 40_000, 'later on the server');
    await sleep(1_500);
    await first.c.close();

    const second = open(user, gate, { adapter: 'leveldb', name });
    await second.c.ready();
    await sleep(6_000);
    const after = { refusals: forbiddenFor(second.errors, 'k'), status: second.c.sync.status, pending: await second.c.sync.pending() };
    gate.on = false;
    let arrived: unknown;
    await waitFor(async () => (arrived = await onServer(user, 'k')) !== undefined, 40_000, 'k on the server').catch(() => undefined);
    expect({ after, arrived }).toEqual({ after: { refusals: 1, status: 'denied', pending: 1 }, arrived: 'refused value' });
  }, 150_000);

  // (Passed before the same way: restore detection, a full re-read — see the last test.)
  it('two restarts (leveldb, same name) while k is refused: each session reports it once; sent once the rule is lifted', async () => {
    const user = uniqueUser('ckr');
    const gate = forbidGate((id) => id === 'k');
    const name = join(mkdtempSync(join(tmpdir(), 'feat-refused-')), 'db');
    const s1 = open(user, gate, { adapter: 'leveldb', name });
    await s1.c.ready();
    await s1.c.store.set('k', 'refused value');
    await waitFor(() => forbiddenFor(s1.errors, 'k') === 1, 20_000, 'the first refusal');
    await sleep(1_500);
    await s1.c.close();

    const s2 = open(user, gate, { adapter: 'leveldb', name });
    await s2.c.ready();
    await waitFor(() => forbiddenFor(s2.errors, 'k') === 1, 20_000, 'the refusal after restart 1');
    await sleep(1_500);
    await s2.c.close();

    const s3 = open(user, gate, { adapter: 'leveldb', name });
    await s3.c.ready();
    await sleep(6_000);
    const third = { refusals: forbiddenFor(s3.errors, 'k'), status: s3.c.sync.status, pending: await s3.c.sync.pending() };
    gate.on = false;
    let arrived: unknown;
    await waitFor(async () => (arrived = await onServer(user, 'k')) !== undefined, 40_000, 'k on the server').catch(() => undefined);
    expect({ third, arrived }).toEqual({ third: { refusals: 1, status: 'denied', pending: 1 }, arrived: 'refused value' });
  }, 150_000);

  // Failed before (both backends): session 3 took the refused document (missing on the server, behind the checkpoint) for a
  // server restored from a backup and started sync over from scratch: the whole database read again (since=0).
  it('a restart while k is refused (its checkpoint passed by the previous session) does not re-read the whole server', async () => {
    const user = uniqueUser('ckw');
    const other = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
    await other.ready();
    for (let i = 0; i < 4; i++) await other.store.setParts(`bulk${i}`, Object.fromEntries(Array.from({ length: 50 }, (_, j) => [`p${j}`, { i, j, pad: 'x'.repeat(200) }])));
    const gate = forbidGate((id) => id === 'k');
    const name = join(mkdtempSync(join(tmpdir(), 'feat-refused-')), 'db');
    const s1 = open(user, gate, { adapter: 'leveldb', name });
    await s1.c.ready();
    await waitFor(async () => (await s1.c.store.keys()).length >= 4, 30_000, 'pulled');
    await s1.c.store.set('k', 'refused value');
    await waitFor(() => forbiddenFor(s1.errors, 'k') === 1, 20_000, 'the first refusal');
    await sleep(1_500);
    await s1.c.close();
    const s2 = open(user, gate, { adapter: 'leveldb', name });
    await s2.c.ready();
    await waitFor(() => forbiddenFor(s2.errors, 'k') === 1, 20_000, 'the refusal after restart 1');
    await sleep(1_500);
    await s2.c.close();
    const from = gate.log.length;
    const s3 = open(user, gate, { adapter: 'leveldb', name });
    await s3.c.ready();
    await waitFor(() => forbiddenFor(s3.errors, 'k') === 1, 20_000, 'the refusal after restart 2').catch(() => undefined);
    await sleep(3_000);
    const fromScratch = gate.log.slice(from).filter((r) => r.method === 'GET' && /\/_changes\?.*since=0(&|$)/.test(r.path)).map((r) => r.path);
    expect(fromScratch).toEqual([]);
  }, 150_000);
});
