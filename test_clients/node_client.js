#!/usr/bin/env node
// modeldeck Node.js test client.
//
// Connects to a modeldeck server with socket.io-client 4, prints every received
// event to stdout as one JSON line, and optionally waits for a set of expected
// events (for CI). Lifecycle messages go to stderr. Run with --help for usage.

import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';

const ALL_TOPICS = ['providers', 'models', 'credentials', 'proxy', 'ollama'];
const VALID_TRANSPORTS = ['polling', 'websocket', 'webtransport'];

// Exit codes.
const EXIT_OK = 0; // expectations met, --timeout elapsed without --expect, or interrupted
const EXIT_TIMEOUT = 1; // --expect: timeout (or interrupt) with expectations still unmet
const EXIT_CONNECT = 2; // connection refused by the server or not possible at all
const EXIT_USAGE = 64; // bad command line or unreadable --expect file

const USAGE = `Usage: node node_client.js [options]

Connects to a modeldeck Socket.IO server and prints every received event to
stdout as one JSON line: {"event": name, "data": payload, "receivedAt": iso}.
Lifecycle messages (connected, disconnected, reconnect, errors) go to stderr.
Runs until SIGINT/SIGTERM unless --expect or --timeout is given.

Options:
  --url URL                 server URL (default: http://127.0.0.1:3002)
  --token T                 auth token, sent as auth {token} (env: MODELDECK_TOKEN)
  --transports LIST         comma-separated: websocket | polling,websocket
                            (default: polling,websocket, the library default)
  --path PATH               Socket.IO path (default: /socket.io)
  --format delta|full       event format, sent as auth {format} (default: delta:
                            registry events carry what changed; the greeting
                            proxy:status carries the full lists and their seq)
  --last-seq N              resume after seq N: sent as auth {lastSeq} on the first
                            connect; later (re)connects send the highest seq seen
  --subscribe LIST          only receive these topics (providers,models,credentials,
                            proxy,ollama): emits unsubscribe for the others, then
                            subscribe for these, on every connect; acks are printed
                            as "ack:unsubscribe" / "ack:subscribe"
  --pull-subscribe MODEL    emit pull:subscribe {model} on every connect and print
                            the ack as "ack:pull:subscribe" (repeatable)
  --emit NAME               emit one request NAME once after the first connect and
                            print its ack as "ack:NAME" (repeatable)
  --emit-data JSON          payload for the --emit at the same position
  --ack-timeout S           seconds to wait for each ack (default: 10)
  --expect FILE|JSON        JSON array of expectations; exit 0 as soon as all are
                            met. Items: "event-name" or
                            {"event": name, "contains": {partial payload}, "count": n}
                            (count defaults to 1). Acks printed as "ack:NAME" can be
                            expected too. An argument starting with "[" is read as
                            inline JSON instead of a file name.
  --timeout S               with --expect: give up after S seconds (default: 30),
                            print the unmet expectations and exit 1;
                            without --expect: listen for S seconds, then exit 0
  --connect-retries N       connection attempts to retry before the first successful
                            connect (default: 0: a server that cannot be reached
                            ends the program); after a successful connect the client
                            reconnects forever, resuming from the highest seq seen
  --quiet                   no lifecycle lines on stderr (errors are still printed)
  -h, --help                show this help

Matching: "contains" matches recursively. Objects match when every expected key
matches; arrays match when every expected element matches some actual element;
other values must be equal.

Exit codes: 0 done (expectations met / interrupted / listen timeout),
1 expectations unmet at timeout, 2 connection refused or impossible,
64 usage error.

Examples:
  node node_client.js --url http://127.0.0.1:3002 --token secret
  node node_client.js --transports websocket --last-seq 41 --subscribe models
  node node_client.js --expect '["proxy:status", {"event": "models:updated",
      "contains": {"action": "created"}}]' --timeout 20
  node node_client.js --emit save_model --emit-data '{"name": "A", "type": "chat"}'
`;

function usageError(message) {
  process.stderr.write(`node_client: ${message}\n(run with --help for usage)\n`);
  process.exit(EXIT_USAGE);
}

