// The local Ollama: reachable or not, installed models with a VRAM estimate at a chosen
// context, the catalog by category with install buttons, and every pull as a bar.

import type { JSX } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useMemo, useState } from 'preact/hooks';

import { api, seg } from '../api';
import { bytes, gib } from '../format';
import { startPull, syncPulls } from '../live';
import { pullView, sortedPulls } from '../pulls';
import { update, type AppState, type OllamaStatus } from '../store';
import type { CatalogEntry, OllamaModel, PullJob, VramAt, VramEstimate } from '../types';
import { Action, Badge, Empty, messageOf } from './common';

export async function loadOllama(): Promise<void> {
  try {
    const status = await api.get<OllamaStatus>('/api/ollama/status');
    update((s) => ({ ...s, ollamaStatus: status, ollamaError: status.available ? null : status.error }));
    if (!status.available) return;
    const [models, catalog] = await Promise.all([
      api.get<{ models: OllamaModel[] }>('/api/ollama/models'),
      api.get<CatalogEntry[]>('/api/ollama/catalog'),
    ]);
    update((s) => ({ ...s, ollamaModels: models.models, catalog }));
  } catch (err) {
    update((s) => ({ ...s, ollamaError: messageOf(err) }));
  }
}

const PullBar = memo(function PullBar(props: { job: PullJob }): JSX.Element {
  const v = pullView(props.job);
  const meta = [v.speed, v.eta].filter(Boolean).join(' · ');
  return (
    <li class={`pull ${v.status}`} data-pull={v.model} data-status={v.status}>
      <div class="pull-head">
        <strong>{v.model}</strong>
        <span class="pull-label" data-field="label">{v.label}</span>
        <span class="spacer" />
        {v.cancellable ? (
          <Action name="cancel" label="Cancel" title={`Cancel the pull of ${v.model}`} run={() => api.delete(`/api/ollama/pulls/${seg(v.id)}`)} />
        ) : (
          <button type="button" aria-label={`Dismiss ${v.model}`} onClick={() => update((s) => {
            const pulls = new Map(s.pulls);
            pulls.delete(v.model);
            return { ...s, pulls };
          })}>Dismiss</button>
        )}
      </div>
      <div class="bar" role="progressbar" aria-label={`Pull of ${v.model}`} aria-valuemin={0} aria-valuemax={100}
        aria-valuenow={v.percent ?? undefined} aria-valuetext={v.percent === null ? v.label : `${v.percent}%, ${v.label}`}>
        <div class="fill" style={{ width: `${v.percent ?? 0}%` }} />
      </div>
      <div class="pull-meta">
        <span data-field="percent">{v.percent === null ? '' : `${v.percent}%`}</span>
        {meta && <span data-field="speed">{meta}</span>}
        {v.queue && <span data-field="queue">{v.queue}</span>}
      </div>
    </li>
  );
});

function Terms(props: { at: VramAt }): JSX.Element {
  const at = props.at;
  return (
    <dl class="terms">
      <div><dt>weights</dt><dd>{gib(at.weights.gib)}</dd></div>
      <div><dt>KV cache</dt><dd>{gib(at.kvCache.gib)}</dd></div>
      <div><dt>compute graph</dt><dd>{gib(at.computeGraph.gib)}</dd></div>
      <div><dt>overhead</dt><dd>{gib(at.overhead.gib)}</dd></div>
      <div class="total"><dt>total</dt><dd>{gib(at.total.gib)}</dd></div>
      {at.gpuClass && <div><dt>fits</dt><dd>{at.gpuClass}</dd></div>}
    </dl>
  );
}

function InstalledRow(props: { model: OllamaModel }): JSX.Element {
  const m = props.model;
  const name = m.model || m.name;
  const [context, setContext] = useState('8192');
  const [estimate, setEstimate] = useState<VramEstimate | null>(null);
  const id = `vram-${name.replace(/[^A-Za-z0-9]/g, '-')}`;
  return (
    <tr data-ollama-model={name}>
      <th scope="row">{name}</th>
      <td class="num">{bytes(m.size)}</td>
      <td>{m.details?.family ?? '–'}</td>
      <td>{m.details?.parameterSize ?? '–'}</td>
      <td>{m.details?.quantizationLevel ?? '–'}</td>
      <td class="vram">
        <span class="inline-form">
          <label for={id} class="sr-only">Context length for {name}</label>
          <input id={id} class="short" inputMode="numeric" value={context} onInput={(e) => setContext(e.currentTarget.value)} />
          <span class="muted">tokens</span>
          <Action name="vram" label="Estimate" title={`Estimate VRAM of ${name}`} run={async () => {
            setEstimate(await api.get<VramEstimate>(`/api/ollama/models/${seg(name)}/vram?context=${encodeURIComponent(context.trim())}`));
          }} />
        </span>
        {estimate?.atRequestedContext && <Terms at={estimate.atRequestedContext} />}
        {estimate && !estimate.atRequestedContext && estimate.atModelContext && <Terms at={estimate.atModelContext} />}
      </td>
    </tr>
  );
}

