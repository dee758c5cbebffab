import { createFeatClient } from '@feat/sdk';
import { startEmulator } from '@feat/emulator';
const emu = await startEmulator({ port: 0, profile: 'couchdb' });
let T = 0; const log: string[] = [];
const mk = (t: string) => createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor('p'), local: { adapter: 'memory' }, fetch: async (i, n) => {
  const url = typeof i === 'string' ? i : i instanceof URL ? i.href : i.url; const u = new URL(url);
  const k = `${t} ${n?.method ?? 'GET'} ${u.pathname.split('/').filter((x) => x.startsWith('_')).join('/')} ${u.searchParams.get('feed') ?? ''}`;
  const s = performance.now() - T; const r = await fetch(i, n); log.push(`${s.toFixed(1).padStart(7)} → ${(performance.now() - T).toFixed(1).padStart(7)}  ${k}`); return r; } });
const a = mk('A'); const b = mk('B');
await Promise.all([a.ready(), b.ready()]);
let got = -1;
b.store.watch({ prefix: 'k' }, (e) => { if (e.origin === 'remote') { got = (e.value as any).i; log.push(`${(performance.now() - T).toFixed(1).padStart(7)} WATCH ${got}`); } });
await new Promise((r) => setTimeout(r, 500));
for (let i = 0; i < 4; i++) {
  log.length = 0; T = performance.now(); void a.store.set(`k${i}`, { i });
  while (got !== i) await new Promise((r) => setTimeout(r, 1));
  await new Promise((r) => setTimeout(r, 150));
  console.log(`--- edit ${i}\n` + log.join('\n'));
}
await Promise.all([a.close(), b.close()]); await emu.stop();
