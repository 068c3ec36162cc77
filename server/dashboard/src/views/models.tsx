// Models grouped by type: provider, context, enabled, default, status; set default,
// enable/disable, start/stop, edit, delete, and the per-model config sections.
// Long groups show their first rows and a "show more" button, so a registry of
// thousands stays quick to update.

import type { JSX } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useMemo, useState } from 'preact/hooks';

import { api, seg } from '../api';
import { buildConfig, SECTION_NAMES, SECTIONS, splitConfig } from '../config';
import { shortTokens } from '../format';
import { modelsByType } from '../state';
import type { AppState } from '../store';
import { MODEL_TYPES, type Model, type Provider } from '../types';
import { Action, Badge, Empty, Field, messageOf, useFieldErrors, useOpenedForm } from './common';

const PAGE = 100;
const FIELDS = ['id', 'name', 'description', 'type', 'providerId', 'sdkId', 'contextLength', 'enabled'] as const;

function statusTone(status: Model['status']): 'ok' | 'bad' | 'warn' | 'muted' {
  if (status === 'running') return 'ok';
  if (status === 'error') return 'bad';
  if (status === 'starting' || status === 'stopping') return 'warn';
  return 'muted';
}

function ModelForm(props: { model: Model | null; providers: Provider[]; onDone: () => void }): JSX.Element {
  const m = props.model;
  const [values, setValues] = useState<Record<string, string>>({
    id: '',
    name: m?.name ?? '',
    description: m?.description ?? '',
    type: m?.type ?? 'chat',
    providerId: m?.providerId ?? '',
    sdkId: m?.sdkId ?? '',
    contextLength: m?.contextLength?.toString() ?? '',
  });
  const [enabled, setEnabled] = useState(m?.enabled ?? true);
  const [busy, setBusy] = useState(false);
  const errors = useFieldErrors();
  const form = m ? `model-edit-${m.id}` : 'model-new';
  const opened = useOpenedForm(props.onDone);
  const set = (key: string) => (e: { currentTarget: { value: string } }) => setValues((v) => ({ ...v, [key]: e.currentTarget.value }));

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    errors.clear();
    const context = values.contextLength.trim();
    const all: Record<string, unknown> = {
      name: values.name,
      description: values.description,
      type: values.type,
      providerId: values.providerId || null,
      contextLength: context === '' ? null : Number.isFinite(Number(context)) ? Number(context) : context,
      enabled,
    };
    // The SDK id may be left out but not cleared.
    if (values.sdkId.trim()) all.sdkId = values.sdkId.trim();
    // An edit sends only what changed, so it cannot undo someone else's change meanwhile.
    const body = m
      ? Object.fromEntries(Object.entries(all).filter(([key, value]) => (m as unknown as Record<string, unknown>)[key] !== value))
      : all;
    try {
      if (m) await api.patch(`/api/models/${seg(m.id)}`, body);
      else await api.post('/api/models', values.id.trim() ? { ...body, id: values.id.trim() } : body);
      props.onDone();
    } catch (err) {
      errors.fail(err, FIELDS);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel form-grid" noValidate ref={opened.ref} onKeyDown={opened.onKeyDown} onSubmit={submit} aria-label={m ? `Edit model ${m.name}` : 'Add a model'}>
      <h3>{m ? `Edit ${m.name}` : 'Add a model'}</h3>
      {!m && (
        <Field form={form} name="id" label="Id (optional)" error={errors.errors.get('id')} hint="made from the name when empty">
          {(a) => <input {...a} value={values.id} onInput={set('id')} spellcheck={false} />}
        </Field>
      )}
      <Field form={form} name="name" label="Name" error={errors.errors.get('name')}>
        {(a) => <input {...a} value={values.name} required onInput={set('name')} />}
      </Field>
      <Field form={form} name="type" label="Type" error={errors.errors.get('type')}>
        {(a) => (
          <select {...a} value={values.type} onChange={set('type')}>
            {MODEL_TYPES.map((t) => <option value={t}>{t}</option>)}
          </select>
        )}
      </Field>
      <Field form={form} name="providerId" label="Provider" error={errors.errors.get('providerId')}>
        {(a) => (
          <select {...a} value={values.providerId} onChange={set('providerId')}>
            <option value="">(none)</option>
            {props.providers.map((p) => <option value={p.id}>{p.name}</option>)}
          </select>
        )}
      </Field>
      <Field form={form} name="sdkId" label="SDK id" error={errors.errors.get('sdkId')} hint="the name the provider knows it by">
        {(a) => <input {...a} value={values.sdkId} onInput={set('sdkId')} spellcheck={false} />}
      </Field>
      <Field form={form} name="contextLength" label="Context length (tokens)" error={errors.errors.get('contextLength')}>
        {(a) => <input {...a} inputMode="numeric" value={values.contextLength} onInput={set('contextLength')} />}
      </Field>
      <Field form={form} name="description" label="Description" error={errors.errors.get('description')}>
        {(a) => <input {...a} value={values.description} onInput={set('description')} />}
      </Field>
      <label class="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} /> Enabled
      </label>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>{m ? 'Save' : 'Add model'}</button>
        <button type="button" onClick={props.onDone}>Cancel</button>
        {errors.general && <span class="error" role="alert">{errors.general}</span>}
      </div>
    </form>
  );
}

