/**
 * `npm run bench [name…]`: runs the benchmark scripts in this folder (w1-… to w7-…) one after another, each printing its
 * figures; `npm run bench -- w7` runs one. A script that fails (e.g. W7 finds a wrong last value) makes the run fail.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const scripts = readdirSync(dir)
  .filter((f) => /^[wq]\d.*\.ts$/.test(f))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
let failed = 0;
for (const script of scripts) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${script}`], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
  console.log();
}
process.exit(failed ? 1 : 0);