function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string', default: 'http://127.0.0.1:3002' },
        token: { type: 'string' },
        transports: { type: 'string' },
        path: { type: 'string', default: '/socket.io' },
        format: { type: 'string', default: 'delta' },
        'last-seq': { type: 'string' },
        subscribe: { type: 'string' },
        'pull-subscribe': { type: 'string', multiple: true },
        emit: { type: 'string', multiple: true },
        'emit-data': { type: 'string', multiple: true },
        'ack-timeout': { type: 'string', default: '10' },
        expect: { type: 'string' },
        timeout: { type: 'string' },
        'connect-retries': { type: 'string', default: '0' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    usageError(err.message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(EXIT_OK);
  }

  const opts = { quiet: v.quiet, path: v.path };

  try {
    const u = new URL(v.url);
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) throw new Error('unsupported scheme');
    opts.url = v.url;
  } catch {
    usageError(`--url: not a valid http(s)/ws(s) URL: ${v.url}`);
  }

  if (!['delta', 'full'].includes(v.format)) usageError(`--format: expected delta or full, got ${v.format}`);
  opts.format = v.format;

  opts.token = v.token ?? process.env.MODELDECK_TOKEN ?? undefined;
  if (opts.token === '') opts.token = undefined;

  if (v.transports !== undefined) {
    const list = v.transports.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = list.filter((t) => !VALID_TRANSPORTS.includes(t));
    if (list.length === 0 || bad.length) usageError(`--transports: unknown transport(s) ${bad.join(', ') || '(empty)'}`);
    opts.transports = list;
  }

  opts.lastSeq = null;
  if (v['last-seq'] !== undefined) {
    const n = Number(v['last-seq']);
    if (!Number.isInteger(n) || n < 0) usageError(`--last-seq: expected a non-negative integer, got ${v['last-seq']}`);
    opts.lastSeq = n;
  }

  opts.subscribe = null;
  if (v.subscribe !== undefined) {
    const topics = v.subscribe.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = topics.filter((t) => !ALL_TOPICS.includes(t));
    if (topics.length === 0 || bad.length) {
      usageError(`--subscribe: unknown topic(s) ${bad.join(', ') || '(empty)'}; valid: ${ALL_TOPICS.join(', ')}`);
    }
    opts.subscribe = [...new Set(topics)];
  }

  opts.pullSubscribe = v['pull-subscribe'] ?? [];

  const emits = v.emit ?? [];
  const emitData = v['emit-data'] ?? [];
  if (emitData.length > emits.length) usageError('--emit-data given without a matching --emit');
  opts.emits = emits.map((name, i) => {
    if (!name) usageError('--emit: empty event name');
    if (emitData[i] === undefined) return { name, hasData: false, data: undefined };
    try {
      return { name, hasData: true, data: JSON.parse(emitData[i]) };
    } catch (err) {
      return usageError(`--emit-data for ${name}: invalid JSON: ${err.message}`);
    }
  });

  const seconds = (name, raw) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) usageError(`--${name}: expected a positive number of seconds, got ${raw}`);
    return n;
  };
  opts.ackTimeoutMs = seconds('ack-timeout', v['ack-timeout']) * 1000;

  const retries = Number(v['connect-retries']);
  if (!Number.isInteger(retries) || retries < 0) usageError(`--connect-retries: expected a non-negative integer, got ${v['connect-retries']}`);
  opts.connectRetries = retries;

  opts.expectations = null;
  if (v.expect !== undefined) {
    let text;
    const inline = v.expect.trimStart().startsWith('[');
    if (inline) {
      text = v.expect;
    } else {
      try {
        text = readFileSync(v.expect, 'utf8');
      } catch (err) {
        usageError(`--expect: cannot read ${v.expect}: ${err.message}`);
      }
    }
    let list;
    try {
      list = JSON.parse(text);
    } catch (err) {
      usageError(`--expect: invalid JSON${inline ? '' : ` in ${v.expect}`}: ${err.message}`);
    }
    opts.expectations = normalizeExpectations(list);
  }

  opts.timeoutMs = null;
  if (v.timeout !== undefined) opts.timeoutMs = seconds('timeout', v.timeout) * 1000;
  else if (opts.expectations) opts.timeoutMs = 30_000;

  return opts;
}

function normalizeExpectations(list) {
  if (!Array.isArray(list)) usageError('--expect: the JSON must be an array');
  return list.map((item, i) => {
    if (typeof item === 'string' && item) return { event: item, contains: undefined, count: 1, seen: 0, index: i };
    if (item && typeof item === 'object' && !Array.isArray(item) && typeof item.event === 'string' && item.event) {
      const count = item.count === undefined ? 1 : item.count;
      if (!Number.isInteger(count) || count < 1) usageError(`--expect: item ${i}: "count" must be a positive integer`);
      return { event: item.event, contains: item.contains, count, seen: 0, index: i };
    }
    return usageError(`--expect: item ${i} must be an event name or {"event": name, "contains": {...}}`);
  });
}

