// @ts-nocheck
await import('./q1-find.ts');
const P = globalThis.__p;
const steps = {};
let last;
for (const [n, t] of P) { if (n !== 'start' && last) (steps[n] ??= []).push(t - last); last = t; }
for (const [n, a] of Object.entries(steps)) { a.sort((x, y) => x - y); console.log(n, a[Math.floor(a.length / 2)].toFixed(3), a[Math.floor(a.length / 4)].toFixed(3)); }