function Catalog(props: { catalog: CatalogEntry[]; pulls: ReadonlyMap<string, PullJob> }): JSX.Element {
  const categories = useMemo(() => [...new Set(props.catalog.map((c) => c.category))].sort(), [props.catalog]);
  const [category, setCategory] = useState('');
  const entries = props.catalog.filter((c) => !category || c.category === category);
  return (
    <div>
      <div class="section-head">
        <h3 id="catalog-heading">Catalog</h3>
        <label class="inline-form">Category{' '}
          <select value={category} onChange={(e) => setCategory(e.currentTarget.value)}>
            <option value="">all</option>
            {categories.map((c) => <option value={c}>{c}</option>)}
          </select>
        </label>
      </div>
      <ul class="catalog" aria-labelledby="catalog-heading">
        {entries.map((entry) => (
          <li key={entry.name} data-catalog={entry.name}>
            <div><strong>{entry.name}</strong> <Badge tone="muted">{entry.category}</Badge></div>
            <p class="muted">{entry.description}</p>
            <div class="tags">
              {entry.tags.map((tag) => {
                const pull = props.pulls.get(tag.model);
                const pulling = pull && ['queued', 'downloading', 'verifying'].includes(pull.status);
                if (tag.installed) return <Badge tone="ok" label={`${tag.model} is installed`}>{tag.tag} ✓</Badge>;
                return (
                  <Action key={tag.model} name="install" disabled={pulling} title={`Install ${tag.model}`}
                    label={<>{pulling ? 'pulling ' : 'Install '}{tag.tag}{tag.vramGb ? <span class="muted"> ~{tag.vramGb} GB</span> : null}</>}
                    run={() => startPull(tag.model)} />
                );
              })}
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function OllamaView(props: { state: AppState }): JSX.Element {
  const { ollamaStatus: status, ollamaModels: installed, catalog, pulls, ollamaError } = props.state;
  useEffect(() => {
    loadOllama();
    const timer = setInterval(() => {
      loadOllama();
      syncPulls().catch(() => {});
    }, 5000);
    return () => clearInterval(timer);
  }, []);
  const jobs = sortedPulls(pulls);
  return (
    <section aria-labelledby="ollama-heading">
      <div class="section-head">
        <h2 id="ollama-heading">Ollama</h2>
        {status ? (
          status.available
            ? <Badge tone="ok"><span id="ollama-state">reachable</span></Badge>
            : <Badge tone="bad"><span id="ollama-state">unreachable</span></Badge>
        ) : <Badge tone="muted">checking…</Badge>}
        {status && <span class="muted">{status.url}{status.version ? ` · version ${status.version}` : ''}
          {status.pulls ? ` · ${status.pulls.running} running, ${status.pulls.queued} queued, ${status.pulls.workers} workers` : ''}</span>}
      </div>
      {ollamaError && <p class="error" role="alert">{ollamaError}</p>}

      <h3 id="pulls-heading">Pulls</h3>
      {jobs.length === 0 ? <Empty>{status?.available === false ? 'No pulls running.' : 'No pulls running. Install a model from the catalog below.'}</Empty> : (
        <ul class="pulls" aria-labelledby="pulls-heading">{jobs.map((job) => <PullBar key={job.model} job={job} />)}</ul>
      )}

      <h3 id="installed-heading">Installed</h3>
      {installed === null ? <Empty>{status?.available === false ? 'Ollama does not answer.' : 'Loading…'}</Empty>
        : installed.length === 0 ? <Empty>No models installed.</Empty> : (
          <div class="table-wrap">
            <table id="ollama-models" aria-labelledby="installed-heading">
              <thead><tr><th scope="col">Model</th><th scope="col" class="num">Size</th><th scope="col">Family</th>
                <th scope="col">Parameters</th><th scope="col">Quantisation</th><th scope="col">VRAM at a context</th></tr></thead>
              <tbody>{installed.map((m) => <InstalledRow key={m.model || m.name} model={m} />)}</tbody>
            </table>
          </div>
        )}

      {catalog && <Catalog catalog={catalog} pulls={pulls} />}
    </section>
  );
}
