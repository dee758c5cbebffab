/**
 * `npm run example`: the emulator and the app, in one command.
 *
 *   npm run example                   # Vite dev server on :5173, emulator on :5984
 *   npm run example -- --build        # production build, served statically
 *   npm run example -- --port 8080 --emulator-port 6984 --log
 */
import { parseArgs } from 'node:util';
import { startExample } from './server.js';

const { values } = parseArgs({
  options: {
    build: { type: 'boolean', default: false },
    port: { type: 'string', default: '5173' },
    'emulator-port': { type: 'string', default: '5984' },
    host: { type: 'string', default: '127.0.0.1' },
    log: { type: 'boolean', default: false },
  },
});

const example = await startExample({
  mode: values.build ? 'build' : 'dev',
  port: Number(values.port),
  emulatorPort: Number(values['emulator-port']),
  host: values.host,
  log: values.log,
});

const { emulator } = example;
console.log(`
feat drafts — @feat/sdk/redux example (${values.build ? 'production build' : 'Vite dev server'})

  Open two devices of one user side by side:
    ${example.deviceUrl('alice', 'laptop')}
    ${example.deviceUrl('alice', 'phone')}

  Emulator: CouchDB ${emulator.couchUrl}, accounts ${emulator.accountsUrl} (in memory: data is gone when this stops)
  Press Ctrl-C to stop.
`);
if (example.build) {
  console.log(`  Build: ${(example.build.totalJs.bytes / 1024).toFixed(1)} kB JavaScript up front (${(example.build.totalJs.gzip / 1024).toFixed(1)} kB gzipped)\n`);
}

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void example.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
