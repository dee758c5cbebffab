import { useEffect, useState, useSyncExternalStore } from 'react';
import { useDispatch, useSelector } from 'react-redux';
import type { InitialSyncEvent } from '@feat/sdk';
import { useFeatClient, usePending, useSyncStatus, useValue } from '@feat/sdk/react';
import type { AppConfig } from './config';
import { actions, type App, type RootState } from './state';

/** Whether everything the redux state holds is durable on this device (in the local replica). */
function useSavedLocally(app: App): boolean {
  const [saved, setSaved] = useState(true);
  useEffect(() => {
    let version = 0;
    let stopped = false;
    let seen = app.store.getState();
    const unsubscribe = app.store.subscribe(() => {
      // Only a change of the persisted slices (persistor.flush() below dispatches an action too).
      const state = app.store.getState();
      if (state.draft === seen.draft && state.prefs === seen.prefs) return;
      seen = state;
      const mine = ++version;
      setSaved(false);
      // The persistor hands its staged state to the storage, the storage resolves once those writes are durable.
      queueMicrotask(() => {
        void Promise.resolve(app.persistor.flush())
          .then(() => app.storage.flush())
          .then(
            () => !stopped && mine === version && setSaved(true),
            () => undefined,
          );
      });
    });
    return () => {
      stopped = true;
      unsubscribe();
    };
  }, [app]);
  return saved;
}

/** redux-persist's own flag: the stored state has been read (or the read gave up). */
function useRehydrated(app: App): boolean {
  return useSyncExternalStore(app.persistor.subscribe, () => app.persistor.getState().bootstrapped);
}

function useLastError(app: App): string | null {
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => {
    const offError = app.client.sync.on('error', (error) => setMessage(`${error.code}: ${error.message}`));
    const offStatus = app.client.sync.on('status', (status) => status === 'idle' && setMessage(null));
    return () => {
      offError();
      offStatus();
    };
  }, [app]);
  return message;
}

/** The first pull of a device that has never synced (what opening waits for, up to 10 s), while it runs. */
function useInitialSync(): InitialSyncEvent | null {
  const client = useFeatClient();
  const [progress, setProgress] = useState<InitialSyncEvent | null>(null);
  useEffect(() => client.sync.on('initialSync', (e) => setProgress(e.phase === 'done' ? null : e)), [client]);
  return progress;
}

/** A note kept with `useValue` alone — no redux: the hook reads it, follows other devices and writes it. */
function Note() {
  const note = useValue<string>('note');
  return (
    <label className="note">
      Quick note{' '}
      <input
        data-testid="note"
        data-status={note.status}
        placeholder={note.status === 'loading' ? 'loading…' : 'A note, synced by the React hooks'}
        disabled={note.status === 'loading'}
        value={note.value ?? ''}
        onChange={(e) => void note.set(e.target.value).catch(() => undefined)}
      />
      {note.error && <span className="error">{note.error.code}</span>}
    </label>
  );
}

const time = (at: number | null) => (at === null ? '—' : new Date(at).toLocaleTimeString());

export function Editor({ app, config }: { app: App; config: AppConfig }) {
  const draft = useSelector((state: RootState) => state.draft);
  const prefs = useSelector((state: RootState) => state.prefs);
  const dispatch = useDispatch();
  const status = useSyncStatus();
  const pending = usePending();
  const initialSync = useInitialSync();
  const savedLocally = useSavedLocally(app);
  const rehydrated = useRehydrated(app);
  const lastError = useLastError(app);
  const [paused, setPaused] = useState(false);

  useEffect(() => {
    document.documentElement.dataset.theme = prefs.theme;
  }, [prefs.theme]);

  const edit = (change: { title?: string; body?: string }) => dispatch(actions.edit(change, config.device));

  const togglePause = () => {
    if (paused) app.client.sync.resume();
    else app.client.sync.pause();
    setPaused(!paused);
  };

  if (!rehydrated) {
    return (
      <main className="card" data-testid="loading">
        <p className="muted">
          {initialSync
            ? `Downloading your data… ${initialSync.docs} documents${initialSync.pending ? `, ${initialSync.pending} to go` : ''}`
            : 'Opening the local replica…'}
        </p>
      </main>
    );
  }

  const words = draft.body.trim() === '' ? 0 : draft.body.trim().split(/\s+/).length;

  return (
    <main className="card" data-testid="editor" style={{ fontSize: `${prefs.fontSize}px` }}>
      <header className="top">
        <h1>Drafts</h1>
        <span className="who" data-testid="who">
          {config.user} · {config.device}
        </span>
      </header>

      <input
        className="title"
        data-testid="title"
        placeholder="Title"
        value={draft.title}
        onChange={(e) => edit({ title: e.target.value })}
      />
      <textarea
        className="body"
        data-testid="body"
        placeholder="Write something. It is saved as you type, and shows up on your other devices."
        value={draft.body}
        onChange={(e) => edit({ body: e.target.value })}
      />

      <Note />

      <div className="meta">
        <span>
          {words} {words === 1 ? 'word' : 'words'}
        </span>
        <span data-testid="edited">
          last edit {time(draft.editedAt)}
          {draft.editedOn ? ` on ${draft.editedOn}` : ''}
        </span>
      </div>

      <div className="toolbar">
        <label>
          Theme{' '}
          <select
            data-testid="theme"
            value={prefs.theme}
            onChange={(e) => dispatch(actions.theme(e.target.value as 'light' | 'dark'))}
          >
            <option value="light">light</option>
            <option value="dark">dark</option>
          </select>
        </label>
        <label>
          Text size{' '}
          <select
            data-testid="font-size"
            value={prefs.fontSize}
            onChange={(e) => dispatch(actions.fontSize(Number(e.target.value)))}
          >
            {[14, 16, 18, 20].map((size) => (
              <option key={size} value={size}>
                {size}px
              </option>
            ))}
          </select>
        </label>
        <span className="spacer" />
        <button type="button" data-testid="pause" onClick={togglePause}>
          {paused ? 'Resume sync' : 'Pause sync'}
        </button>
        <button type="button" data-testid="clear" onClick={() => dispatch(actions.clear(config.device))}>
          Clear draft
        </button>
      </div>

      <footer className="status" data-testid="status-line">
        <span className={`dot ${status}`} />
        <span>
          sync <b data-testid="sync-status">{status}</b>
        </span>
        {status === 'offline' && (
          <span className="offline" data-testid="offline">
            offline — changes are kept on this device
          </span>
        )}
        <span data-testid="saved" data-saved={savedLocally}>
          {savedLocally ? 'saved on this device' : 'saving…'}
        </span>
        <span title="local changes not yet confirmed on the server">
          <b data-testid="pending">{pending ?? '…'}</b> pending
        </span>
        {lastError && (
          <span className="error" data-testid="sync-error" title={lastError}>
            {lastError}
          </span>
        )}
      </footer>
    </main>
  );
}