/** One config section: loaded from the server, edited field by field, saved whole. */
function ConfigEditor(props: { model: Model; onClose: () => void }): JSX.Element {
  const [section, setSection] = useState(SECTION_NAMES[0]);
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [extra, setExtra] = useState('{}');
  const [loading, setLoading] = useState(true);
  const [saved, setSaved] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const errors = useFieldErrors();
  const path = `/api/models/${seg(props.model.id)}/config/${section}`;
  const opened = useOpenedForm(props.onClose);

  useEffect(() => {
    let live = true;
    setLoading(true);
    setSaved(null);
    setLoadError(null);
    errors.clear();
    api.get<{ config: Record<string, unknown> }>(path).then(
      (answer) => {
        if (!live) return;
        const split = splitConfig(section, answer.config ?? {});
        setTexts(split.texts);
        setExtra(JSON.stringify(split.extra));
        setLoading(false);
      },
      (err) => {
        if (live) {
          setLoadError(messageOf(err));
          setLoading(false);
        }
      },
    );
    return () => {
      live = false;
    };
  }, [path]);

  const save = async (event: Event) => {
    event.preventDefault();
    errors.clear();
    setSaved(null);
    let others: Record<string, unknown> = {};
    try {
      others = extra.trim() ? JSON.parse(extra) : {};
    } catch {
      errors.fail(new Error('Other keys: not valid JSON'), []);
      return;
    }
    try {
      const answer = await api.put<{ config: Record<string, unknown> }>(path, buildConfig(section, texts, others));
      const split = splitConfig(section, answer.config ?? {});
      setTexts(split.texts);
      setExtra(JSON.stringify(split.extra));
      setSaved(`Saved ${section}.`);
    } catch (err) {
      errors.fail(err, SECTIONS[section].map((f) => f.key));
    }
  };

  const form = `config-${props.model.id}-${section}`;
  return (
    <form class="panel config" noValidate ref={opened.ref} onKeyDown={opened.onKeyDown} onSubmit={save} aria-label={`Config of ${props.model.name}`}>
      <div class="section-head">
        <h3>Config of {props.model.name}</h3>
        <button type="button" onClick={props.onClose}>Close</button>
      </div>
      <div class="subtabs" role="tablist" aria-label="Config sections">
        {SECTION_NAMES.map((name) => (
          <button type="button" role="tab" aria-selected={name === section} class={name === section ? 'current' : ''}
            onClick={() => setSection(name)}>{name}</button>
        ))}
      </div>
      {loadError ? (
        <p class="error" role="alert">{loadError}</p>
      ) : loading ? (
        <p class="muted">Loading {section}…</p>
      ) : (
        <div class="form-grid">
          {SECTIONS[section].map((field) => (
            <Field form={form} name={field.key} label={field.label} hint={field.hint} error={errors.errors.get(field.key)}>
              {(a) => field.kind === 'bool' ? (
                <select {...a} value={texts[field.key] ?? ''} onChange={(e) => setTexts((t) => ({ ...t, [field.key]: e.currentTarget.value }))}>
                  <option value="">(not set)</option><option value="true">on</option><option value="false">off</option>
                </select>
              ) : (
                <input {...a} value={texts[field.key] ?? ''} inputMode={field.kind === 'int' || field.kind === 'float' ? 'decimal' : undefined}
                  spellcheck={false} onInput={(e) => setTexts((t) => ({ ...t, [field.key]: e.currentTarget.value }))} />
              )}
            </Field>
          ))}
          <Field form={form} name="other" label="Other keys (JSON)" hint="kept as given">
            {(a) => <textarea {...a} rows={2} value={extra} spellcheck={false} onInput={(e) => setExtra(e.currentTarget.value)} />}
          </Field>
          <div class="form-actions">
            <button type="submit" class="primary">Save {section}</button>
            {saved && <span class="ok-text" role="status">{saved}</span>}
            {errors.general && <span class="error" role="alert">{errors.general}</span>}
          </div>
        </div>
      )}
    </form>
  );
}

