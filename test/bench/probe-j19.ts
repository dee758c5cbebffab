import { createFeatClient } from '@feat/sdk';
import { startEmulator } from '@feat/emulator';
const emu = await startEmulator({ port: 0, profile: 'couchdb' });
const counts = new Map<string, number>();
let tag = 'x';
const f: typeof fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const u = new URL(url);
  const k = `${tag} ${(init?.method ?? 'GET')} ${u.pathname.split('/').filter((x) => x.startsWith('_') || x.length > 30).map((x) => x.startsWith('_') ? x : 'ID').join('/')} ${u.searchParams.get('feed') ?? ''}`;
  counts.set(k, (counts.get(k) ?? 0) + 1);
  return fetch(input, init);
};
const mk = (t: string) => createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor('p'), local: { adapter: 'memory' }, fetch: (i, n) => { tag = t; return f(i, n); } });
const a = mk('A'); const b = mk('B');
await Promise.all([a.ready(), b.ready()]);
let seen = 0; const last = new Map<string, number>();
b.store.watch({ prefix: 'k' }, (e) => { if (e.origin === 'remote') { seen++; last.set(e.key, (e.value as any).i); } });
await new Promise((r) => setTimeout(r, 500));
counts.clear();
const cpu0 = process.cpuUsage(); const t0 = performance.now();
for (let n = 0; n < 300; n++) { void a.store.set(`k${n % 30}`, { i: n }); await new Promise((r) => setTimeout(r, 5)); }
while ([...Array(30).keys()].some((k) => last.get(`k${k}`) !== 270 + k)) await new Promise((r) => setTimeout(r, 2));
const ms = performance.now() - t0; const cpu = process.cpuUsage(cpu0);
console.log('wall', ms.toFixed(0), 'cpu', ((cpu.user + cpu.system) / 1000).toFixed(0), 'events', seen);
console.log([...counts].sort().map(([k, v]) => `${k}: ${v}`).join('\n'));
await Promise.all([a.close(), b.close()]); await emu.stop();
