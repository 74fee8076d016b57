/* cinempc director tablet page.  Plain JS, no libraries, no network but its own origin.
 *
 * Transport: one WebSocket (/ws; the token is the first message) carries state pushes (JSON),
 * live frames (binary JPEG) and commands.  When it is down, the page polls /api/state and
 * /api/frame over HTTP and sends commands by HTTP POST, so nothing -- HOLD above all -- depends
 * on the socket.  Every HTTP call carries the X-Director-Token header.
 */
(function () {
  'use strict';

  window.cinempcDirectorStart = function (token, onUnauthorised) {
    delete window.cinempcDirectorStart;
    var HEADERS = { 'X-Director-Token': token };
    var $ = function (id) { return document.getElementById(id); };
    var ws = null, wsOpen = false, fallback = false, lastMessageAt = 0, reconnectDelay = 500, pollTimer = null, nextId = 1;
    var pending = {};           // ws message id -> resolve
    var last = null;            // last state snapshot
    var frameUrl = null, frameSize = null, frameCount = 0;
    var selected = null;        // selected track id
    var localHistory = [], historyIndex = -1;
    var holdRetry = null;

    // ------------------------------------------------------------------ transport

    function api(method, path, body, timeoutMs) {
      var ctrl = new AbortController();
      var timer = setTimeout(function () { ctrl.abort(); }, timeoutMs || 4000);
      var opts = { method: method, headers: Object.assign({}, HEADERS), cache: 'no-store', signal: ctrl.signal };
      if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
      return fetch(path, opts).then(function (r) {
        clearTimeout(timer);
        if (r.status === 401) { onUnauthorised(); throw new Error('unauthorised'); }
        return r;
      }, function (e) { clearTimeout(timer); throw e; });
    }

    function connect() {
      if (!fallback) setConn('connecting', 'connecting…');  // while on HTTP fallback, say so until the socket is back
      var proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
      try { ws = new WebSocket(proto + location.host + '/ws'); } catch (e) { scheduleReconnect(); return; }
      ws.binaryType = 'blob';
      ws.onopen = function () { ws.send(JSON.stringify({ type: 'auth', token: token })); };
      ws.onmessage = function (ev) {
        lastMessageAt = Date.now();
        if (typeof ev.data !== 'string') { showFrame(ev.data); return; }
        var msg; try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg.type === 'hello') {
          wsOpen = true; fallback = false; reconnectDelay = 500; stopPolling(); setConn('ok', 'live');
          renderPresets(msg.presets || []);
        } else if (msg.type === 'state') {
          render(msg);
        } else if (msg.type === 'result' && msg.id != null && pending[msg.id]) {
          pending[msg.id](msg); delete pending[msg.id];
        }
      };
      ws.onclose = function (ev) {
        var was = wsOpen; wsOpen = false; ws = null;
        Object.keys(pending).forEach(function (k) { pending[k](null); delete pending[k]; });
        if (ev.code === 4401) { onUnauthorised(); return; }
        fallback = true;
        setConn('bad', was ? 'socket lost — HTTP fallback' : 'no socket — HTTP fallback');
        startPolling();
        scheduleReconnect();
      };
      ws.onerror = function () { /* onclose follows */ };
    }

    function scheduleReconnect() {
      setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(5000, reconnectDelay * 2);
    }

    function startPolling() {
      if (pollTimer) return;
      var busy = false;
      pollTimer = setInterval(function () {
        if (busy || wsOpen) return;
        busy = true;
        api('GET', '/api/state').then(function (r) { return r.json(); }).then(function (s) {
          render(s);
          if (s.frame && s.frame.seq !== frameCount) {
            return api('GET', '/api/frame').then(function (r) { return r.status === 200 ? r.blob() : null; })
              .then(function (b) { if (b) showFrame(b, s.frame.seq); });
          }
        }).catch(function () { setConn('bad', 'drone computer unreachable'); })
          .finally(function () { busy = false; });
      }, 700);
      api('GET', '/api/presets').then(function (r) { return r.json(); }).then(function (p) {
        if (!$('presets').children.length) renderPresets(p.presets);
      }).catch(function () {});
    }

    function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }

    // A command goes over the socket when it is up, else by HTTP POST; resolves to the result object.
    function send(msg) {
      if (wsOpen && ws) {
        return new Promise(function (resolve) {
          var id = nextId++;
          msg.id = id;
          // socket closed before the answer: retry over HTTP only what is safe to repeat (an appended
          // sequence may already be queued; the director sees "no answer" and checks the queue)
          pending[id] = function (res) {
            resolve(res || (msg.type === 'command' && msg.mode === 'append' ? null : sendHttp(msg)));
          };
          try { ws.send(JSON.stringify(msg)); } catch (e) { delete pending[id]; resolve(sendHttp(msg)); }
        });
      }
      return sendHttp(msg);
    }

    function sendHttp(msg) {
      var route = { command: '/api/command', preset: '/api/preset', skip: '/api/skip', hold: '/api/hold',
                    resume: '/api/resume', abort: '/api/abort' }[msg.type];
      var body = {};
      if (msg.type === 'command') body = { text: msg.text, mode: msg.mode };
      if (msg.type === 'preset') body = { name: msg.name, subjects: msg.subjects, mode: msg.mode };
      if (msg.type === 'name') { route = '/api/subjects/' + msg.track_id + '/name'; body = { name: msg.name }; }
      return api('POST', route, body).then(function (r) {
        return r.json().then(function (j) {
          var ok = r.ok && !j.error;
          if (!ok && typeof j.error !== 'object' && j.detail) j.error = JSON.stringify(j.detail);
          return Object.assign({ ok: ok, status: r.status }, j);
        });
      });
    }

    // --------------------------------------------------------------------- HOLD
    // Sent over BOTH paths at once (the socket can look open on a dead link); acknowledged by
    // either; retried every second until acknowledged.  The hub latches it, so duplicates are harmless.
    function pressHold() {
      setHold('sending', 'HOLD…');
      var acked = false;
      var ack = function () { if (!acked) { acked = true; clearInterval(holdRetry); holdRetry = null; setHold('sent', 'HOLD ✓'); } };
      var attempt = function () {
        api('POST', '/api/hold', {}, 2000).then(function (r) { if (r.ok) ack(); }).catch(function () {
          if (!acked) setHold('failed', 'HOLD ?');
        });
        if (wsOpen && ws) {
          try { ws.send(JSON.stringify({ type: 'hold', id: nextId++ })); } catch (e) { /* HTTP path still runs */ }
        }
      };
      attempt();
      clearInterval(holdRetry);
      holdRetry = setInterval(function () { if (acked) { clearInterval(holdRetry); } else { attempt(); } }, 1000);
    }

    function setHold(state, text) { var b = $('btn-hold'); b.dataset.state = state; b.textContent = text; }

    // ----------------------------------------------------------------- rendering

    function setConn(kind, text) {
      var el = $('conn');
      el.className = 'pill ' + (kind === 'ok' ? 'pill-ok' : kind === 'connecting' ? 'pill-warn' : 'pill-bad');
      el.dataset.state = kind; el.textContent = text;
    }

    function showFrame(blob, seq) {
      var url = URL.createObjectURL(blob);
      var img = $('live');
      img.onload = function () {
        if (frameUrl && frameUrl !== url) URL.revokeObjectURL(frameUrl);
        frameUrl = url;
        frameSize = [img.naturalWidth, img.naturalHeight];
        frameCount = seq != null ? seq : frameCount + 1;
        img.dataset.frames = String((+img.dataset.frames || 0) + 1);
        $('view-empty').hidden = true;
        placeBoxes();
      };
      img.src = url;
    }

    function fmt(v, digits, unit) { return v == null ? '—' : (+v).toFixed(digits) + (unit || ''); }
    function esc(s) { return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; }); }
    function subjectLabel(s) { return '#' + s.track_id + (s.name ? ' ' + s.name : ''); }

    function render(s) {
      last = s;
      var ctl = s.control || {};
      var stale = s.loop && s.loop.age_s != null && s.loop.age_s > 2.0;
      var loopEl = $('loop');
      loopEl.textContent = (stale ? 'loop stalled · ' : '') + (ctl.status || '—') +
        (s.loop && s.loop.time_s != null ? ' · t ' + s.loop.time_s.toFixed(1) + ' s' : '');
      loopEl.className = 'pill ' + (stale || /fallback|error|geofence/.test(ctl.status || '') ? 'pill-bad'
        : ctl.holding ? 'pill-warn' : ctl.status === 'waiting' ? '' : 'pill-ok');
      loopEl.dataset.status = ctl.status || '';
      var cur = s.queue && s.queue.current;
      $('shot-now').textContent = cur ? cur.label : (s.abort ? 'aborted' : 'no director shot');
      $('shot-now').dataset.shotId = cur ? cur.id : '';
      // HOLD state: holding = the loop reports it hovers; requested = latched, waiting for the loop.
      var banner = $('holding-banner');
      if (ctl.holding) { setHold('holding', 'HOLDING'); banner.hidden = false; banner.textContent = s.abort ? 'ABORTED · HOLDING' : 'HOLDING'; }
      else if (s.hold) { if ($('btn-hold').dataset.state !== 'failed') setHold('sent', 'HOLD ✓'); banner.hidden = false; banner.textContent = 'HOLD requested…'; }
      else { if (!holdRetry) setHold('idle', 'HOLD'); banner.hidden = true; }
      $('btn-resume').disabled = !s.hold;
      if (selected != null) {  // keep the selection chip in step with names given on any tablet
        var subj = (s.subjects || []).filter(function (b) { return b.track_id === selected; })[0];
        if (subj) $('selected-chip').textContent = 'Presets apply to ' + subjectLabel(subj);
      }
      renderLens(s);
      placeBoxes();
      renderQueue(s.queue);
      renderHistory(s.history || []);
      renderEvents(s.events || []);
      $('view-info').textContent = s.frame && s.frame.time_s != null ? 't ' + s.frame.time_s.toFixed(1) + ' s' : '';
    }

    function placeBoxes() {
      var host = $('boxes'), img = $('live'), view = $('view');
      if (frameSize) {  // fill the view at the frame's aspect ratio (letterboxed), boxes on top
        var k = Math.min(view.clientWidth / frameSize[0], view.clientHeight / frameSize[1]);
        img.style.width = Math.floor(frameSize[0] * k) + 'px'; img.style.height = Math.floor(frameSize[1] * k) + 'px';
      }
      if (!last || !frameSize || !img.clientWidth) { host.innerHTML = ''; return; }
      var size = (last.frame && last.frame.size_px) || frameSize;
      host.style.left = img.offsetLeft + 'px'; host.style.top = img.offsetTop + 'px';
      host.style.width = img.clientWidth + 'px'; host.style.height = img.clientHeight + 'px';
      var sx = img.clientWidth / size[0], sy = img.clientHeight / size[1];
      var focusRef = currentFocusRef();
      var html = '';
      (last.subjects || []).forEach(function (b) {
        if (!b.visible) return;
        var x = b.box_px[0] * sx, y = b.box_px[1] * sy, w = (b.box_px[2] - b.box_px[0]) * sx, h = (b.box_px[3] - b.box_px[1]) * sy;
        var cls = 'box' + (b.track_id === selected ? ' selected' : '') +
          (focusRef && (focusRef === b.ref || focusRef === b.name) ? ' focus' : '');
        html += '<div class="' + cls + '" data-track="' + b.track_id + '" style="left:' + x + 'px;top:' + y +
          'px;width:' + w + 'px;height:' + h + 'px"><span>' + esc(subjectLabel(b)) + '</span></div>';
      });
      host.innerHTML = html;
    }

    function currentFocusRef() {
      var cur = last && last.queue && last.queue.current;
      if (!cur) return null;
      return cur.shot.focus.target || cur.shot.subjects[0];
    }

    function logX(d) { var lo = Math.log(0.5), hi = Math.log(200); return Math.max(0, Math.min(100, (Math.log(Math.max(d, 0.5)) - lo) / (hi - lo) * 100)); }

    function renderLens(s) {
      var L = s.lens, rig = s.rig;
      $('lens-focal').textContent = L ? fmt(L.focal_length_mm, 0, ' mm') : '—';
      $('lens-fov').textContent = L && L.hfov_deg != null ? 'HFOV ' + L.hfov_deg.toFixed(1) + '°' : '';
      $('lens-focus').textContent = L ? fmt(L.focus_distance_m, 2, ' m') : '—';
      $('lens-fnumber').textContent = L ? 'f/' + fmt(L.f_number, 1) : '—';
      $('lens-dof').textContent = L && L.near_m != null ? fmt(L.near_m, 1) + ' – ' + (L.far_m == null ? '∞' : fmt(L.far_m, 1, ' m')) : '—';
      $('rig-speed').textContent = rig ? fmt(rig.speed_mps, 1, ' m/s') : '—';
      $('rig-speed').dataset.speed = rig ? rig.speed_mps : '';
      $('rig-pos').textContent = rig ? 'alt ' + rig.position_m[2].toFixed(1) + ' m · pitch ' + rig.pitch_deg.toFixed(0) + '°' : '';
      var zone = $('dof-zone'), focus = $('dof-focus');
      if (L && L.near_m != null) {
        var a = logX(L.near_m), b = L.far_m == null ? 100 : logX(L.far_m);
        zone.style.left = a + '%'; zone.style.width = Math.max(0.5, b - a) + '%'; zone.hidden = false;
        focus.style.left = logX(L.focus_distance_m) + '%'; focus.hidden = false;
      } else { zone.hidden = true; focus.hidden = true; }
      var marks = '';
      (s.subjects || []).forEach(function (b) {
        if (b.distance_m == null) return;
        var sharp = L && L.near_m != null && b.distance_m >= L.near_m && (L.far_m == null || b.distance_m <= L.far_m);
        marks += '<div class="dof-mark' + (sharp ? ' sharp' : '') + '" style="left:' + logX(b.distance_m) + '%">' +
          esc(subjectLabel(b)) + ' ' + b.distance_m.toFixed(1) + 'm</div>';
      });
      $('dof-marks').innerHTML = marks;
      if (!$('dof-scale').children.length) {
        $('dof-scale').innerHTML = [1, 2, 5, 10, 20, 50, 100].map(function (d) {
          return '<span style="left:' + logX(d) + '%">' + d + ' m</span>'; }).join('');
      }
    }

    function renderQueue(q) {
      if (!q) return;
      var items = [];
      var entry = function (e) {
        var pct = e.progress == null ? (e.state === 'current' ? 100 : 0) : Math.round(e.progress * 100);
        var time = e.duration_s ? e.elapsed_s.toFixed(1) + ' / ' + e.duration_s.toFixed(0) + ' s' + (e.overtime ? ' (overtime)' : '')
          : e.state === 'current' ? e.elapsed_s.toFixed(1) + ' s · open-ended' : 'open-ended';
        return '<div class="q ' + e.state + (q.paused && e.state === 'current' ? ' paused' : '') + '" data-id="' + e.id +
          '" data-progress="' + (e.progress == null ? '' : e.progress) + '"><b>' + esc(e.label) + '</b>' +
          '<div class="src">' + esc(e.source) + ' · ' + time + '</div>' +
          (e.state === 'upcoming' ? '' : '<div class="bar"><i style="width:' + pct + '%"></i></div>') + '</div>';
      };
      if (q.current) items.push(entry(q.current));
      (q.upcoming || []).forEach(function (e) { items.push(entry(e)); });
      (q.done || []).slice(-3).reverse().forEach(function (e) { items.push(entry(e)); });
      var html = items.join('') || '<div class="q">empty — type a shot or tap a preset</div>';
      if ($('queue').innerHTML !== html) $('queue').innerHTML = html;
    }

    function renderHistory(history) {
      var html = history.slice().reverse().slice(0, 20).map(function (h) {
        return '<li class="h-' + esc(h.kind) + '" data-text="' + esc(h.text) + '">' + esc(h.text) + '<small>' + esc(h.result) + '</small></li>';
      }).join('');
      if ($('history').innerHTML !== html) $('history').innerHTML = html;
    }

    function renderEvents(events) {
      var html = events.slice().reverse().slice(0, 8).map(function (e) {
        return '<li class="ev-' + esc(e.level) + '">' + esc(e.message) + (e.time_s != null ? '<small>t ' + e.time_s.toFixed(1) + ' s · ' + esc(e.kind) + '</small>' : '') + '</li>';
      }).join('');
      if ($('events').innerHTML !== html) $('events').innerHTML = html;
    }

    function renderPresets(presets) {
      $('presets').innerHTML = presets.map(function (p) {
        return '<button type="button" data-preset="' + esc(p.name) + '" title="' + esc(p.label) + '">' + esc(p.name.replace(/_/g, ' ')) + '</button>';
      }).join('');
    }

    function showResult(res) {
      var el = $('cmd-result');
      if (!res) { el.className = 'cmd-result err'; el.textContent = 'no answer from the drone computer'; return; }
      if (res.ok && res.shots) {
        el.className = 'cmd-result ok';
        el.textContent = (res.mode === 'append' ? 'Queued: ' : 'Cut to: ') + res.shots.map(function (s) {
          return (s.framing || '').replace(/_/g, ' ') + ' · ' + s.movement.type.replace(/_/g, ' ') + ' · ' + s.subjects.join(' ');
        }).join(' → ') + (res.holding ? ' (on HOLD: press RESUME)' : '');
      } else if (res.ok && res.command) {
        el.className = 'cmd-result ok'; el.textContent = res.command.toUpperCase();
      } else if (res.ok) {
        el.className = 'cmd-result ok'; el.textContent = 'done';
      } else {
        el.className = 'cmd-result err';
        var err = res.error, html = '';
        if (err && typeof err === 'object') {
          html = esc(err.message || 'not understood');
          Object.keys(err).forEach(function (k) {
            if (k === 'message') return;
            var v = err[k];
            if (Array.isArray(v) && v.length) html += '<ul><li><i>' + esc(k.replace(/_/g, ' ')) + ':</i> ' + v.map(function (x) {
              return esc(typeof x === 'string' ? x : JSON.stringify(x)); }).join(' · ') + '</li></ul>';
            else if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
              html += '<ul><li><i>' + esc(k.replace(/_/g, ' ')) + ':</i> ' + Object.keys(v).map(function (w) {
                var near = v[w]; return esc(w) + ' → ' + esc(Array.isArray(near) ? near.join(', ') : JSON.stringify(near)); }).join(' · ') + '</li></ul>';
            }
            else if (typeof v === 'number') html += ' <small>(' + esc(k.replace(/_/g, ' ')) + ' ' + v.toFixed(2) + ')</small>';
          });
        } else { html = esc(err || 'refused'); }
        el.innerHTML = html;
      }
    }

    // ------------------------------------------------------------------ actions

    $('btn-hold').addEventListener('click', pressHold);
    $('btn-resume').addEventListener('click', function () { send({ type: 'resume' }).then(showResult); });
    $('btn-abort').addEventListener('click', function () {
      if (confirm('Abort the take? The queue is cleared and the drone holds.')) send({ type: 'abort' }).then(showResult);
    });
    $('cmd-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var text = $('cmd').value.trim();
      if (!text) return;
      localHistory.push(text); historyIndex = localHistory.length;
      $('cmd-result').className = 'cmd-result'; $('cmd-result').textContent = '…';
      send({ type: 'command', text: text, mode: $('cmd-append').checked ? 'append' : 'now' }).then(function (res) {
        showResult(res);
        if (res && res.ok) $('cmd').value = '';
      }, function () { showResult(null); });
    });
    $('cmd').addEventListener('keydown', function (ev) {
      if (ev.key === 'ArrowUp' && historyIndex > 0) { historyIndex--; $('cmd').value = localHistory[historyIndex]; ev.preventDefault(); }
      if (ev.key === 'ArrowDown' && historyIndex < localHistory.length) {
        historyIndex++; $('cmd').value = localHistory[historyIndex] || ''; ev.preventDefault();
      }
    });
    $('history').addEventListener('click', function (ev) {
      var li = ev.target.closest('li'); if (li) { $('cmd').value = li.dataset.text; $('cmd').focus(); }
    });
    $('presets').addEventListener('click', function (ev) {
      var b = ev.target.closest('button[data-preset]'); if (!b) return;
      send({ type: 'preset', name: b.dataset.preset, subjects: selected != null ? ['#' + selected] : null,
             mode: $('cmd-append').checked ? 'append' : 'now' }).then(showResult);
    });
    $('boxes').addEventListener('click', function (ev) {
      var box = ev.target.closest('.box'); if (!box) return;
      select(+box.dataset.track);
    });
    function select(trackId) {
      selected = trackId;
      var subj = (last && last.subjects || []).filter(function (s) { return s.track_id === trackId; })[0];
      $('subject-panel').hidden = false;
      $('subject-title').textContent = '#' + trackId;
      $('subject-name').value = subj && subj.name ? subj.name : '';
      var chip = $('selected-chip'); chip.hidden = false;
      chip.textContent = 'Presets apply to ' + (subj ? subjectLabel(subj) : '#' + trackId);
      placeBoxes();
    }
    $('subject-clear').addEventListener('click', function () {
      selected = null; $('subject-panel').hidden = true; $('selected-chip').hidden = true; placeBoxes();
    });
    $('subject-save').addEventListener('click', function () {
      if (selected == null) return;
      send({ type: 'name', track_id: selected, name: $('subject-name').value }).then(function (res) {
        showResult(res && res.ok ? { ok: true } : res);
        if (res && res.ok) $('cmd-result').textContent = '#' + res.track_id + ' is now “' + res.name + '”';
      });
    });
    $('subject-frame').addEventListener('click', function () {
      if (selected == null) return;
      send({ type: 'preset', name: 'follow_medium', subjects: ['#' + selected], mode: 'now' }).then(showResult);
    });
    window.addEventListener('resize', placeBoxes);

    window.cinempcDirector = { // read-only peek for debugging in the browser console
      connected: function () { return wsOpen; }, state: function () { return last; }
    };
    // The server sends state at least every second; a silent socket is a dead link even if TCP
    // has not noticed yet: drop it, so HTTP polling and a reconnect take over.
    setInterval(function () {
      if (wsOpen && ws && Date.now() - lastMessageAt > 3500) {
        wsOpen = false; fallback = true;  // at once: a dead link's close handshake can take long
        setConn('bad', 'socket silent — HTTP fallback');
        startPolling();
        try { ws.close(); } catch (e) { /* already closing */ }
      }
    }, 1000);
    connect();
    startPolling();  // until the socket says hello, HTTP keeps the page alive
  };
})();