const ModelRow = memo(function ModelRow(props: {
  model: Model;
  provider: string;
  onEdit: (id: string) => void;
  onConfig: (id: string) => void;
}): JSX.Element {
  const m = props.model;
  const path = `/api/models/${seg(m.id)}`;
  const [confirm, setConfirm] = useState(false);
  const running = m.status === 'running' || m.status === 'starting';
  return (
    <tr data-model={m.id} class={m.enabled ? '' : 'disabled'}>
      <th scope="row">{m.name}<div class="sub">{m.id}</div></th>
      <td data-label="Provider">{props.provider}</td>
      <td class="num" data-label="Context" title={m.contextLength ? `${m.contextLength.toLocaleString('en-US')} tokens` : undefined}>{shortTokens(m.contextLength)}</td>
      <td data-label="Enabled">{m.enabled ? <Badge tone="ok">enabled</Badge> : <Badge tone="muted">disabled</Badge>}</td>
      <td data-label="Default">{m.isDefault ? <Badge tone="info" label="default model of its type">default</Badge> : ''}</td>
      <td data-label="Status"><Badge tone={statusTone(m.status)}>{m.status}</Badge></td>
      <td class="actions">
        {confirm ? (
          <span class="confirm" role="group" aria-label={`Delete ${m.name}?`}>
            Delete {m.name}?
            <Action kind="danger" name="delete-confirm" label="Delete" run={() => api.delete(path)} />
            <button type="button" onClick={() => setConfirm(false)}>Cancel</button>
          </span>
        ) : (
          <>
            {!m.isDefault && <Action name="set-default" label="Make default" title={`Make ${m.name} the default ${m.type} model`} run={() => api.post(`${path}/set-default`)} />}
            <Action name={m.enabled ? 'disable' : 'enable'} label={m.enabled ? 'Disable' : 'Enable'} title={`${m.enabled ? 'Disable' : 'Enable'} ${m.name}`}
              run={() => api.patch(path, { enabled: !m.enabled })} />
            <Action name={running ? 'stop' : 'start'} label={running ? 'Stop' : 'Start'} title={`${running ? 'Stop' : 'Start'} ${m.name}`}
              run={() => api.post(`${path}/${running ? 'stop' : 'start'}`)} />
            <button type="button" data-action="edit" aria-label={`Edit ${m.name}`} onClick={() => props.onEdit(m.id)}>Edit</button>
            <button type="button" data-action="config" aria-label={`Config of ${m.name}`} onClick={() => props.onConfig(m.id)}>Config</button>
            <button type="button" data-action="delete" class="danger" aria-label={`Delete ${m.name}`} onClick={() => setConfirm(true)}>Delete</button>
          </>
        )}
      </td>
    </tr>
  );
});

