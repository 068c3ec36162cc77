// REST calls to the server that served the page (same origin, relative URLs).
//
// The token, when the server has one, is read from sessionStorage and sent as
// `Authorization: Bearer`; it never goes in a URL. A 401 calls `onUnauthorized` so the
// page can ask for it.

const TOKEN_KEY = 'modeldeck.token';

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lives as long as the page.
  }
  memoryToken = token;
}

let memoryToken: string | null = null;

export function currentToken(): string | null {
  return storedToken() ?? memoryToken;
}

export interface FieldProblem {
  field: string;
  message: string;
}

/** A failed request: the server's `{error: {code, message, details}}`, or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Per-field messages: a 422 lists each bad field; other errors may name one. */
  fields(): FieldProblem[] {
    return fieldProblems(this.details);
  }
}

export function fieldProblems(details: unknown): FieldProblem[] {
  if (Array.isArray(details)) {
    return details
      .filter((d): d is { field: string; message: string } => typeof d?.field === 'string')
      .map((d) => ({ field: d.field, message: String(d.message ?? '') }));
  }
  if (details && typeof details === 'object' && typeof (details as { field?: unknown }).field === 'string') {
    return [{ field: (details as { field: string }).field, message: '' }];
  }
  return [];
}

let unauthorized: () => void = () => {};

export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (err) {
    throw new ApiError(0, 'network_error', `The server did not answer (${(err as Error).message})`);
  }
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    if (response.status === 401) unauthorized();
    const error = (data as { error?: { code?: string; message?: string; details?: unknown } })?.error;
    throw new ApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? `${response.status} ${response.statusText}`,
      error?.details,
    );
  }
  return data as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, body),
  delete: <T>(path: string) => request<T>('DELETE', path),
};

/** A path segment, escaped: ids and Ollama names may hold `:` and `/`. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
