/**
 * The status page: one self-contained HTML document (inline CSS and JS, hand-drawn SVG,
 * nothing fetched from anywhere but its own data route). The document holds no data: it
 * asks for an admin token (kept in sessionStorage), then fetches `ui/data` with it every
 * few seconds and draws each pool. A refused token brings the token prompt back.
 *
 * The script is written without template literals so it can live in this template string.
 * Everything from the server goes into the page through textContent / attributes, never
 * as markup.
 */
import { createHash } from 'node:crypto';

export const REFRESH_MS = 5000;
/** sessionStorage key of the admin token. */
export const TOKEN_KEY = 'warmer.adminToken';

const STYLE = `
:root { color-scheme: light; --fg: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #fff;
  --ready: #27ab83; --claimed: #2680c2; --booting: #f0b429; --creating: #9aa5b1; --unhealthy: #e12d39;
  --failed: #ab091e; --deleting: #7b8794; --deleted: #cbd2d9; --hit: #27ab83; --miss: #e12d39; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 16px; padding: 12px 24px; background: #102a43; color: #f0f4f8; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
header h1 span { font-weight: 400; color: #9fb3c8; }
#meta { flex: 1; font-size: 13px; color: #bcccdc; }
#meta.stale { color: #ffb8b8; }
button { font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid #829ab1; background: #fff; color: #102a43; padding: 6px 12px; }
header button { background: transparent; color: #d9e2ec; border-color: #486581; }
main { padding: 20px 24px; max-width: 1280px; margin: 0 auto; }
#auth { max-width: 460px; margin: 48px auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 24px 28px; box-shadow: 0 1px 3px rgba(16,42,67,.08); }
#auth h2 { margin: 0 0 8px; font-size: 18px; }
#auth p { margin: 0 0 16px; color: var(--muted); }
#auth p.refused { color: #ab091e; }
#auth form { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
#auth label { width: 100%; font-weight: 600; }
#auth input { flex: 1; min-width: 200px; font: inherit; padding: 7px 10px; border: 1px solid #9aa5b1; border-radius: 6px; }
#auth button[type=submit] { background: #2680c2; border-color: #2680c2; color: #fff; }
.notice { background: #fffbea; border: 1px solid #f7d070; border-radius: 8px; padding: 8px 12px; margin-bottom: 16px; }
.empty { color: var(--muted); }
#pools { display: grid; gap: 20px; }
.pool { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 20px 20px; box-shadow: 0 1px 3px rgba(16,42,67,.06); }
.pool > header { all: unset; display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; margin-bottom: 12px; }
.pool h2 { margin: 0; font-size: 18px; }
.badge { font-size: 12px; border-radius: 10px; padding: 1px 8px; background: #e3f9e5; color: #0e5814; }
.badge.off { background: #ffe3e3; color: #8a041a; }
.spec { color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 20px; }
.panel h3 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 6px; font-weight: 600; }
.summary { margin: 0 0 6px; }
.summary b { font-variant-numeric: tabular-nums; }
.states { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 8px 0 0; padding: 0; list-style: none; }
.states li { display: flex; align-items: center; gap: 5px; }
.states li.zero { color: #9aa5b1; }
.states .n { font-weight: 600; font-variant-numeric: tabular-nums; }
.swatch { width: 10px; height: 10px; border-radius: 2px; display: inline-block; }
.swatch[data-color=creating] { background: var(--creating); } .swatch[data-color=booting] { background: var(--booting); }
.swatch[data-color=ready] { background: var(--ready); } .swatch[data-color=claimed] { background: var(--claimed); }
.swatch[data-color=unhealthy] { background: var(--unhealthy); } .swatch[data-color=failed] { background: var(--failed); }
.swatch[data-color=deleting] { background: var(--deleting); } .swatch[data-color=deleted] { background: var(--deleted); }
svg { display: block; width: 100%; height: auto; }
svg { fill: #52606d; }
svg text { font: 10px system-ui, sans-serif; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px 4px 0; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
td.reason { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.teardowns { margin-top: 16px; }
`;

