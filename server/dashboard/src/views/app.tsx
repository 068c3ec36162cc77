// The page: header with the connection badge, a tab per area, the token prompt.

import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { storeToken } from '../api';
import { reconnect } from '../live';
import { useAppState, update, type AppState, type Connection } from '../store';
import { ActivityView } from './activity';
import { CredentialsView } from './credentials';
import { ModelsView } from './models';
import { OllamaView } from './ollama';
import { ProvidersView } from './providers';
import { proxyTone, ProxyView } from './proxy';
import { Badge } from './common';

const TABS = [
  { id: 'models', label: 'Models' },
  { id: 'providers', label: 'Providers' },
  { id: 'credentials', label: 'Credentials' },
  { id: 'proxy', label: 'Proxy' },
  { id: 'ollama', label: 'Ollama' },
  { id: 'activity', label: 'Activity' },
] as const;
type Tab = (typeof TABS)[number]['id'];

const CONNECTION_TEXT: Record<Connection, string> = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  offline: 'offline',
  unauthorized: 'token needed',
};

function currentTab(): Tab {
  const hash = location.hash.replace(/^#\/?/, '');
  return (TABS.find((t) => t.id === hash)?.id ?? 'models') as Tab;
}

function ConnectionBadge(props: { state: AppState }): JSX.Element {
  const { connection, connectionDetail } = props.state;
  return (
    <span id="connection" class={`connection ${connection}`} role="status" data-state={connection}
      title={connectionDetail || undefined}>
      <span class="dot" aria-hidden="true" />{CONNECTION_TEXT[connection]}
    </span>
  );
}

function TokenPrompt(props: { message: string }): JSX.Element {
  const [token, setToken] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = (event: Event) => {
    event.preventDefault();
    if (!token.trim()) return;
    storeToken(token.trim());
    setToken('');
    update((s) => ({ ...s, needToken: false, tokenMessage: '' }));
    reconnect(); // the greeting brings the lists
  };
  return (
    <div class="overlay">
      <div role="dialog" aria-modal="true" aria-labelledby="token-heading" class="dialog">
      <form id="token-form" class="panel token" onSubmit={submit}>
        <h2 id="token-heading">This server needs its token</h2>
        <p>Enter the token modeldeck was started with (<code>--token</code> or <code>MODELDECK_TOKEN</code>).
          It is kept in this tab only, until the tab is closed.</p>
        <label for="token-input">Token</label>
        <input id="token-input" ref={input} type="password" autocomplete="off" value={token}
          onInput={(e) => setToken(e.currentTarget.value)} aria-describedby={props.message ? 'token-error' : undefined} />
        {props.message && <p id="token-error" class="error" role="alert">{props.message}</p>}
        <div class="form-actions"><button type="submit" class="primary">Connect</button></div>
      </form>
      </div>
    </div>
  );
}

function Summary(props: { state: AppState }): JSX.Element {
  const { providers, models, proxy } = props.state.registry;
  let enabled = 0;
  for (const m of models.values()) if (m.enabled) enabled += 1;
  const pulling = [...props.state.pulls.values()].filter((j) => ['queued', 'downloading', 'verifying'].includes(j.status)).length;
  return (
    <p class="summary">
      <span>{providers.size} providers</span>
      <span>{models.size} models ({enabled} enabled)</span>
      {proxy && <span>proxy <Badge tone={proxyTone(proxy.status)}>{proxy.status}</Badge></span>}
      {pulling > 0 && <span>{pulling} pull{pulling === 1 ? '' : 's'}</span>}
    </p>
  );
}

export function App(): JSX.Element {
  const state = useAppState();
  const [tab, setTab] = useState<Tab>(currentTab());
  useEffect(() => {
    const onHash = () => setTab(currentTab());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  let view: JSX.Element;
  switch (tab) {
    case 'providers': view = <ProvidersView state={state} />; break;
    case 'credentials': view = <CredentialsView state={state} />; break;
    case 'proxy': view = <ProxyView state={state} />; break;
    case 'ollama': view = <OllamaView state={state} />; break;
    case 'activity': view = <ActivityView state={state} />; break;
    default: view = <ModelsView state={state} />;
  }

  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <div class="brand"><h1>modeldeck</h1><ConnectionBadge state={state} /></div>
        <Summary state={state} />
        <nav aria-label="Sections">
          <ul>
            {TABS.map((t) => (
              <li><a href={`#/${t.id}`} aria-current={tab === t.id ? 'page' : undefined} data-tab={t.id}>{t.label}</a></li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {/* No view (and none of its REST reads) before the first lists: with a token
            to ask for, those reads would only be refused. */}
        {state.loaded ? view : (
          <p class="muted">{state.needToken ? 'Waiting for the token…' : 'Loading the registry…'}</p>
        )}
        {tab !== 'activity' && state.loaded && (
          <aside class="recent" aria-label="Recent activity"><ActivityView state={state} limit={8} /></aside>
        )}
      </main>
      {state.needToken && <TokenPrompt message={state.tokenMessage} />}
    </>
  );
}
