// Providers: the table, add/edit (the API key is write-only), enable/disable, delete
// with the cascade question when the provider still has models.

import type { JSX } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';

import { api, seg } from '../api';
import { modelCounts } from '../state';
import type { AppState } from '../store';
import type { Provider } from '../types';
import { Action, Badge, Empty, Field, useFieldErrors, useOpenedForm, YesNo } from './common';

const FIELDS = ['id', 'name', 'sdkId', 'baseUrl', 'apiKey', 'enabled'] as const;

function ProviderForm(props: { provider: Provider | null; onDone: () => void }): JSX.Element {
  const editing = props.provider;
  const [id, setId] = useState('');
  const [name, setName] = useState(editing?.name ?? '');
  const [sdkId, setSdkId] = useState(editing?.sdkId ?? '');
  const [baseUrl, setBaseUrl] = useState(editing?.baseUrl ?? '');
  const [apiKey, setApiKey] = useState('');
  const [clearKey, setClearKey] = useState(false);
  const [enabled, setEnabled] = useState(editing?.enabled ?? true);
  const [busy, setBusy] = useState(false);
  const errors = useFieldErrors();
  const form = editing ? `provider-edit-${editing.id}` : 'provider-new';
  const opened = useOpenedForm(props.onDone);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    errors.clear();
    const all: Record<string, unknown> = { name, sdkId, baseUrl: baseUrl.trim() || null, enabled };
    // An edit sends only what changed, so it cannot undo someone else's change meanwhile.
    const body = editing
      ? Object.fromEntries(Object.entries(all).filter(([key, value]) => (editing as unknown as Record<string, unknown>)[key] !== value))
      : all;
    if (apiKey) body.apiKey = apiKey;
    else if (editing && clearKey) body.apiKey = null;
    try {
      if (editing) await api.patch(`/api/providers/${seg(editing.id)}`, body);
      else await api.post('/api/providers', id.trim() ? { ...body, id: id.trim() } : body);
      setApiKey(''); // never kept in the page longer than the request
      props.onDone();
    } catch (err) {
      errors.fail(err, FIELDS);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel form-grid" noValidate ref={opened.ref} onKeyDown={opened.onKeyDown} onSubmit={submit} aria-label={editing ? `Edit provider ${editing.name}` : 'Add a provider'}>
      <h3>{editing ? `Edit ${editing.name}` : 'Add a provider'}</h3>
      {!editing && (
        <Field form={form} name="id" label="Id (optional)" error={errors.errors.get('id')} hint="made from the name when empty">
          {(a) => <input {...a} value={id} onInput={(e) => setId(e.currentTarget.value)} spellcheck={false} />}
        </Field>
      )}
      <Field form={form} name="name" label="Name" error={errors.errors.get('name')}>
        {(a) => <input {...a} value={name} required onInput={(e) => setName(e.currentTarget.value)} />}
      </Field>
      <Field form={form} name="sdkId" label="SDK id" error={errors.errors.get('sdkId')} hint="e.g. openai, anthropic">
        {(a) => <input {...a} value={sdkId} required onInput={(e) => setSdkId(e.currentTarget.value)} spellcheck={false} />}
      </Field>
      <Field form={form} name="baseUrl" label="Base URL" error={errors.errors.get('baseUrl')}>
        {(a) => <input {...a} type="url" value={baseUrl} onInput={(e) => setBaseUrl(e.currentTarget.value)} spellcheck={false} />}
      </Field>
      <Field
        form={form}
        name="apiKey"
        label="API key"
        error={errors.errors.get('apiKey')}
        hint={editing?.hasApiKey ? `stored (${editing.apiKeyHint ?? 'hidden'}); leave empty to keep it` : 'stored encrypted; never shown again'}
      >
        {(a) => (
          <input {...a} type="password" autocomplete="off" value={apiKey} disabled={clearKey}
            placeholder={editing?.hasApiKey ? 'unchanged' : ''} onInput={(e) => setApiKey(e.currentTarget.value)} />
        )}
      </Field>
      {editing?.hasApiKey && (
        <label class="check">
          <input type="checkbox" checked={clearKey} onChange={(e) => setClearKey(e.currentTarget.checked)} /> Remove the stored key
        </label>
      )}
      <label class="check">
        <input type="checkbox" name="enabled" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} /> Enabled
      </label>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>{editing ? 'Save' : 'Add provider'}</button>
        <button type="button" onClick={props.onDone}>Cancel</button>
        {errors.general && <span class="error" role="alert">{errors.general}</span>}
      </div>
    </form>
  );
}

