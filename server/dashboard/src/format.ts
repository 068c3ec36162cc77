// Numbers and times as people read them. Sizes are decimal (GB = 10^9 bytes), like
// Ollama and the admin CLI; VRAM is binary (GiB), like the server's estimate.

const SIZE_UNITS = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** `4661224676` → `4.7 GB`; `1` → `1 byte`. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) return '–';
  if (n === 1) return '1 byte';
  if (n < 1000) return `${Math.round(n)} bytes`;
  let unit = 0;
  let value = n;
  while (value >= 1000 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${SIZE_UNITS[unit]}`;
}

/** Bytes per second → `12.3 MB/s`. */
export function speed(bytesPerSecond: number | null | undefined): string {
  if (!bytesPerSecond || bytesPerSecond <= 0) return '–';
  return `${bytes(bytesPerSecond)}/s`;
}

/** Seconds → `45 s`, `2 min 05 s`, `1 h 02 min`, `3 d 4 h`. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** `1048576` → `1,048,576 tokens`; null → `–`. */
export function tokens(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return `${n.toLocaleString('en-US')} tokens`;
}

/** `1048576` → `1M`, `131072` → `128K`, `8192` → `8K`, `1000` → `1,000`. */
export function shortTokens(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return n.toLocaleString('en-US');
}

/** An ISO timestamp → `14:03:22` in UTC (the server's and the CLI's clock). */
export function clock(iso: string | null | undefined, now: number = Date.now()): string {
  const moment = iso ? new Date(iso) : new Date(now);
  const valid = Number.isNaN(moment.getTime()) ? new Date(now) : moment;
  return valid.toISOString().slice(11, 19);
}

/** GiB with two decimals: `6.25 GiB`. */
export function gib(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return `${value.toFixed(2)} GiB`;
}

/** An expiry in ms since the epoch → `in 2 h 05 min`, `3 min 10 s ago`, or `no expiry`. */
export function expiry(expiresAt: number | null | undefined, now: number = Date.now()): string {
  if (expiresAt === null || expiresAt === undefined) return 'no expiry';
  const delta = (expiresAt - now) / 1000;
  return delta >= 0 ? `in ${duration(delta)}` : `${duration(-delta)} ago`;
}

/** `2026-12-02T14:03:22.000Z` style for an expiry in ms, or `–`. */
export function isoFromMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
