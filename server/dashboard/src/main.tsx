// Entry point: render the page, then connect. Renders run at most once per animation
// frame (preact's debounce hook), whatever the event rate.

import { options, render } from 'preact';

import { onUnauthorized } from './api';
import { connect } from './live';
import { update } from './store';
import './style.css';
import { App } from './views/app';

options.debounceRendering = (callback) => (document.hidden ? setTimeout(callback, 16) : requestAnimationFrame(callback));

onUnauthorized(() => update((s) => (s.needToken ? s : { ...s, needToken: true, connection: 'unauthorized' })));

render(<App />, document.getElementById('app')!);
connect();