const SCRIPT = `
(function () {
  'use strict';
  var KEY = ${JSON.stringify(TOKEN_KEY)};
  var EVERY = ${REFRESH_MS};
  var STATES = ['creating', 'booting', 'ready', 'claimed', 'unhealthy', 'failed', 'deleting', 'deleted'];
  var COLORS = { creating: '#9aa5b1', booting: '#f0b429', ready: '#27ab83', claimed: '#2680c2', unhealthy: '#e12d39', failed: '#ab091e', deleting: '#7b8794', deleted: '#cbd2d9' };
  var HIT = '#27ab83', MISS = '#e12d39';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var timer = null;
  var lastOk = null;

  // The data route next to this page: /ui → /ui/data, / → /ui/data, /admin/ui → /admin/ui/data.
  var base = location.pathname.replace(/\\/ui\\/?$/, '/').replace(/\\/?$/, '/');
  var DATA_URL = base + 'ui/data';

  function $(id) { return document.getElementById(id); }
  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    setAll(e, attrs, children);
    return e;
  }
  function s(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAll(e, attrs, children);
    return e;
  }
  function setAll(e, attrs, children) {
    if (attrs) for (var k in attrs) if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, String(attrs[k]));
    if (children !== undefined && children !== null) {
      if (!Array.isArray(children)) children = [children];
      children.forEach(function (c) { if (c !== null && c !== undefined) e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c))); });
    }
  }

  function getToken() { try { return sessionStorage.getItem(KEY); } catch (e) { return null; } }
  function setToken(t) { try { if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ } }

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function hhmm(ms) { var d = new Date(ms); return pad(d.getHours()) + ':' + pad(d.getMinutes()); }
  function hhmmss(ms) { var d = new Date(ms); return hhmm(ms) + ':' + pad(d.getSeconds()); }
  function dur(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s';
    var m = Math.floor(ms / 60000), sec = Math.round((ms % 60000) / 1000);
    return m + ' min' + (sec ? ' ' + sec + ' s' : '');
  }
  function ago(ms, now) {
    var d = Math.max(0, now - ms);
    if (d < 60000) return Math.round(d / 1000) + ' s ago';
    return Math.round(d / 60000) + ' min ago';
  }

  /** The next 1, 2 or 5 × 10^k at or above v. */
  function niceCeil(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  function stop() { if (timer) { clearTimeout(timer); timer = null; } }
  function schedule() { stop(); timer = setTimeout(refresh, EVERY); }

  function showAuth(message, refused) {
    stop();
    document.body.setAttribute('data-view', 'auth');
    $('pools').replaceChildren();
    $('auth').hidden = false;
    $('forget').hidden = true;
    $('meta').textContent = '';
    var msg = $('auth-msg');
    msg.textContent = message;
    msg.className = refused ? 'refused' : '';
    $('token').value = '';
    $('token').focus();
  }

  function setMeta(text, stale) {
    var m = $('meta');
    m.textContent = text;
    m.className = stale ? 'stale' : '';
  }

  function refresh() {
    var token = getToken();
    if (!token) {
      showAuth('Admin token required: this page shows pool data only to an admin. The token is kept in this tab only (sessionStorage).', false);
      return;
    }
    fetch(DATA_URL, { headers: { authorization: 'Bearer ' + token }, cache: 'no-store' })
      .then(function (res) {
        if (res.status === 401 || res.status === 403) {
          setToken(null);
          showAuth('Admin token required: the server refused that token (' + res.status + (res.status === 403 ? ', not an admin token' : ', unknown token') + '). Enter an admin token.', true);
          return null;
        }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json().then(function (data) {
          render(data);
          lastOk = Date.now();
          setMeta('Updated ' + hhmmss(data.generatedAt) + ' · refreshes every ' + EVERY / 1000 + ' s', false);
          schedule();
        });
      })
      .catch(function (err) {
        setMeta('Refresh failed (' + err.message + ')' + (lastOk ? '; showing data from ' + hhmmss(lastOk) : '') + '; retrying every ' + EVERY / 1000 + ' s', true);
        schedule();
      });
  }

  function render(data) {
    document.body.setAttribute('data-view', 'status');
    $('auth').hidden = true;
    $('forget').hidden = false;
    var out = [];
    if (data.history !== 'ok') {
      out.push(h('p', { class: 'notice' }, data.history === 'none'
        ? 'No history store is configured: live counts only.'
        : 'History could not be read just now: live counts only.'));
    }
    if (data.pools.length === 0) out.push(h('p', { class: 'empty' }, 'No pools yet. Create one with PUT /pools/{name}.'));
    data.pools.forEach(function (p) { out.push(poolCard(p, data)); });
    $('pools').replaceChildren.apply($('pools'), out);
  }

  function poolCard(p, data) {
    var live = STATES.filter(function (st) { return st !== 'deleted'; });
    var claims = p.claims, ttr = p.timeToReady;
    var total = claims.hits + claims.misses;
    return h('article', { class: 'pool', 'data-pool': p.name }, [
      h('header', null, [
        h('h2', null, p.name),
        h('span', { class: 'badge' + (p.enabled ? '' : ' off') }, p.enabled ? 'enabled' : 'disabled'),
        h('span', { class: 'spec' }, 'target ' + p.targetReady + ' ready · max ' + p.maxSize + ' · ' + p.live + ' live'),
      ]),
      h('div', { class: 'grid' }, [
        h('section', { class: 'panel', 'data-panel': 'states' }, [
          h('h3', null, 'Machines by state'),
          statesBar(p, live),
          h('ul', { class: 'states' }, STATES.map(function (st) {
            var n = p.counts[st] || 0;
            return h('li', { 'data-state': st, class: n ? '' : 'zero', title: st === 'deleted' ? 'deleted records kept for audit' : null }, [
              h('span', { class: 'swatch', 'data-color': st }, null),
              h('span', { class: 'label' }, st),
              h('span', { class: 'n' }, String(n)),
            ]);
          })),
        ]),
        h('section', { class: 'panel', 'data-panel': 'claims' }, [
          h('h3', null, 'Claims, last hour'),
          h('p', { class: 'summary' }, [
            h('b', { 'data-hits': '' }, String(claims.hits)), ' served warm · ',
            h('b', { 'data-misses': '' }, String(claims.misses)), ' missed',
            total ? ' · ' + Math.round((100 * claims.hits) / total) + '% warm' : '',
          ]),
          claimsChart(claims, data.window),
        ]),
        h('section', { class: 'panel', 'data-panel': 'ready' }, [
          h('h3', null, 'Time to ready, last hour'),
          h('p', { class: 'summary' }, ttr.count
            ? ['p50 ', h('b', null, dur(ttr.p50Ms)), ' · p90 ', h('b', null, dur(ttr.p90Ms)), ' · ' + ttr.count + ' machine' + (ttr.count === 1 ? '' : 's')]
            : 'No machine became ready in the last hour.'),
          readyChart(ttr, data.window),
        ]),
      ]),
      h('section', { class: 'panel teardowns', 'data-panel': 'teardowns' }, [
        h('h3', null, 'Recent teardowns (last hour)'),
        p.teardowns.length
          ? h('table', null, [
              h('thead', null, h('tr', null, [h('th', null, 'When'), h('th', null, 'Instance'), h('th', null, 'Reason')])),
              h('tbody', null, p.teardowns.map(function (t) {
                return h('tr', null, [
                  h('td', { title: new Date(t.at).toISOString() }, hhmmss(t.at) + ' (' + ago(t.at, data.generatedAt) + ')'),
                  h('td', null, t.instance || '–'),
                  h('td', { class: 'reason' }, t.reason || '–'),
                ]);
              })),
            ])
          : h('p', { class: 'empty' }, 'No teardowns in the last hour.'),
      ]),
    ]);
  }

  function statesBar(p, live) {
    var W = 400, H = 22, sum = 0;
    live.forEach(function (st) { sum += p.counts[st] || 0; });
    var max = Math.max(sum, p.maxSize, 1);
    var parts = live.map(function (st) { return (p.counts[st] || 0) + ' ' + st; }).join(', ');
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + (H + 16), role: 'img', 'aria-label': 'machines: ' + parts, 'data-chart': 'states' }, [
      s('title', null, 'Machines by state: ' + parts),
      s('rect', { x: 0, y: 0, width: W, height: H, rx: 4, fill: '#f0f4f8', stroke: '#d9e2ec' }),
    ]);
    var x = 0;
    live.forEach(function (st) {
      var n = p.counts[st] || 0;
      if (!n) return;
      var w = (n / max) * W;
      svg.appendChild(s('rect', { x: x, y: 0, width: w, height: H, fill: COLORS[st] }, s('title', null, n + ' ' + st)));
      if (w >= 16) svg.appendChild(s('text', { x: x + w / 2, y: 15, 'text-anchor': 'middle', fill: '#fff', 'font-weight': 600, 'font-size': 12 }, String(n)));
      x += w;
    });
    var tx = (p.targetReady / max) * W;
    svg.appendChild(s('line', { x1: tx, x2: tx, y1: -2, y2: H + 2, stroke: '#102a43', 'stroke-width': 2, 'stroke-dasharray': '3 2' }));
    svg.appendChild(s('text', { x: Math.min(Math.max(tx, 30), W - 30), y: H + 13, 'text-anchor': 'middle' }, 'target ' + p.targetReady));
    svg.appendChild(s('text', { x: W, y: H + 13, 'text-anchor': 'end' }, 'max ' + p.maxSize));
    return svg;
  }

  function claimsChart(claims, win) {
    var W = 360, H = 150, L = 24, B = 20, T = 28;
    var n = claims.buckets.length;
    var slot = (W - L) / n, bw = Math.max(3, slot / 2 - 2);
    var max = 1;
    claims.buckets.forEach(function (b) { max = Math.max(max, b.hits, b.misses); });
    var y = function (v) { return T + (H - B - T) * (1 - v / max); };
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-chart': 'claims',
      'aria-label': 'claims per 5 minutes: ' + claims.hits + ' warm, ' + claims.misses + ' missed' }, [
      s('title', null, 'Claims per 5 minutes over the last hour: ' + claims.hits + ' served warm, ' + claims.misses + ' missed'),
      s('line', { x1: L, x2: W, y1: H - B, y2: H - B, stroke: '#9aa5b1' }),
      s('text', { x: L - 4, y: y(max) + 3, 'text-anchor': 'end' }, String(max)),
      s('text', { x: L - 4, y: H - B + 3, 'text-anchor': 'end' }, '0'),
    ]);
    claims.buckets.forEach(function (b, i) {
      var x0 = L + i * slot + 1;
      [[b.hits, HIT, 'warm'], [b.misses, MISS, 'missed']].forEach(function (bar, j) {
        var v = bar[0];
        if (!v) return;
        var x = x0 + j * (bw + 1);
        svg.appendChild(s('rect', { x: x, y: y(v), width: bw, height: H - B - y(v), fill: bar[1], 'data-series': bar[2] },
          s('title', null, hhmm(b.start) + '–' + hhmm(b.start + win.bucketMs) + ': ' + v + ' ' + bar[2])));
        svg.appendChild(s('text', { x: x + bw / 2, y: y(v) - 3, 'text-anchor': 'middle', 'data-series': bar[2] }, String(v)));
      });
      if (i % 3 === 0) svg.appendChild(s('text', { x: L + i * slot, y: H - 6 }, hhmm(b.start)));
    });
    svg.appendChild(s('text', { x: W, y: H - 6, 'text-anchor': 'end' }, 'now'));
    // Legend with the totals.
    svg.appendChild(s('rect', { x: W - 150, y: 0, width: 9, height: 9, fill: HIT }));
    svg.appendChild(s('text', { x: W - 137, y: 8, 'data-legend': 'warm' }, 'warm ' + claims.hits));
    svg.appendChild(s('rect', { x: W - 75, y: 0, width: 9, height: 9, fill: MISS }));
    svg.appendChild(s('text', { x: W - 62, y: 8, 'data-legend': 'missed' }, 'missed ' + claims.misses));
    return svg;
  }

  function readyChart(ttr, win) {
    var W = 360, H = 150, L = 48, B = 20, T = 14;
    var top = 1000;
    ttr.samples.forEach(function (p) { top = Math.max(top, p.durationMs); });
    var max = niceCeil(top * 1.1);
    var x = function (t) { return L + ((t - win.start) / (win.end - win.start)) * (W - L); };
    var y = function (v) { return T + (H - B - T) * (1 - v / max); };
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-chart': 'ready',
      'aria-label': 'time to ready: p50 ' + dur(ttr.p50Ms) + ', p90 ' + dur(ttr.p90Ms) }, [
      s('title', null, 'Boot time of each machine that became ready in the last hour'),
      s('line', { x1: L, x2: W, y1: H - B, y2: H - B, stroke: '#9aa5b1' }),
      s('text', { x: L - 4, y: y(max) + 3, 'text-anchor': 'end' }, dur(max)),
      s('text', { x: L - 4, y: H - B + 3, 'text-anchor': 'end' }, '0'),
      s('text', { x: L, y: H - 6 }, hhmm(win.start)),
      s('text', { x: W, y: H - 6, 'text-anchor': 'end' }, 'now'),
    ]);
    // p50 labelled below the left end of its line, p90 above the right end of its (higher)
    // line: close values never overlap, and no label sits on the other's line.
    [[ttr.p50Ms, 'p50', '#2680c2', L + 4, 'start', 11], [ttr.p90Ms, 'p90', '#d64545', W - 4, 'end', -3]].forEach(function (q) {
      if (q[0] === null) return;
      svg.appendChild(s('line', { x1: L, x2: W, y1: y(q[0]), y2: y(q[0]), stroke: q[2], 'stroke-dasharray': '4 3' }));
      svg.appendChild(s('text', { x: q[3], y: y(q[0]) + q[5], fill: q[2], 'text-anchor': q[4] }, q[1] + ' ' + dur(q[0])));
    });
    ttr.samples.forEach(function (p) {
      svg.appendChild(s('circle', { cx: x(p.at), cy: y(p.durationMs), r: 3.5, fill: '#27ab83', 'fill-opacity': 0.75 },
        s('title', null, hhmmss(p.at) + ': ready after ' + dur(p.durationMs))));
    });
    return svg;
  }

  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var t = $('token').value.trim();
    if (!t) return;
    setToken(t);
    $('auth-msg').textContent = 'Checking…';
    refresh();
  });
  $('forget').addEventListener('click', function () {
    setToken(null);
    showAuth('Token forgotten. Enter an admin token to see the pools.', false);
  });
  refresh();
})();
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>warmer · status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-view="loading">
<header>
  <h1>warmer <span>status</span></h1>
  <div id="meta" aria-live="polite"></div>
  <button id="forget" type="button" hidden>Forget token</button>
</header>
<main>
  <section id="auth" hidden>
    <h2>Admin token required</h2>
    <p id="auth-msg"></p>
    <form id="token-form" autocomplete="off">
      <label for="token">Admin token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
      <button type="submit">Show status</button>
    </form>
  </section>
  <section id="pools" aria-live="polite"></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** Only this page's own script and style may run; data may be fetched from this origin only. */
const CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const statusPage = { html: HTML, csp: CSP } as const;
