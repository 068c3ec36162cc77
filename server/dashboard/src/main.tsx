// Entry point: render the page, then connect. Server events reach the views at most
// once per animation frame (store.ts); input renders at once, as preact does.

import { render } from 'preact';

import { onUnauthorized } from './api';
import { connect } from './live';
import { update } from './store';
import './style.css';
import { App } from './views/app';

onUnauthorized(() => update((s) => (s.needToken ? s : { ...s, needToken: true, connection: 'unauthorized' })));

render(<App />, document.getElementById('app')!);
connect();