function DeleteQuestion(props: { provider: Provider; models: number; onDone: () => void }): JSX.Element {
  const { provider, models } = props;
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.scrollIntoView?.({ block: 'nearest' });
    box.current?.querySelector('button')?.focus();
  }, [provider.id]);
  const remove = (cascade: boolean) => async () => {
    await api.delete(`/api/providers/${seg(provider.id)}${cascade ? '?cascade=true' : ''}`);
    props.onDone();
  };
  return (
    <div class="confirm" role="group" ref={box} aria-label={`Delete ${provider.name}?`}
      onKeyDown={(e) => { if (e.key === 'Escape') props.onDone(); }}>
      {models > 0 ? (
        <>
          <span>{provider.name} still has {models} model{models === 1 ? '' : 's'}. Delete them too?</span>
          <Action kind="danger" name="delete-cascade" label={`Delete provider and ${models} model${models === 1 ? '' : 's'}`} run={remove(true)} />
          <Action name="delete-plain" label="Delete provider only" run={remove(false)} />
        </>
      ) : (
        <>
          <span>Delete {provider.name}?</span>
          <Action kind="danger" name="delete-confirm" label="Delete" run={remove(false)} />
        </>
      )}
      <button type="button" onClick={props.onDone}>Cancel</button>
    </div>
  );
}

const ProviderRow = memo(function ProviderRow(props: {
  provider: Provider;
  models: number;
  onEdit: (id: string) => void;
  onDelete: (id: string) => void;
}): JSX.Element {
  const p = props.provider;
  const path = `/api/providers/${seg(p.id)}`;
  return (
    <tr data-provider={p.id}>
      <th scope="row">{p.name}<div class="sub">{p.id}</div></th>
      <td data-label="SDK">{p.sdkId}</td>
      <td class="url" data-label="Base URL">{p.baseUrl ?? '–'}</td>
      <td data-label="Key">{p.hasApiKey ? <code>{p.apiKeyHint ?? 'set'}</code> : <span class="muted">none</span>}</td>
      <td data-label="State"><YesNo value={p.enabled} yes="enabled" no="disabled" /></td>
      <td class="num" data-label="Models">{props.models}</td>
      <td class="actions">
        <Action name={p.enabled ? 'disable' : 'enable'} label={p.enabled ? 'Disable' : 'Enable'}
          title={`${p.enabled ? 'Disable' : 'Enable'} ${p.name}`}
          run={() => api.post(`${path}/${p.enabled ? 'disable' : 'enable'}`)} />
        <button type="button" data-action="edit" aria-label={`Edit ${p.name}`} onClick={() => props.onEdit(p.id)}>Edit</button>
        <button type="button" data-action="delete" class="danger" aria-label={`Delete ${p.name}`} onClick={() => props.onDelete(p.id)}>Delete</button>
      </td>
    </tr>
  );
});

export function ProvidersView(props: { state: AppState }): JSX.Element {
  const { providers, models } = props.state.registry;
  const counts = useMemo(() => modelCounts(models), [models]);
  const [editing, setEditing] = useState<string | 'new' | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const list = useMemo(() => [...providers.values()].sort((a, b) => a.name.localeCompare(b.name)), [providers]);
  const editProvider = editing && editing !== 'new' ? providers.get(editing) ?? null : null;
  const deleteProvider = deleting ? providers.get(deleting) ?? null : null;

  return (
    <section aria-labelledby="providers-heading">
      <div class="section-head">
        <h2 id="providers-heading">Providers <span class="count">{providers.size}</span></h2>
        <button type="button" class="primary" onClick={() => setEditing('new')}>Add provider</button>
      </div>
      {editing === 'new' && <ProviderForm provider={null} onDone={() => setEditing(null)} />}
      {editProvider && <ProviderForm key={editProvider.id} provider={editProvider} onDone={() => setEditing(null)} />}
      {deleteProvider && (
        <DeleteQuestion provider={deleteProvider} models={counts.get(deleteProvider.id) ?? 0} onDone={() => setDeleting(null)} />
      )}
      {list.length === 0 ? (
        <Empty>No providers yet.</Empty>
      ) : (
        <div class="table-wrap">
          <table id="providers" class="stack">
            <thead>
              <tr><th scope="col">Name</th><th scope="col">SDK</th><th scope="col">Base URL</th><th scope="col">Key</th>
                <th scope="col">State</th><th scope="col" class="num">Models</th><th scope="col">Actions</th></tr>
            </thead>
            <tbody>
              {list.map((p) => (
                <ProviderRow key={p.id} provider={p} models={counts.get(p.id) ?? 0}
                  onEdit={setEditing} onDelete={setDeleting} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {[...providers.values()].some((p) => !p.enabled) && <p class="hint"><Badge tone="muted">disabled</Badge> providers' models are not routed.</p>}
    </section>
  );
}
