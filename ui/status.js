/*
 * The status page's script (inlined into ui/status.html by functions/http/ui-page.ts, and
 * allowed by its sha256 in the page's Content-Security-Policy). It asks for an admin token
 * (kept in sessionStorage), then fetches `ui/data` with it every few seconds and draws each
 * pool. A refused token brings the token prompt back. Everything from the server goes into
 * the page through textContent / attributes, never as markup.
 */
(function () {
  'use strict';
  /** sessionStorage key of the admin token. */
  var KEY = 'warmer.adminToken';
  /** Refresh interval, ms. */
  var EVERY = 5000;
  var STATES = ['creating', 'booting', 'ready', 'claimed', 'unhealthy', 'failed', 'deleting', 'deleted'];
  var COLORS = {
    creating: '#9aa5b1',
    booting: '#f0b429',
    ready: '#27ab83',
    claimed: '#2680c2',
    unhealthy: '#e12d39',
    failed: '#ab091e',
    deleting: '#7b8794',
    deleted: '#cbd2d9',
  };
  var HIT = '#27ab83',
    MISS = '#e12d39';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var timer = null;
  var lastOk = null;

  // The data route next to this page: /ui → /ui/data, / → /ui/data, /admin/ui → /admin/ui/data.
  // Always on this page's origin: repeated slashes are collapsed first (the page opened at
  // //ui would otherwise build //ui/data, a protocol-relative URL to the host "ui" — and
  // send it the admin token), and the URL is resolved against location.origin.
  function dataUrl(pathname, origin) {
    var base = ('/' + pathname)
      .replace(/\/{2,}/g, '/')
      .replace(/\/ui\/?$/, '/')
      .replace(/\/?$/, '/');
    var url = new URL(base + 'ui/data', origin);
    if (url.origin !== origin) throw new Error('the data URL left this origin: ' + url.href);
    return url.pathname;
  }
  var DATA_URL = dataUrl(location.pathname, location.origin);

  function $(id) {
    return document.getElementById(id);
  }
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
      children.forEach(function (c) {
        if (c !== null && c !== undefined) e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
      });
    }
  }

  function getToken() {
    try {
      return sessionStorage.getItem(KEY);
    } catch (e) {
      return null;
    }
  }
  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(KEY, t);
      else sessionStorage.removeItem(KEY);
    } catch (e) {
      /* private mode */
    }
  }

  function pad(n) {
    return (n < 10 ? '0' : '') + n;
  }
  function hhmm(ms) {
    var d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes());
  }
  function hhmmss(ms) {
    var d = new Date(ms);
    return hhmm(ms) + ':' + pad(d.getSeconds());
  }
  function dur(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s';
    var m = Math.floor(ms / 60000),
      sec = Math.round((ms % 60000) / 1000);
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

  function stop() {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
  }
  function schedule() {
    stop();
    timer = setTimeout(refresh, EVERY);
  }

  function showAuth(message, refused) {
    stop();
    document.body.setAttribute('data-view', 'auth');
    $('pools').replaceChildren();
    $('assignments').replaceChildren();
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
          showAuth(
            'Admin token required: the server refused that token (' +
              res.status +
              (res.status === 403 ? ', not an admin token' : ', unknown token') +
              '). Enter an admin token.',
            true,
          );
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
        setMeta(
          'Refresh failed (' + err.message + ')' + (lastOk ? '; showing data from ' + hhmmss(lastOk) : '') + '; retrying every ' + EVERY / 1000 + ' s',
          true,
        );
        schedule();
      });
  }

  function render(data) {
    document.body.setAttribute('data-view', 'status');
    $('auth').hidden = true;
    $('forget').hidden = false;
    var out = [];
    if (data.history !== 'ok') {
      out.push(
        h(
          'p',
          { class: 'notice' },
          data.history === 'none' ? 'No history store is configured: live counts only.' : 'History could not be read just now: live counts only.',
        ),
      );
    }
    if (data.pools.length === 0) out.push(h('p', { class: 'empty' }, 'No pools yet. Create one with PUT /pools/{name}.'));
    data.pools.forEach(function (p) {
      out.push(poolCard(p, data));
    });
    $('pools').replaceChildren.apply($('pools'), out);
    renderAssignments(data);
  }

  /** Claimed machines: who has which, since when, until when. */
  function renderAssignments(data) {
    var list = data.assignments;
    var box = $('assignments');
    if (!list) return box.replaceChildren();
    var now = data.generatedAt;
    var rows = list.map(function (a) {
      return h('tr', { 'data-instance': a.name }, [
        h('td', {}, a.name),
        h('td', {}, a.pool),
        h('td', {}, a.assignee || '–'),
        h('td', { title: new Date(a.claimedAt).toISOString() }, dur(now - a.claimedAt)),
        h('td', {}, a.expiresAt === null ? 'never' : a.expiresAt <= now ? 'expired' : 'in ' + dur(a.expiresAt - now)),
        h('td', {}, a.address || '–'),
        h('td', {}, a.access || '–'),
      ]);
    });
    box.replaceChildren(
      h('h2', {}, 'Claimed machines (' + list.length + ')'),
      list.length === 0
        ? h('p', { class: 'empty' }, 'No machine is claimed.')
        : h('table', { class: 'assignments' }, [
            h('thead', {}, [
              h(
                'tr',
                {},
                ['machine', 'pool', 'assignee', 'age', 'expires', 'address', 'access'].map(function (c) {
                  return h('th', {}, c);
                }),
              ),
            ]),
            h('tbody', {}, rows),
          ]),
    );
  }

  // A sized pool's computed target (the spec's targetReady otherwise).
  function target(p) {
    return p.sizing ? p.sizing.target : p.targetReady;
  }

  // Where the target line is drawn: a `fill` pool's target is what fits on its node group, drawn at maxSize.
  function targetAt(p) {
    var t = target(p);
    return typeof t === 'number' ? t : p.maxSize;
  }

  function pct(x) {
    return x === null || x === undefined ? '–' : Math.round(x * 1000) / 10 + '%';
  }

  // Why a sized pool holds its target: the inputs that drove the number.
  function sizingLine(sz) {
    var w = sz.why;
    var parts = ['bounded by ' + w.boundedBy, 'model ' + w.unbounded];
    if (w.burstsPerHour !== null) parts.push(Math.round(w.burstsPerHour * 100) / 100 + ' bursts/h now');
    if (w.burstSizeP50 !== null) parts.push('burst p50 ' + w.burstSizeP50 + ' / p90 ' + w.burstSizeP90 + ' / max ' + w.burstSizeMax);
    if (w.aimedHitRate !== null) parts.push('aim ' + pct(w.aimedHitRate) + ', predicted ' + pct(w.predictedHitRate) + ', observed ' + pct(w.observedHitRate));
    parts.push(w.basis === 'recent' ? 'from recent bursts (no finished hour of history yet)' : Math.round(w.historyHours) + ' h of history');
    if (w.scheduleFloor > 0) parts.push('schedule floor ' + w.scheduleFloor);
    parts.push('min ' + w.minReady + ' · max ' + w.maxReady);
    return h('p', { class: 'sizing', 'data-sizing': String(sz.target) }, 'why ' + sz.target + ': ' + parts.join(' · '));
  }

  function poolCard(p, data) {
    var live = STATES.filter(function (st) {
      return st !== 'deleted';
    });
    var claims = p.claims,
      ttr = p.timeToReady;
    var total = claims.hits + claims.misses;
    return h('article', { class: 'pool', 'data-pool': p.name }, [
      h('header', null, [
        h('h2', null, p.name),
        h('span', { class: 'badge' + (p.enabled ? '' : ' off') }, p.enabled ? 'enabled' : 'disabled'),
        h(
          'span',
          { class: 'spec' },
          'target ' + target(p) + ' ready' + (p.sizing ? ' (' + p.sizing.mode + ' sizing)' : '') + ' · max ' + p.maxSize + ' · ' + p.live + ' live',
        ),
      ]),
      p.sizing ? sizingLine(p.sizing) : null,
      h('div', { class: 'grid' }, [
        h('section', { class: 'panel', 'data-panel': 'states' }, [
          h('h3', null, 'Machines by state'),
          statesBar(p, live),
          h(
            'ul',
            { class: 'states' },
            STATES.map(function (st) {
              var n = p.counts[st] || 0;
              return h('li', { 'data-state': st, class: n ? '' : 'zero', title: st === 'deleted' ? 'deleted records kept for audit' : null }, [
                h('span', { class: 'swatch', 'data-color': st }, null),
                h('span', { class: 'label' }, st),
                h('span', { class: 'n' }, String(n)),
              ]);
            }),
          ),
        ]),
        h('section', { class: 'panel', 'data-panel': 'claims' }, [
          h('h3', null, 'Claims, last hour'),
          h('p', { class: 'summary' }, [
            h('b', { 'data-hits': '' }, String(claims.hits)),
            ' served warm · ',
            h('b', { 'data-misses': '' }, String(claims.misses)),
            ' missed',
            total ? ' · ' + Math.round((100 * claims.hits) / total) + '% warm' : '',
          ]),
          claimsChart(claims, data.window),
        ]),
        h('section', { class: 'panel', 'data-panel': 'ready' }, [
          h('h3', null, 'Time to ready, last hour'),
          h(
            'p',
            { class: 'summary' },
            ttr.count
              ? ['p50 ', h('b', null, dur(ttr.p50Ms)), ' · p90 ', h('b', null, dur(ttr.p90Ms)), ' · ' + ttr.count + ' machine' + (ttr.count === 1 ? '' : 's')]
              : 'No machine became ready in the last hour.',
          ),
          readyChart(ttr, data.window),
        ]),
      ]),
      h('section', { class: 'panel teardowns', 'data-panel': 'teardowns' }, [
        h('h3', null, 'Recent teardowns (last hour)'),
        p.teardowns.length
          ? h('table', null, [
              h('thead', null, h('tr', null, [h('th', null, 'When'), h('th', null, 'Instance'), h('th', null, 'Reason')])),
              h(
                'tbody',
                null,
                p.teardowns.map(function (t) {
                  return h('tr', null, [
                    h('td', { title: new Date(t.at).toISOString() }, hhmmss(t.at) + ' (' + ago(t.at, data.generatedAt) + ')'),
                    h('td', null, t.instance || '–'),
                    h('td', { class: 'reason' }, t.reason || '–'),
                  ]);
                }),
              ),
            ])
          : h('p', { class: 'empty' }, 'No teardowns in the last hour.'),
      ]),
    ]);
  }

  function statesBar(p, live) {
    var W = 400,
      H = 22,
      sum = 0;
    live.forEach(function (st) {
      sum += p.counts[st] || 0;
    });
    var max = Math.max(sum, p.maxSize, 1);
    var parts = live
      .map(function (st) {
        return (p.counts[st] || 0) + ' ' + st;
      })
      .join(', ');
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
    // A `fill` pool's target is what fits on its node group: drawn at maxSize, labelled fill.
    var tx = (targetAt(p) / max) * W;
    svg.appendChild(s('line', { x1: tx, x2: tx, y1: -2, y2: H + 2, stroke: '#102a43', 'stroke-width': 2, 'stroke-dasharray': '3 2' }));
    svg.appendChild(s('text', { x: Math.min(Math.max(tx, 30), W - 30), y: H + 13, 'text-anchor': 'middle' }, 'target ' + target(p)));
    svg.appendChild(s('text', { x: W, y: H + 13, 'text-anchor': 'end' }, 'max ' + p.maxSize));
    return svg;
  }

  function claimsChart(claims, win) {
    var W = 360,
      H = 150,
      L = 24,
      B = 20,
      T = 28;
    var n = claims.buckets.length;
    var slot = (W - L) / n,
      bw = Math.max(3, slot / 2 - 2);
    var max = 1;
    claims.buckets.forEach(function (b) {
      max = Math.max(max, b.hits, b.misses);
    });
    var y = function (v) {
      return T + (H - B - T) * (1 - v / max);
    };
    var svg = s(
      'svg',
      {
        viewBox: '0 0 ' + W + ' ' + H,
        role: 'img',
        'data-chart': 'claims',
        'aria-label': 'claims per 5 minutes: ' + claims.hits + ' warm, ' + claims.misses + ' missed',
      },
      [
        s('title', null, 'Claims per 5 minutes over the last hour: ' + claims.hits + ' served warm, ' + claims.misses + ' missed'),
        s('line', { x1: L, x2: W, y1: H - B, y2: H - B, stroke: '#9aa5b1' }),
        s('text', { x: L - 4, y: y(max) + 3, 'text-anchor': 'end' }, String(max)),
        s('text', { x: L - 4, y: H - B + 3, 'text-anchor': 'end' }, '0'),
      ],
    );
    claims.buckets.forEach(function (b, i) {
      var x0 = L + i * slot + 1;
      [
        [b.hits, HIT, 'warm'],
        [b.misses, MISS, 'missed'],
      ].forEach(function (bar, j) {
        var v = bar[0];
        if (!v) return;
        var x = x0 + j * (bw + 1);
        svg.appendChild(
          s(
            'rect',
            { x: x, y: y(v), width: bw, height: H - B - y(v), fill: bar[1], 'data-series': bar[2] },
            s('title', null, hhmm(b.start) + '–' + hhmm(b.start + win.bucketMs) + ': ' + v + ' ' + bar[2]),
          ),
        );
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
    var W = 360,
      H = 150,
      L = 48,
      B = 20,
      T = 14;
    var top = 1000;
    ttr.samples.forEach(function (p) {
      top = Math.max(top, p.durationMs);
    });
    var max = niceCeil(top * 1.1);
    var x = function (t) {
      return L + ((t - win.start) / (win.end - win.start)) * (W - L);
    };
    var y = function (v) {
      return T + (H - B - T) * (1 - v / max);
    };
    var svg = s(
      'svg',
      { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-chart': 'ready', 'aria-label': 'time to ready: p50 ' + dur(ttr.p50Ms) + ', p90 ' + dur(ttr.p90Ms) },
      [
        s('title', null, 'Boot time of each machine that became ready in the last hour'),
        s('line', { x1: L, x2: W, y1: H - B, y2: H - B, stroke: '#9aa5b1' }),
        s('text', { x: L - 4, y: y(max) + 3, 'text-anchor': 'end' }, dur(max)),
        s('text', { x: L - 4, y: H - B + 3, 'text-anchor': 'end' }, '0'),
        s('text', { x: L, y: H - 6 }, hhmm(win.start)),
        s('text', { x: W, y: H - 6, 'text-anchor': 'end' }, 'now'),
      ],
    );
    // p50 labelled below the left end of its line, p90 above the right end of its (higher)
    // line: close values never overlap, and no label sits on the other's line.
    [
      [ttr.p50Ms, 'p50', '#2680c2', L + 4, 'start', 11],
      [ttr.p90Ms, 'p90', '#d64545', W - 4, 'end', -3],
    ].forEach(function (q) {
      if (q[0] === null) return;
      svg.appendChild(s('line', { x1: L, x2: W, y1: y(q[0]), y2: y(q[0]), stroke: q[2], 'stroke-dasharray': '4 3' }));
      svg.appendChild(s('text', { x: q[3], y: y(q[0]) + q[5], fill: q[2], 'text-anchor': q[4] }, q[1] + ' ' + dur(q[0])));
    });
    ttr.samples.forEach(function (p) {
      svg.appendChild(
        s(
          'circle',
          { cx: x(p.at), cy: y(p.durationMs), r: 3.5, fill: '#27ab83', 'fill-opacity': 0.75 },
          s('title', null, hhmmss(p.at) + ': ready after ' + dur(p.durationMs)),
        ),
      );
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