// Recursive partial match: objects by expected keys, arrays by "every expected
// element matches some actual element", everything else by equality.
export function partialMatch(expected, actual) {
  if (expected === undefined) return true;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return false;
    return expected.every((e) => actual.some((a) => partialMatch(e, a)));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.keys(expected).every((k) => Object.hasOwn(actual, k) && partialMatch(expected[k], actual[k]));
  }
  return Object.is(expected, actual) || expected === actual;
}

function describeExpectation(e) {
  const base = e.contains === undefined ? e.event : `${e.event} contains ${JSON.stringify(e.contains)}`;
  return e.count > 1 ? `${base} (seen ${e.seen}/${e.count})` : base;
}

// A readable message for a connect_error: the Socket.IO message plus, for
// transport failures, the underlying cause (ECONNREFUSED, DNS, HTTP status).
function describeConnectError(err) {
  let cause;
  const ctx = err.context;
  const desc = err.description;
  if (ctx && typeof ctx === 'object') {
    if (ctx.statusText instanceof Error) cause = ctx.statusText.message;
    else if (ctx.status) {
      const body = typeof ctx.responseText === 'string' ? ctx.responseText.trim().slice(0, 300) : '';
      cause = `HTTP ${ctx.status}${body ? ` ${body}` : ''}`;
    }
  }
  if (!cause && desc !== undefined && desc !== null) {
    if (typeof desc === 'number') cause = desc ? `HTTP ${desc}` : undefined;
    else cause = desc.error?.message ?? desc.message ?? undefined;
  }
  let text = err.message;
  if (cause && cause !== err.message) text += ` (${cause})`;
  if (err.data !== undefined) text += ` ${JSON.stringify(err.data)}`;
  return text;
}

