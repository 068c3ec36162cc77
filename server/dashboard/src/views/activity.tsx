// The Activity feed: the last events, one line each, newest first.

import type { JSX } from 'preact';

import type { AppState } from '../store';
import { Empty } from './common';

export function ActivityView(props: { state: AppState; limit?: number }): JSX.Element {
  const lines = props.limit ? props.state.activity.slice(0, props.limit) : props.state.activity;
  return (
    <section aria-labelledby="activity-heading">
      <h2 id="activity-heading">Activity</h2>
      {lines.length === 0 ? (
        <Empty>Nothing has happened since the page opened. Writes from anywhere show up here.</Empty>
      ) : (
        <ol id="activity" class="activity" aria-live="off">
          {lines.map((line) => (
            <li key={line.key} data-event={line.event}>
              <time>{line.time}</time>
              <span class="seq">{line.seq !== null ? `#${line.seq}` : ''}</span>
              <span class={`event ${line.event.split(':')[0]}`}>{line.event}</span>
              <span class="text">{line.text}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
