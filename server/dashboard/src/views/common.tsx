// Small building blocks shared by the views: an action button that shows its own error
// next to itself, field errors, and the "are you sure" row.

import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, type FieldProblem } from '../api';

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Runs an async action; while it runs the button is busy, a failure shows beside it. */
export function Action(props: {
  label: ComponentChildren;
  run: () => Promise<unknown>;
  title?: string;
  kind?: 'primary' | 'danger' | 'plain';
  disabled?: boolean;
  name?: string;
}): JSX.Element {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const click = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.run();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button
        type="button"
        class={props.kind ?? 'plain'}
        title={props.title}
        aria-label={props.title}
        data-action={props.name}
        disabled={busy || props.disabled}
        aria-busy={busy}
        onClick={click}
      >
        {props.label}
      </button>
      {error && <span class="error" role="alert">{error}</span>}
    </span>
  );
}

/** Field errors of the last failed save, by field name (camelCase, as the server names them). */
export function useFieldErrors(): {
  errors: Map<string, string>;
  general: string | null;
  fail: (err: unknown, known: readonly string[]) => void;
  clear: () => void;
} {
  const [errors, setErrors] = useState<Map<string, string>>(new Map());
  const [general, setGeneral] = useState<string | null>(null);
  return {
    errors,
    general,
    fail(err, known) {
      const problems: FieldProblem[] = err instanceof ApiError ? err.fields() : [];
      const byField = new Map<string, string>();
      for (const p of problems) {
        const field = p.field.split('.').pop() ?? p.field;
        if (known.includes(field) && !byField.has(field)) byField.set(field, p.message || messageOf(err));
      }
      setErrors(byField);
      setGeneral(byField.size > 0 && problems.every((p) => byField.has(p.field.split('.').pop() ?? p.field)) ? null : messageOf(err));
    },
    clear() {
      setErrors(new Map());
      setGeneral(null);
    },
  };
}

export function FieldError(props: { id: string; message: string | undefined }): JSX.Element | null {
  if (!props.message) return null;
  return <span class="field-error" id={props.id} role="alert">{props.message}</span>;
}

/** A labelled input with its error under it, wired with aria-invalid/aria-describedby. */
export function Field(props: {
  form: string;
  name: string;
  label: string;
  error?: string;
  hint?: string;
  children: (attrs: { id: string; name: string; 'aria-invalid'?: boolean; 'aria-describedby'?: string }) => JSX.Element;
}): JSX.Element {
  const id = `${props.form}-${props.name}`;
  const errorId = `${id}-error`;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.children({
        id,
        name: props.name,
        'aria-invalid': props.error ? true : undefined,
        'aria-describedby': props.error ? errorId : undefined,
      })}
      {props.hint && <span class="hint">{props.hint}</span>}
      <FieldError id={errorId} message={props.error} />
    </div>
  );
}

export function Badge(props: { tone: 'ok' | 'bad' | 'warn' | 'muted' | 'info'; children: ComponentChildren; label?: string }): JSX.Element {
  return <span class={`badge ${props.tone}`} aria-label={props.label}>{props.children}</span>;
}

export function YesNo(props: { value: boolean; yes?: string; no?: string }): JSX.Element {
  return props.value ? <Badge tone="ok">{props.yes ?? 'yes'}</Badge> : <Badge tone="muted">{props.no ?? 'no'}</Badge>;
}

export function Empty(props: { children: ComponentChildren }): JSX.Element {
  return <p class="empty">{props.children}</p>;
}

/** For a form that opens on request: focus its first field, bring it into view, and
 * let Escape close it (keyboard users land where they asked to go). */
export function useOpenedForm(onClose: () => void) {
  const ref = useRef<HTMLFormElement>(null);
  useEffect(() => {
    const form = ref.current;
    if (!form) return;
    form.scrollIntoView?.({ block: 'nearest' });
    form.querySelector<HTMLElement>('input:not([type=hidden]), select, textarea')?.focus();
  }, []);
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      onClose();
    }
  };
  return { ref, onKeyDown };
}
