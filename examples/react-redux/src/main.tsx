import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Provider } from 'react-redux';
import { FeatProvider } from '@feat/sdk/react';
import { Editor } from './App';
import { loadConfig } from './config';
import { createApp } from './state';
import './styles.css';

const root = createRoot(document.getElementById('root')!);

try {
  const config = await loadConfig();
  const app = createApp(config);
  root.render(
    <StrictMode>
      <FeatProvider client={app.client}>
        <Provider store={app.store}>
          <Editor app={app} config={config} />
        </Provider>
      </FeatProvider>
    </StrictMode>,
  );
} catch (error) {
  root.render(
    <main className="card">
      <p className="error" data-testid="fatal">
        Could not start: {error instanceof Error ? error.message : String(error)}
      </p>
    </main>,
  );
}
