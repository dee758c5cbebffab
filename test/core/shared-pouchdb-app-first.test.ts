/**
 * The app registers pouchdb-replication on the shared pouchdb-core class before the SDK syncs: both keep working.
 * (test/core/shared-pouchdb-sdk-first.test.ts: the other order; each file runs in a fresh process, so a fresh class.)
 */
import { it } from 'vitest';
import { useEmulator, uniqueUser } from '../support/backend.js';
import { appReplicates, readyClient, registerAppPlugins, sdkSyncs } from '../support/app-pouchdb.js';

const emu = useEmulator();

it("the app's PouchDB plugins first, then the SDK's local-first sync: both replicate", async () => {
  await registerAppPlugins();
  await appReplicates();
  const user = uniqueUser('app-first');
  const [laptop, phone] = [await readyClient(emu, user), await readyClient(emu, user)];
  await sdkSyncs(laptop, phone, 'draft');
  await appReplicates();
});
