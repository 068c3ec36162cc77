// Proxy processes: status, pid, port, uptime, restarts, the last log lines;
// start/stop each or all. A crash shows `partial` as soon as proxy:status says so.

import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { api, seg } from '../api';
import { duration } from '../format';
import type { ProcessView } from '../state';
import type { AppState } from '../store';
import { Action, Badge, Empty, messageOf } from './common';

const LOG_LINES = 15;

export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export function proxyTone(status: string): 'ok' | 'bad' | 'warn' | 'muted' {
  return status === 'running' ? 'ok' : status === 'partial' ? 'bad' : status === 'starting' ? 'warn' : 'muted';
}

function Logs(props: { name: string; version: string }): JSX.Element {
  const [lines, setLines] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const load = () =>
      api.get<{ lines: string[] }>(`/api/proxy/logs/${seg(props.name)}?tail=${LOG_LINES}`).then(
        (answer) => { if (live) { setLines(answer.lines); setError(null); } },
        (err) => { if (live) setError(messageOf(err)); },
      );
    load();
    const timer = setInterval(load, 3000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [props.name, props.version]);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (lines === null) return <p class="muted">Loading output…</p>;
  if (lines.length === 0) return <p class="muted">No output yet.</p>;
  return <pre class="logs" aria-label={`Last lines of ${props.name}`} tabIndex={0}>{lines.join('\n')}</pre>;
}

function ProcessCard(props: { process: ProcessView; now: number }): JSX.Element {
  const p = props.process;
  const up = p.pid !== null ? p.uptime + Math.max(0, (props.now - p.seenAt) / 1000) : null;
  const state = p.running ? 'running' : p.pid !== null ? 'starting' : 'down';
  return (
    <article class="panel process" data-process={p.name} aria-labelledby={`process-${p.name}`}>
      <div class="section-head">
        <h3 id={`process-${p.name}`}>{p.name}</h3>
        <Badge tone={p.running ? 'ok' : p.pid !== null ? 'warn' : 'muted'}><span data-field="state">{state}</span></Badge>
        <span class="spacer" />
        {p.running || p.pid !== null ? (
          <Action name="stop" label="Stop" title={`Stop ${p.name}`} run={() => api.post(`/api/proxy/stop?name=${seg(p.name)}`)} />
        ) : (
          <Action name="start" kind="primary" label="Start" title={`Start ${p.name}`} run={() => api.post(`/api/proxy/start?name=${seg(p.name)}`)} />
        )}
      </div>
      <dl class="facts">
        <div><dt>pid</dt><dd data-field="pid">{p.pid ?? '–'}</dd></div>
        <div><dt>port</dt><dd data-field="port">{p.port ?? '–'}</dd></div>
        <div><dt>uptime</dt><dd data-field="uptime">{up === null ? '–' : duration(up)}</dd></div>
        <div><dt>restarts</dt><dd data-field="restarts">{p.restarts}</dd></div>
      </dl>
      <Logs name={p.name} version={`${p.pid}-${p.running}`} />
    </article>
  );
}

export function ProxyView(props: { state: AppState }): JSX.Element {
  const proxy = props.state.registry.proxy;
  const now = useNow();
  return (
    <section aria-labelledby="proxy-heading">
      <div class="section-head">
        <h2 id="proxy-heading">Proxy</h2>
        {proxy && <Badge tone={proxyTone(proxy.status)}><span id="proxy-status">{proxy.status}</span></Badge>}
        <span class="spacer" />
        <Action name="start-all" kind="primary" label="Start all" run={() => api.post('/api/proxy/start')} />
        <Action name="stop-all" label="Stop all" run={() => api.post('/api/proxy/stop')} />
      </div>
      {proxy?.message && <p class="message" id="proxy-message">{proxy.message}</p>}
      {!proxy ? (
        <Empty>Waiting for the server's status…</Empty>
      ) : proxy.processes.length === 0 ? (
        <Empty>No proxy processes are configured.</Empty>
      ) : (
        <div class="cards">
          {proxy.processes.map((p) => <ProcessCard key={p.name} process={p} now={now} />)}
        </div>
      )}
    </section>
  );
}
