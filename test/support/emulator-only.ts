/**
 * Test files that test the emulator itself, not the SDK against a server: on the real backend (`FEAT_BACKEND=real`)
 * they are left out, and the run prints each with its reason. Single tests that need an emulator-only option use
 * `emulatorOnly(reason)` from `./target.ts` instead.
 */
export const EMULATOR_ONLY_FILES: Record<string, string> = {
  'test/sync/long-history-recreated.test.ts': 'restarts the emulator in memory to make the database again (the real server keeps it)',
  'test/emulator/lifecycle.test.ts': "the emulator's own options, ports, suspend/stop, request log and dataDir",
  'test/emulator/safety.test.ts': "the emulator refuses JavaScript design functions; CouchDB runs them in its own sandbox",
  'test/emulator/fuzz.test.ts': 'fuzzes the emulator process (that it answers, never crashes)',
  'test/emulator/cli.test.ts': 'the feat-emulator command line',
  'test/emulator/sdk-entry.test.ts': "the emulator's entry point in the SDK package (@feat/sdk/emulator)",
  'test/emulator/accounts.test.ts': "the emulator's accounts service with several secrets at once (one CouchDB has one)",
  'test/emulator/fidelity.test.ts': "compares the emulator's two profiles, with windows fixed by emulator-only options",
  'test/emulator/signup.test.ts': 'fixes the admin-only window with peruserAdminOnlyMs (the real one lasts 5–60 ms)',
  'test/export/cli.test.ts': 'feat-emulator export from a running emulator and from its data directory',
  'test/api/emulator.test.ts': "the emulator's REST fixtures",
  'test/emulator/all-docs-order-unit.test.ts': "the emulator's _all_docs ordering code itself, below HTTP (all-docs-order.test.ts runs on both)",
  'test/emulator/dev-use.test.ts': "the emulator's dataDir shared in one process, a damaged dataDir, maxRequestRecords",
  'test/emulator/limits.test.ts': 'custom maxDocumentBytes / maxRequestBytes per emulator (one real CouchDB has one max_document_size)',
};
