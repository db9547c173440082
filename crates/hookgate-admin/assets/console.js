// The live parts of the hookgate console. Every value from the server is
// set as textContent or a data-* attribute, never parsed as markup: bodies
// and headers are the senders'.
'use strict';
(function () {
  const feed = document.querySelector('#feed tbody');
  if (!feed) {
    return; // the login page
  }
  const live = document.getElementById('live');
  const filterSource = document.getElementById('filter-source');
  const filterOutcome = document.getElementById('filter-outcome');
  const MAX_ROWS = 500;
  const rows = new Map();

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '' : String(text);
    if (className) {
      td.className = className;
    }
    return td;
  }

  function applyFilter(tr) {
    const source = filterSource.value;
    const outcome = filterOutcome.value;
    tr.hidden = Boolean((source && tr.dataset.source !== source) ||
      (outcome && tr.dataset.outcome !== outcome));
  }

  // `2026-12-03T13:24:11.123456Z` -> `13:24:11.123`
  function clock(at) {
    return typeof at === 'string' ? at.slice(11, 23) : '';
  }

  function latency(ms) {
    return typeof ms === 'number' ? ms.toFixed(1) + ' ms' : '';
  }

  function addRow(event) {
    const tr = document.createElement('tr');
    tr.dataset.seq = String(event.seq);
    tr.dataset.source = event.source;
    tr.dataset.outcome = event.kind;
    tr.tabIndex = 0;
    tr.append(
      cell(clock(event.at), 'time'), cell(event.source), cell(event.delivery_id), cell(event.event),
      cell(event.kind, 'outcome'), cell(event.status), cell(latency(event.latency_ms)),
      cell(0, 'attempts'), cell(event.error || event.reason, 'error'));
    feed.insertBefore(tr, feed.firstChild);
    rows.set(String(event.seq), tr);
    applyFilter(tr);
    while (feed.rows.length > MAX_ROWS) {
      const last = feed.rows[feed.rows.length - 1];
      rows.delete(last.dataset.seq);
      last.remove();
    }
  }

  function updateRow(event) {
    const tr = rows.get(String(event.seq));
    if (!tr) {
      return;
    }
    tr.dataset.outcome = event.kind;
    tr.querySelector('.outcome').textContent = event.kind;
    if (event.attempt) {
      tr.querySelector('.attempts').textContent = String(event.attempt);
    }
    if (event.error) {
      tr.querySelector('.error').textContent = event.error;
    }
    applyFilter(tr);
  }

  function count(event) {
    for (const tr of document.querySelectorAll('#sources tbody tr')) {
      if (tr.dataset.source !== event.source) {
        continue;
      }
      for (const td of tr.querySelectorAll('td[data-kind]')) {
        if (td.dataset.kind === event.kind) {
          td.textContent = String(Number(td.textContent) + 1);
        }
      }
    }
  }

  for (const tr of feed.rows) {
    rows.set(tr.dataset.seq, tr);
  }
  filterSource.addEventListener('change', () => { for (const tr of feed.rows) applyFilter(tr); });
  filterOutcome.addEventListener('change', () => { for (const tr of feed.rows) applyFilter(tr); });

  // A delivery's detail: headers, and the body pretty-printed when it is JSON.
  async function open(seq) {
    const response = await fetch('/api/deliveries/' + encodeURIComponent(seq) + '?body=true');
    const detail = document.getElementById('detail');
    const title = document.getElementById('detail-title');
    const headers = document.getElementById('detail-headers');
    const body = document.getElementById('detail-body');
    headers.replaceChildren();
    if (!response.ok) {
      title.textContent = seq + ' (no longer kept)';
      body.textContent = '';
      detail.hidden = false;
      return;
    }
    const delivery = await response.json();
    title.textContent = delivery.source + ' / ' + (delivery.delivery_id || '(no id)');
    for (const [name, value] of delivery.headers) {
      const tr = document.createElement('tr');
      tr.append(cell(name), cell(value));
      headers.append(tr);
    }
    let text = delivery.body === null ? '(no body kept)' : delivery.body;
    if (delivery.body !== null && delivery.body_encoding === 'utf-8') {
      try {
        text = JSON.stringify(JSON.parse(delivery.body), null, 2);
      } catch (_) {
        // Not JSON: shown as received.
      }
    }
    if (delivery.body_truncated) {
      text += '\n… (cut at the configured body limit)';
    }
    body.textContent = text;
    detail.hidden = false;
  }
  feed.addEventListener('click', (e) => {
    const tr = e.target.closest('tr');
    if (tr && tr.dataset.seq) {
      open(tr.dataset.seq);
    }
  });
  feed.addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr');
    if (e.key === 'Enter' && tr && tr.dataset.seq) {
      open(tr.dataset.seq);
    }
  });

  function deadNotice() {
    if (document.getElementById('dead-notice')) {
      return;
    }
    const p = document.createElement('p');
    p.id = 'dead-notice';
    p.className = 'flash';
    const a = document.createElement('a');
    a.href = '/#dead';
    a.textContent = 'New dead letters: reload to see them.';
    p.append(a);
    document.getElementById('dead').append(p);
  }

  const source = new EventSource('/api/events');
  source.onopen = () => { live.textContent = 'live'; live.className = 'live on'; };
  source.onerror = () => { live.textContent = 'reconnecting'; live.className = 'live'; };
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    count(event);
    if (event.seq === null || event.seq === undefined) {
      return;
    }
    if (rows.has(String(event.seq))) {
      updateRow(event);
    } else if (['refused', 'duplicate', 'queued', 'verified', 'skipped'].includes(event.kind)) {
      addRow(event);
    }
    if (event.kind === 'dead_lettered') {
      deadNotice();
    }
  };

  async function refreshStats() {
    const response = await fetch('/api/stats');
    if (!response.ok) {
      return;
    }
    const stats = await response.json();
    for (const dd of document.querySelectorAll('#stats dd[data-stat]')) {
      dd.textContent = String(stats[dd.dataset.stat]);
    }
  }

  // Received and processed per minute, and the queue depth, over the last hour.
  const SVG = 'http://www.w3.org/2000/svg';
  async function drawChart() {
    const response = await fetch('/api/history');
    if (!response.ok) {
      return;
    }
    const minutes = (await response.json()).minutes;
    const chart = document.getElementById('chart');
    chart.replaceChildren();
    const now = Math.floor(Date.now() / 60000);
    const series = { received: [], processed: [], depth: [] };
    let max = 1;
    for (const m of minutes) {
      const x = 594 - (now - Math.floor(Date.parse(m.start) / 60000)) * 9.8;
      for (const name of Object.keys(series)) {
        if (typeof m[name] === 'number') {
          series[name].push([x, m[name]]);
          max = Math.max(max, m[name]);
        }
      }
    }
    for (const [name, points] of Object.entries(series)) {
      const line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('class', name);
      line.setAttribute('points', points.map(([x, y]) =>
        x.toFixed(0) + ',' + (115 - (y / max) * 105).toFixed(1)).join(' '));
      chart.append(line);
      for (const [x, y] of points) {
        const dot = document.createElementNS(SVG, 'circle');
        dot.setAttribute('class', name);
        dot.setAttribute('cx', x.toFixed(0));
        dot.setAttribute('cy', (115 - (y / max) * 105).toFixed(1));
        dot.setAttribute('r', '3');
        chart.append(dot);
      }
    }
    const label = document.createElementNS(SVG, 'text');
    label.setAttribute('x', '4');
    label.setAttribute('y', '12');
    label.textContent = 'max ' + max;
    chart.append(label);
  }

  refreshStats();
  drawChart();
  setInterval(refreshStats, 5000);
  setInterval(drawChart, 30000);
})();
