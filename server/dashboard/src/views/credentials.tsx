// Credentials per provider (and seed 002's `qwen`): valid, expired, expiry time; set and delete.
// The token itself is write-only, like an API key.

import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';

import { api, seg } from '../api';
import { expiry, isoFromMs } from '../format';
import { withCredentials } from '../state';
import { update, type AppState } from '../store';
import type { Credentials } from '../types';
import { Action, Badge, Field, useFieldErrors, useOpenedForm } from './common';

/** The proxy's own credentials are not tied to a registry provider. */
const EXTRA = ['qwen'];

export async function loadCredentials(names: string[]): Promise<void> {
  const records = await Promise.all(names.map((n) => api.get<Credentials>(`/api/credentials/${seg(n)}`)));
  update((s) => ({ ...s, registry: withCredentials(s.registry, records) }));
}

function state(c: Credentials | undefined): JSX.Element {
  if (!c) return <span class="muted">…</span>;
  if (!c.hasCredentials) return <Badge tone="muted">none</Badge>;
  if (c.isExpired) return <Badge tone="bad">expired</Badge>;
  return c.isValid ? <Badge tone="ok">valid</Badge> : <Badge tone="warn">invalid</Badge>;
}

function CredentialsForm(props: { provider: string; onDone: () => void }): JSX.Element {
  const [token, setToken] = useState('');
  const [cookies, setCookies] = useState('');
  const [expires, setExpires] = useState('');
  const errors = useFieldErrors();
  const form = `creds-${props.provider}`;
  const opened = useOpenedForm(props.onDone);
  const submit = async (event: Event) => {
    event.preventDefault();
    errors.clear();
    const body: Record<string, unknown> = { token };
    if (cookies) body.cookies = cookies;
    if (expires) body.expiresAt = new Date(`${expires}Z`).getTime();
    try {
      await api.post(`/api/credentials/${seg(props.provider)}`, body);
      setToken('');
      setCookies('');
      props.onDone();
    } catch (err) {
      errors.fail(err, ['token', 'cookies', 'expiresAt']);
    }
  };
  return (
    <form class="panel form-grid" noValidate ref={opened.ref} onKeyDown={opened.onKeyDown} onSubmit={submit} aria-label={`Set credentials of ${props.provider}`}>
      <h3>Credentials of {props.provider}</h3>
      <Field form={form} name="token" label="Token" error={errors.errors.get('token')} hint="stored encrypted; never shown again">
        {(a) => <input {...a} type="password" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />}
      </Field>
      <Field form={form} name="cookies" label="Cookies (optional)" error={errors.errors.get('cookies')}>
        {(a) => <input {...a} type="password" autocomplete="off" value={cookies} onInput={(e) => setCookies(e.currentTarget.value)} />}
      </Field>
      <Field form={form} name="expiresAt" label="Expires at (UTC, optional)" error={errors.errors.get('expiresAt')}>
        {(a) => <input {...a} type="datetime-local" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />}
      </Field>
      <div class="form-actions">
        <button type="submit" class="primary">Save</button>
        <button type="button" onClick={props.onDone}>Cancel</button>
        {errors.general && <span class="error" role="alert">{errors.general}</span>}
      </div>
    </form>
  );
}

export function CredentialsView(props: { state: AppState }): JSX.Element {
  const { providers, credentials } = props.state.registry;
  const names = useMemo(() => [...new Set([...[...providers.keys()].sort(), ...EXTRA])], [providers]);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const missing = names.filter((n) => !credentials.has(n)).join(',');
  useEffect(() => {
    if (missing) loadCredentials(missing.split(',')).catch((err) => setError(String(err.message ?? err)));
  }, [missing]);
  const now = Date.now();
  return (
    <section aria-labelledby="credentials-heading">
      <h2 id="credentials-heading">Credentials</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {editing && <CredentialsForm key={editing} provider={editing} onDone={() => setEditing(null)} />}
      <div class="table-wrap">
        <table id="credentials">
          <thead><tr><th scope="col">Provider</th><th scope="col">State</th><th scope="col">Expires</th><th scope="col">Updated</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {names.map((name) => {
              const c = credentials.get(name);
              return (
                <tr data-credentials={name}>
                  <th scope="row">{providers.get(name)?.name ?? name}<div class="sub">{name}</div></th>
                  <td>{state(c)}</td>
                  <td title={isoFromMs(c?.expiresAt)}>{c?.hasCredentials ? `${expiry(c.expiresAt, now)}` : '–'}{c?.expiresAt ? <div class="sub">{isoFromMs(c.expiresAt)}</div> : null}</td>
                  <td>{c?.updatedAt ? c.updatedAt.replace('T', ' ').slice(0, 19) : '–'}</td>
                  <td class="actions">
                    <button type="button" aria-label={`Set credentials of ${name}`} onClick={() => setEditing(name)}>Set</button>
                    {c?.hasCredentials && (
                      <Action kind="danger" name="delete" label="Delete" title={`Delete credentials of ${name}`}
                        run={() => api.delete(`/api/credentials/${seg(name)}`)} />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
