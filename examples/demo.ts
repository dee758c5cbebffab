/**
 * `npm run demo`: the SDK end to end against the embedded emulator — two devices of one user, a draft written on one
 * and read on the other, a conflicting edit resolved, and what went over the wire.
 */
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { startEmulator } from '@feat/emulator';

const step = (text: string) => console.log(`\n▸ ${text}`);

const emu = await startEmulator({ port: 0 });
console.log(`Emulator up: CouchDB ${emu.couchUrl}, accounts ${emu.accountsUrl}, REST ${emu.apiUrl}`);

const title = (value: unknown) => JSON.stringify((value as { title?: string } | undefined)?.title ?? null);
const device = (name: string): FeatClient =>
  createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor('4222704093994'), // the accounts service's bearer for this user
    local: { adapter: 'memory', name: `demo-${name}` },
  });

const laptop = device('laptop');
const phone = device('phone');
let resolutions = 0;
const onConflict = (c: { key: string; source: string; resolved: unknown }) => {
  resolutions++;
  console.log(`  conflict on "${c.key}" (${c.source}): kept title ${title(c.resolved)}`);
};
laptop.sync.on('conflict', onConflict);
phone.sync.on('conflict', onConflict);

try {
  step('Bootstrap: the first ready() creates the user and their database');
  const session = await laptop.ready();
  console.log(`  user ${session.userName}, database ${session.dbName}`);

  step('Typing on the laptop: 500 keystrokes, written as they come (no await)');
  const text = 'Half-written article about offline-first apps. ';
  for (let i = 1; i <= 500; i++) void laptop.store.set('draft:article', { title: 'Offline first', body: text.repeat(4).slice(0, i) });
  await laptop.sync.waitForPush({ timeout: 10_000 });
  console.log(`  pushed; pending on the laptop: ${await laptop.sync.pending()}`);

  step('The phone picks up where the laptop left off');
  await phone.ready();
  const draft = await phone.store.get<{ title: string; body: string }>('draft:article');
  console.log(`  phone reads: "${draft?.title}", ${draft?.body.length} characters`);

  step('Both edit the title while the phone is offline (sync paused), then reconnect');
  phone.sync.pause();
  await phone.store.set('draft:article', { ...draft, title: 'Offline first (phone)' });
  await new Promise((r) => setTimeout(r, 10));
  await laptop.store.set('draft:article', { ...draft, title: 'Offline first (laptop, later)' });
  await laptop.sync.waitForPush({ timeout: 10_000 });
  phone.sync.resume();
  await phone.sync.waitForPush({ timeout: 10_000 });
  const deadline = Date.now() + 10_000;
  let a, b;
  do {
    await new Promise((r) => setTimeout(r, 100));
    [a, b] = await Promise.all([laptop.store.get<{ title: string }>('draft:article'), phone.store.get<{ title: string }>('draft:article')]);
    // Until the resolution is written, both devices may show the revision CouchDB's rules pick (by revision hash).
  } while ((a?.title !== b?.title || a?.title === undefined || resolutions === 0 || (await laptop.sync.pending()) + (await phone.sync.pending()) > 0) && Date.now() < deadline);
  console.log(`  laptop: "${a?.title}" — phone: "${b?.title}" (latest write wins, on both devices)`);

  step('What went over the wire');
  const stats = emu.stats();
  for (const [service, s] of Object.entries(stats.byService)) {
    console.log(`  ${service.padEnd(8)} ${String(s.requests).padStart(4)} requests, ${s.bytesIn} bytes in, ${s.bytesOut} bytes out`);
  }
  const writes = emu.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/_bulk_docs')).length;
  console.log(`  document writes (_bulk_docs) received by CouchDB: ${writes}`);
  console.log('  (500 keystrokes became a handful of writes: rapid sets of one key are coalesced)');
} finally {
  await Promise.all([laptop.close(), phone.close()]);
  await emu.stop();
}