function main() {
  const opts = parseCommandLine(process.argv.slice(2));
  let highestSeq = opts.lastSeq; // null until known
  let everConnected = false;
  let failedAttempts = 0;
  let emitsDone = false;
  let finished = false;
  let timer = null;

  const log = (msg) => {
    if (!opts.quiet) process.stderr.write(`${new Date().toISOString()} node_client: ${msg}\n`);
  };
  const logError = (msg) => process.stderr.write(`${new Date().toISOString()} node_client: ${msg}\n`);

  const unmet = () => (opts.expectations ?? []).filter((e) => e.seen < e.count);

  const finish = (code, why) => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    if (why) (code === EXIT_OK ? log : logError)(why);
    try {
      socket.disconnect();
    } catch {
      /* ignore */
    }
    // Let stdout drain before exiting so no printed line is lost.
    process.stdout.write('', () => process.exit(code));
  };

  // Resume point. It advances with the seq of broadcast events (live or
  // replayed). The proxy:status snapshot a server sends to each client as it
  // connects carries the *current* seq, possibly ahead of a replay still in
  // flight, so it only sets the resume point when none is known yet;
  // events:reset {currentSeq} (the log no longer reaches back far enough)
  // moves it to currentSeq.
  let snapshotPending = false; // true until the first proxy:status of a connection
  const trackSeq = (event, data) => {
    if (!data || typeof data !== 'object') return;
    if (event === 'events:reset') {
      if (Number.isInteger(data.currentSeq)) highestSeq = data.currentSeq;
      return;
    }
    if (!Number.isInteger(data.seq)) return;
    if (event === 'proxy:status' && snapshotPending) {
      snapshotPending = false;
      if (highestSeq === null) highestSeq = data.seq;
      return;
    }
    if (highestSeq === null || data.seq > highestSeq) highestSeq = data.seq;
  };

  const record = (event, data, fromServer = true) => {
    if (finished) return;
    process.stdout.write(`${JSON.stringify({ event, data: data === undefined ? null : data, receivedAt: new Date().toISOString() })}\n`);
    if (fromServer) trackSeq(event, data);
    if (opts.expectations) {
      for (const e of opts.expectations) {
        if (e.seen < e.count && e.event === event && partialMatch(e.contains, data)) e.seen += 1;
      }
      if (unmet().length === 0) finish(EXIT_OK, `all ${opts.expectations.length} expectation(s) met`);
    }
  };

  let sentLastSeq = null; // the lastSeq sent with the latest connection attempt
  const socket = io(opts.url, {
    path: opts.path,
    ...(opts.transports ? { transports: opts.transports } : {}),
    // Called on every (re)connect: resume from the highest seq seen so far.
    auth: (cb) => {
      const auth = { format: opts.format };
      if (opts.token !== undefined) auth.token = opts.token;
      if (highestSeq !== null) auth.lastSeq = highestSeq;
      sentLastSeq = highestSeq;
      snapshotPending = true;
      cb(auth);
    },
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });

  // Emit with an ack; print the ack (or the failure) as an "ack:<name>" line.
  const request = async (name, args) => {
    try {
      const ack = await socket.timeout(opts.ackTimeoutMs).emitWithAck(name, ...args);
      record(`ack:${name}`, ack, false);
      return ack;
    } catch (err) {
      logError(`no ack for ${name} within ${opts.ackTimeoutMs / 1000}s (${err.message})`);
      return undefined;
    }
  };

  socket.on('connect', async () => {
    if (finished) return;
    everConnected = true;
    failedAttempts = 0;
    const transport = socket.io.engine?.transport?.name;
    log(`connected id=${socket.id} transport=${transport} url=${opts.url}${sentLastSeq !== null ? ` lastSeq=${sentLastSeq}` : ''}`);
    if (opts.subscribe) {
      const others = ALL_TOPICS.filter((t) => !opts.subscribe.includes(t));
      if (others.length) await request('unsubscribe', [{ topics: others }]);
      await request('subscribe', [{ topics: opts.subscribe }]);
    }
    for (const model of opts.pullSubscribe) await request('pull:subscribe', [{ model }]);
    if (!emitsDone) {
      emitsDone = true; // writes are sent once, not again on reconnect
      for (const e of opts.emits) await request(e.name, e.hasData ? [e.data] : []);
    }
  });

  socket.on('disconnect', (reason, details) => {
    const extra = details?.description?.message ?? details?.message ?? '';
    log(`disconnected reason=${reason}${extra ? ` (${extra})` : ''}`);
    if (reason === 'io server disconnect' && !finished) {
      // The server closed this socket (e.g. a slow consumer being dropped);
      // socket.io does not reconnect by itself in that case. Reconnect and
      // resume from the highest seq seen.
      setTimeout(() => {
        if (!finished) {
          log(`reconnecting after server disconnect (lastSeq=${highestSeq ?? 'none'})`);
          socket.connect();
        }
      }, 1000);
    }
  });

  socket.on('connect_error', (err) => {
    const text = describeConnectError(err);
    if (!socket.active) {
      // The server answered and refused the connection (e.g. bad token):
      // retrying would not help.
      finish(EXIT_CONNECT, `connection refused by server: ${text}`);
      return;
    }
    if (!everConnected) {
      failedAttempts += 1;
      if (failedAttempts > opts.connectRetries) {
        finish(EXIT_CONNECT, `cannot connect to ${opts.url}: ${text}`);
        return;
      }
      logError(`connect error (attempt ${failedAttempts}/${opts.connectRetries + 1}): ${text}`);
      return;
    }
    logError(`connect error: ${text} (retrying)`);
  });

  socket.io.on('reconnect_attempt', (n) => log(`reconnect attempt ${n}`));
  socket.io.on('reconnect', (n) => log(`reconnected after ${n} attempt(s)`));
  socket.io.on('reconnect_failed', () => finish(EXIT_CONNECT, 'reconnection failed'));
  socket.io.on('open', () => {
    socket.io.engine.on('upgrade', (t) => log(`transport upgraded to ${t.name}`));
  });

  socket.onAny((event, ...args) => {
    // An event sent with an ack request has a callback as its last argument.
    const payload = args.filter((a) => typeof a !== 'function');
    record(event, payload.length === 0 ? null : payload.length === 1 ? payload[0] : payload);
  });

  if (opts.timeoutMs !== null) {
    timer = setTimeout(() => {
      if (!opts.expectations) {
        finish(EXIT_OK, `listened for ${opts.timeoutMs / 1000}s`);
        return;
      }
      const left = unmet();
      logError(`timeout after ${opts.timeoutMs / 1000}s: ${left.length} of ${opts.expectations.length} expectation(s) unmet:`);
      for (const e of left) logError(`  unmet: ${describeExpectation(e)}`);
      finish(EXIT_TIMEOUT);
    }, opts.timeoutMs);
  }

  const onSignal = (sig) => {
    const left = unmet();
    if (opts.expectations && left.length) {
      logError(`${sig}: ${left.length} expectation(s) unmet:`);
      for (const e of left) logError(`  unmet: ${describeExpectation(e)}`);
      finish(EXIT_TIMEOUT);
    } else {
      finish(EXIT_OK, `${sig}: closing`);
    }
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
}

// Run when executed directly; importing the module (e.g. to test partialMatch) does not connect.
const invokedDirectly = (() => {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
})();
if (invokedDirectly) main();