function ModelGroup(props: {
  type: string;
  models: Model[];
  providers: ReadonlyMap<string, Provider>;
  onEdit: (id: string) => void;
  onConfig: (id: string) => void;
}): JSX.Element {
  const [shown, setShown] = useState(PAGE);
  const rows = props.models.slice(0, shown);
  const id = `models-${props.type}`;
  return (
    <div class="group">
      <h3 id={`${id}-heading`}>{props.type} <span class="count">{props.models.length}</span></h3>
      <div class="table-wrap">
        <table id={id} class="stack models-table" aria-labelledby={`${id}-heading`}>
          <thead>
            <tr><th scope="col">Model</th><th scope="col">Provider</th><th scope="col" class="num">Context</th>
              <th scope="col">Enabled</th><th scope="col">Default</th><th scope="col">Status</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <ModelRow key={m.id} model={m} provider={m.providerId ? props.providers.get(m.providerId)?.name ?? m.providerId : '–'}
                onEdit={props.onEdit} onConfig={props.onConfig} />
            ))}
          </tbody>
        </table>
      </div>
      {props.models.length > shown && (
        <button type="button" class="more" onClick={() => setShown((n) => n + PAGE * 5)}>
          Show {Math.min(PAGE * 5, props.models.length - shown)} more of {props.models.length - shown}
        </button>
      )}
    </div>
  );
}

export function ModelsView(props: { state: AppState }): JSX.Element {
  const { models, providers } = props.state.registry;
  const [filter, setFilter] = useState('');
  const [editing, setEditing] = useState<string | null>(null);
  const [config, setConfig] = useState<string | null>(null);
  const providerList = useMemo(() => [...providers.values()].sort((a, b) => a.name.localeCompare(b.name)), [providers]);
  const visible = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    if (!needle) return models;
    const kept = new Map<string, Model>();
    for (const m of models.values()) {
      if (m.id.toLowerCase().includes(needle) || m.name.toLowerCase().includes(needle) || (m.providerId ?? '').toLowerCase().includes(needle)) kept.set(m.id, m);
    }
    return kept;
  }, [models, filter]);
  const groups = useMemo(() => modelsByType(visible), [visible]);
  const editModel = editing && editing !== 'new' ? models.get(editing) ?? null : null;
  const configModel = config ? models.get(config) ?? null : null;

  return (
    <section aria-labelledby="models-heading">
      <div class="section-head">
        <h2 id="models-heading">Models <span class="count">{models.size}</span></h2>
        <input type="search" class="filter" placeholder="Filter by name, id or provider" aria-label="Filter models"
          value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        <button type="button" class="primary" onClick={() => setEditing('new')}>Add model</button>
      </div>
      {editing === 'new' && <ModelForm model={null} providers={providerList} onDone={() => setEditing(null)} />}
      {editModel && <ModelForm key={editModel.id} model={editModel} providers={providerList} onDone={() => setEditing(null)} />}
      {configModel && <ConfigEditor key={configModel.id} model={configModel} onClose={() => setConfig(null)} />}
      {visible.size === 0 ? (
        <Empty>{models.size === 0 ? 'No models yet.' : 'No model matches the filter.'}</Empty>
      ) : (
        MODEL_TYPES.filter((t) => groups.has(t)).concat([...groups.keys()].filter((t) => !MODEL_TYPES.includes(t as Model['type'])) as Model['type'][])
          .map((type) => (
            <ModelGroup key={type} type={type} models={groups.get(type) ?? []} providers={providers}
              onEdit={setEditing} onConfig={setConfig} />
          ))
      )}
    </section>
  );
}
