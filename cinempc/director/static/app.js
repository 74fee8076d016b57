/* cinempc director tablet page.  Plain JS, no libraries, no network but its own origin.
 *
 * Transport: one WebSocket (/ws; a signed auth is the first message) carries state pushes (JSON),
 * live frames (binary JPEG) and commands.  When it is down, the page polls /api/state and
 * /api/frame over HTTP and sends commands by HTTP POST, so nothing -- HOLD above all -- depends
 * on the socket.  Every HTTP call and the socket's auth are signed by the pairing shell's signer
 * (session, counter, HMAC with the token: the token itself never goes over the network), so a
 * request captured on the wire cannot be sent again; HOLD is taken signed with any counter.
 */
(function () {
  'use strict';

  window.cinempcDirectorStart = function (auth, onUnauthorised) {
    delete window.cinempcDirectorStart;
    var $ = function (id) { return document.getElementById(id); };
    var ws = null, wsOpen = false, fallback = false, lastMessageAt = 0, reconnectDelay = 500, pollTimer = null, nextId = 1;
    var pending = {};           // ws message id -> resolve
    var last = null;            // last state snapshot
    var frameUrl = null, frameSize = null, frameCount = 0;
    var selected = null;        // selected track id
    var localHistory = [], historyIndex = -1;
    var holdRetry = null;
    var mapView = null;         // the map's last drawing: centre (m), metres shown, px per metre, canvas size (CSS px)
    var tapView = null;         // the drawing the last tap on the map was read against
    var pinDraft = null;        // [x, y] metres: a tap on the map waiting for a name

    // ------------------------------------------------------------------ transport

    function api(method, path, body, timeoutMs) {
      var ctrl = new AbortController();
      var timer = setTimeout(function () { ctrl.abort(); }, timeoutMs || 4000);
      var text = body !== undefined ? JSON.stringify(body) : undefined;
      var headers = text !== undefined ? { 'Content-Type': 'application/json' } : {};
      var sent = path === '/api/hold' ? auth.hold(ctrl.signal) : auth.request(method, path, text, headers, ctrl.signal);
      return sent.then(function (r) {
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
      ws.onopen = function () { ws.send(JSON.stringify(auth.wsAuth())); };
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
        if (ev.code === 4409) {  // the server forgot the session (it restarted): a new one before reconnecting
          auth.open().catch(function (e) { if (e.unauthorised) onUnauthorised(); });
        }
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
      if (msg.type === 'point_out') { route = '/api/subjects/point_out'; body = { name: msg.name, x_m: msg.x_m, y_m: msg.y_m }; }
      var method = 'POST';
      if (msg.type === 'remove_pin') { method = 'DELETE'; route = '/api/subjects/pins/' + encodeURIComponent(msg.name); body = undefined; }
      if (msg.type === 'cancel_awaiting') { method = 'DELETE'; route = '/api/awaiting'; body = undefined; }
      return api(method, route, body).then(function (r) {
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
    // A subject's track state (perception's SubjectState; empty from ground truth) in the tablet's words.
    var TRACK_STATE_WORDS = { candidate: 'candidate: not yet shown to be a person', tracked: 'tracked',
      coasting: 'coasting: predicted, not measured this frame', missed: 'missed: not seen where the picture shows it',
      searching: 'searching: looked for where it is predicted', lost: 'lost' };
    function isSearched(s) { return s.track_state === 'searching'; }
    function trackStateWords(s) {
      return TRACK_STATE_WORDS[s.track_state] || s.track_state || (s.visible ? 'in the picture' : 'out of the picture');
    }

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
      renderMap();
      renderSubjects(s);
      renderQueue(s.queue);
      renderAwaiting(s.awaiting);
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
        var cls = 'box' + (b.track_id === selected ? ' selected' : '') + (isSearched(b) ? ' searching' : '') +
          (focusRef && (focusRef === b.ref || focusRef === b.name) ? ' focus' : '');
        html += '<div class="' + cls + '" data-track="' + b.track_id + '" data-state="' + esc(b.track_state || '') +
          '" style="left:' + x + 'px;top:' + y + 'px;width:' + w + 'px;height:' + h + 'px"><span>' +
          esc(subjectLabel(b) + (isSearched(b) ? ' · searching' : '')) + '</span></div>';
      });
      host.innerHTML = html;
    }

    // ------------------------------------------------------------------ map
    // Top view of the ENU map frame, north (+y) up, east (+x) right: the drone with its camera's
    // field of view, every tracked subject, the people pointed out (pins).  The view fits them all
    // with a margin, in 20 m steps so it does not breathe with every update, and it stays put while
    // everything is well inside it: a view that moved under the director's finger would put a pin
    // metres from where they tapped.

    function mapFit(s, width, height, previous) {
      var pts = [];
      if (s && s.rig) pts.push([s.rig.position_m[0], s.rig.position_m[1]]);
      var m = (s && s.map) || {};
      (m.subjects || []).forEach(function (g) { pts.push(g.position_m); });
      (m.pins || []).forEach(function (p) { pts.push(p.position_m); });
      if (pinDraft) pts.push(pinDraft);
      if (!pts.length) pts.push([0, 0]);
      var lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
      pts.forEach(function (p) { for (var i = 0; i < 2; i++) { lo[i] = Math.min(lo[i], p[i]); hi[i] = Math.max(hi[i], p[i]); } });
      var extent = Math.max(hi[0] - lo[0], hi[1] - lo[1]);
      var span = Math.max(40, Math.ceil((extent * 1.25 + 10) / 20) * 20);
      var step = span / 8;
      if (previous && previous.w === width && previous.h === height && span <= previous.span && span * 2 > previous.span) {
        var inner = previous.span * 0.4;  // the inner 80 % of the view
        if (lo[0] >= previous.cx - inner && hi[0] <= previous.cx + inner &&
            lo[1] >= previous.cy - inner && hi[1] <= previous.cy + inner) return previous;
      }
      var cx = Math.round((lo[0] + hi[0]) / 2 / step) * step, cy = Math.round((lo[1] + hi[1]) / 2 / step) * step;
      return { cx: cx, cy: cy, span: span, k: Math.min(width, height) / span, w: width, h: height };
    }

    function worldToMap(x, y) { var v = mapView; return [v.w / 2 + (x - v.cx) * v.k, v.h / 2 - (y - v.cy) * v.k]; }
    function mapToWorld(px, py) { var v = mapView; return [v.cx + (px - v.w / 2) / v.k, v.cy - (py - v.h / 2) / v.k]; }

    function renderMap() {
      var canvas = $('map-canvas'), w = canvas.clientWidth, h = canvas.clientHeight;
      if (!w || !h) return;
      var dpr = window.devicePixelRatio || 1;
      if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
        canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
      }
      var s = last || {}, m = s.map || {};
      mapView = mapFit(s, w, h, mapView);
      var ctx = canvas.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      // grid every 10 m (20 m when zoomed out), labelled by the scale in the heading
      var grid = mapView.span > 100 ? 20 : 10;
      ctx.strokeStyle = '#23272e'; ctx.lineWidth = 1; ctx.beginPath();
      var a = mapToWorld(0, h), b = mapToWorld(w, 0);
      for (var gx = Math.ceil(a[0] / grid) * grid; gx <= b[0]; gx += grid) { var px = worldToMap(gx, 0)[0]; ctx.moveTo(px, 0); ctx.lineTo(px, h); }
      for (var gy = Math.ceil(a[1] / grid) * grid; gy <= b[1]; gy += grid) { var py = worldToMap(0, gy)[1]; ctx.moveTo(0, py); ctx.lineTo(w, py); }
      ctx.stroke();
      $('map-scale').textContent = '· grid ' + grid + ' m · north up';
      ctx.font = '12px system-ui, sans-serif'; ctx.textBaseline = 'middle';
      if (s.rig) {  // the drone, its camera's heading and horizontal field of view
        var r = worldToMap(s.rig.position_m[0], s.rig.position_m[1]), yaw = s.rig.yaw_deg * Math.PI / 180;
        var half = (s.lens && s.lens.hfov_deg ? s.lens.hfov_deg : 40) * Math.PI / 360, reach = Math.max(w, h);
        ctx.fillStyle = 'rgba(138,180,248,.10)'; ctx.beginPath(); ctx.moveTo(r[0], r[1]);
        ctx.lineTo(r[0] + reach * Math.cos(yaw - half), r[1] - reach * Math.sin(yaw - half));
        ctx.lineTo(r[0] + reach * Math.cos(yaw + half), r[1] - reach * Math.sin(yaw + half));
        ctx.closePath(); ctx.fill();
        ctx.fillStyle = '#e8eaed'; ctx.beginPath();
        ctx.moveTo(r[0] + 11 * Math.cos(yaw), r[1] - 11 * Math.sin(yaw));
        ctx.lineTo(r[0] + 7 * Math.cos(yaw + 2.5), r[1] - 7 * Math.sin(yaw + 2.5));
        ctx.lineTo(r[0] + 7 * Math.cos(yaw - 2.5), r[1] - 7 * Math.sin(yaw - 2.5));
        ctx.closePath(); ctx.fill();
      }
      (m.subjects || []).forEach(function (g) {
        var p = worldToMap(g.position_m[0], g.position_m[1]);
        ctx.fillStyle = g.visible ? (g.track_id === selected ? '#fdd663' : '#8ab4f8') : '#5f6368';
        ctx.beginPath(); ctx.arc(p[0], p[1], 6, 0, 2 * Math.PI); ctx.fill();
        if (isSearched(g)) {  // a dashed ring: the camera is looking for it where it is predicted
          ctx.strokeStyle = '#f6ad55'; ctx.lineWidth = 2; ctx.setLineDash([3, 3]);
          ctx.beginPath(); ctx.arc(p[0], p[1], 10, 0, 2 * Math.PI); ctx.stroke(); ctx.setLineDash([]);
          ctx.fillStyle = '#f6ad55';
        }
        ctx.fillText(subjectLabel(g) + (isSearched(g) ? ' · searching' : ''), p[0] + 9, p[1]);
      });
      var pinMark = function (x, y, label, dashed) {
        var p = worldToMap(x, y);
        ctx.strokeStyle = '#fdd663'; ctx.fillStyle = '#fdd663'; ctx.lineWidth = 2;
        ctx.setLineDash(dashed ? [3, 3] : []);
        ctx.beginPath(); ctx.arc(p[0], p[1] - 12, 6, 0, 2 * Math.PI); ctx.stroke();
        ctx.beginPath(); ctx.moveTo(p[0], p[1] - 6); ctx.lineTo(p[0], p[1]); ctx.stroke();
        ctx.setLineDash([]);
        if (label) ctx.fillText(label, p[0] + 9, p[1] - 12);
      };
      (m.pins || []).forEach(function (pin) { pinMark(pin.position_m[0], pin.position_m[1], pin.name + ' ?', false); });
      if (pinDraft) pinMark(pinDraft[0], pinDraft[1], '', true);
      canvas.dataset.pins = String((m.pins || []).length);
      canvas.dataset.subjects = String((m.subjects || []).length);
      var html = (m.pins || []).map(function (pin) {
        var age = s.loop && s.loop.time_s != null ? Math.max(0, s.loop.time_s - pin.stamp_s) : null;
        return '<li data-name="' + esc(pin.name) + '">' + esc(pin.name) + ' <small>pointed out at (' +
          pin.position_m[0].toFixed(1) + ', ' + pin.position_m[1].toFixed(1) + ') m' +
          (age != null ? ' · ' + age.toFixed(0) + ' s ago' : '') + ' · not found yet</small>' +
          ' <button type="button" class="quiet pin-remove" data-name="' + esc(pin.name) + '">Remove</button></li>';
      }).join('');
      if ($('map-pins').innerHTML !== html) $('map-pins').innerHTML = html;
    }

    // The subject list under the map: every subject perception reports with its track state; one being
    // searched for is marked (class "searching") so the director sees why the camera turns and widens.
    function renderSubjects(s) {
      var subjects = (s.map && s.map.subjects) || [];
      var html = subjects.map(function (g) {
        var cls = (isSearched(g) ? 'searching' : '') + (g.track_id === selected ? ' selected' : '');
        return '<li class="' + cls + '" data-track="' + g.track_id + '" data-state="' + esc(g.track_state || '') +
          '">' + esc(subjectLabel(g)) + ' <small>' + esc(trackStateWords(g)) + '</small></li>';
      }).join('');
      if ($('map-subjects').innerHTML !== html) $('map-subjects').innerHTML = html;
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

    // A typed shot that names someone nobody has pointed out yet waits (on every tablet) until they are.
    function awaitedNames() { return last && last.awaiting ? last.awaiting.point_out || [] : []; }

    function renderAwaiting(awaiting) {
      var el = $('awaiting'), names = awaiting ? awaiting.point_out || [] : [];
      el.hidden = !names.length;
      el.dataset.names = names.join(',');
      var text = names.length ? 'Waiting to fly “' + awaiting.text + '”: point out ' + names.join(', ') +
        ' — tap them in the picture and name them so, or tap where they stand on the map' : '';
      if ($('awaiting-text').textContent !== text) $('awaiting-text').textContent = text;
    }

    function ignoredLine(res) {
      return res.ignored && res.ignored.length ? '<span class="ignored">ignored: ' + esc(res.ignored.join(', ')) + '</span>' : '';
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
      if (res.ok && res.point_out && res.point_out.length) {
        el.className = 'cmd-result ask';
        el.innerHTML = 'Not flying yet: point out ' + esc(res.point_out.join(', ')) +
          ' (tap them in the picture and name them so, or tap where they stand on the map)' + ignoredLine(res);
        if (!$('pin-name').value) $('pin-name').value = res.point_out[0];
      } else if (res.ok && res.shots) {
        el.className = 'cmd-result ok';
        el.innerHTML = esc((res.mode === 'append' ? 'Queued: ' : 'Cut to: ') + res.shots.map(function (s) {
          return (s.framing || '').replace(/_/g, ' ') + ' · ' + s.movement.type.replace(/_/g, ' ') + ' · ' + s.subjects.join(' ');
        }).join(' → ') + (res.holding ? ' (on HOLD: press RESUME)' : '')) + ignoredLine(res);
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
    $('map-subjects').addEventListener('click', function (ev) {  // a subject out of the picture can be picked here
      var li = ev.target.closest('li[data-track]'); if (li) select(+li.dataset.track);
    });
    function select(trackId) {
      selected = trackId;
      var known = ((last && last.subjects) || []).concat((last && last.map && last.map.subjects) || []);
      var subj = known.filter(function (s) { return s.track_id === trackId; })[0];
      $('subject-panel').hidden = false;
      $('subject-title').textContent = '#' + trackId;
      $('subject-name').value = subj && subj.name ? subj.name : (awaitedNames()[0] || '');
      var chip = $('selected-chip'); chip.hidden = false;
      chip.textContent = 'Presets apply to ' + (subj ? subjectLabel(subj) : '#' + trackId);
      placeBoxes();
      if (last) renderSubjects(last);
    }
    $('subject-clear').addEventListener('click', function () {
      selected = null; $('subject-panel').hidden = true; $('selected-chip').hidden = true; placeBoxes();
      if (last) renderSubjects(last);
    });
    $('subject-save').addEventListener('click', function () {
      if (selected == null) return;
      send({ type: 'name', track_id: selected, name: $('subject-name').value }).then(function (res) {
        showResult(res && res.ok ? { ok: true } : res);
        if (res && res.ok) $('cmd-result').textContent = '#' + res.track_id + ' is now “' + res.name + '”' + flyingLine(res);
      });
    });
    $('map-canvas').addEventListener('click', function (ev) {
      if (!mapView) return;
      var box = $('map-canvas').getBoundingClientRect();
      var at = mapToWorld(ev.clientX - box.left, ev.clientY - box.top);
      tapView = mapView;
      if (!$('pin-name').value && awaitedNames().length) $('pin-name').value = awaitedNames()[0];
      pinDraft = [Math.round(at[0] * 100) / 100, Math.round(at[1] * 100) / 100];
      var panel = $('pin-panel');
      panel.hidden = false;
      panel.dataset.x = pinDraft[0]; panel.dataset.y = pinDraft[1];
      $('pin-title').textContent = 'at ' + pinDraft[0].toFixed(1) + ', ' + pinDraft[1].toFixed(1) + ' m';
      $('pin-name').focus();
      renderMap();
    });
    function flyingLine(res) { return res.flying ? ' — flying “' + res.flying.text + '”' : ''; }
    function closePinPanel() { pinDraft = null; $('pin-panel').hidden = true; $('pin-name').value = ''; renderMap(); }
    $('pin-cancel').addEventListener('click', closePinPanel);
    function savePin() {
      if (!pinDraft) return;
      var name = $('pin-name').value;
      send({ type: 'point_out', name: name, x_m: pinDraft[0], y_m: pinDraft[1] }).then(function (res) {
        showResult(res && res.ok ? { ok: true } : res);
        if (res && res.ok) {
          $('cmd-result').textContent = '“' + res.name + '” pointed out at (' + res.position_m[0].toFixed(1) + ', ' +
            res.position_m[1].toFixed(1) + ') m: framed until the camera finds them' + flyingLine(res);
          closePinPanel();
        }
      }, function () { showResult(null); });
    }
    $('pin-save').addEventListener('click', savePin);
    $('map-pins').addEventListener('click', function (ev) {  // a wrong tap, or someone who left: take the pin back
      var button = ev.target.closest('.pin-remove');
      if (!button) return;
      var name = button.dataset.name;
      send({ type: 'remove_pin', name: name }).then(function (res) {
        showResult(res && res.ok ? { ok: true } : res);
        if (res && res.ok) $('cmd-result').textContent = '“' + res.name + '” is no longer pointed out';
      }, function () { showResult(null); });
    });
    $('awaiting-cancel').addEventListener('click', function () {  // the waiting shot is not wanted any more
      send({ type: 'cancel_awaiting' }).then(function (res) {
        showResult(res && res.ok ? { ok: true } : res);
        if (res && res.ok) $('cmd-result').textContent = 'Cancelled “' + res.cancelled.text + '”: the shot on air flies on';
      }, function () { showResult(null); });
    });
    $('pin-name').addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { ev.preventDefault(); savePin(); } });
    window.addEventListener('resize', renderMap);
    $('subject-frame').addEventListener('click', function () {
      if (selected == null) return;
      send({ type: 'preset', name: 'follow_medium', subjects: ['#' + selected], mode: 'now' }).then(showResult);
    });
    window.addEventListener('resize', placeBoxes);

    window.cinempcDirector = { // read-only peek for debugging in the browser console
      connected: function () { return wsOpen; }, state: function () { return last; },
      worldToMap: function (x, y) { return mapView ? worldToMap(x, y) : null; },  // CSS px in #map-canvas
      mapToWorld: function (px, py) { return mapView ? mapToWorld(px, py) : null; },
      mapView: function () { return mapView && Object.assign({}, mapView); },
      tapView: function () { return tapView && Object.assign({}, tapView); }
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
    // ------------------------------------------------------------------ operator panel
    // Signed with its own token (the pairing shell's signer, OPERATOR scheme: the operator token never travels),
    // inside a request signed with the pairing token; a 401 here is not a lost pairing.
    var opAuth = null, opToken = null;
    function opSigner() {
      var t = $('op-token').value;
      if (!opAuth || t !== opToken) { opToken = t; opAuth = auth.operator(t); }
      return opAuth;
    }
    function opApi(method, path, body) {
      var text = body !== undefined ? JSON.stringify(body) : undefined;
      var headers = text !== undefined ? { 'Content-Type': 'application/json' } : {};
      var op = opSigner();
      var sent = path === '/api/operator/hold' ? op.hold() : op.request(method, path, text, headers);
      return sent.then(function (r) {
        return r.json().then(function (j) { return [r.status, j]; });
      });
    }
    function opShow(status, j) {
      var lines = [];
      if (j.error) lines.push(j.error);
      if (j.message) lines.push(j.message);
      (j.checks || []).forEach(function (c) {
        lines.push((!c.passed ? 'FAIL ' : c.warning ? 'WARN ' : 'PASS ') + c.title + ': ' + c.reason);
      });
      if (j.passed !== undefined) lines.unshift(j.passed ? 'preflight PASSED' : 'preflight FAILED');
      $('op-result').textContent = lines.join('\n') || String(status);
    }
    function opRun(path, body) {
      $('op-result').textContent = 'running… (preflight first)';
      opApi('POST', path, body).then(function (a) { opShow(a[0], a[1]); })
        .catch(function (e) { $('op-result').textContent = 'failed: ' + e; });
    }
    // is there a panel? (404: none; 401: there is one, the operator token not given yet)
    auth.request('GET', '/api/operator/status').then(function (r) { $('operator').hidden = r.status === 404; })
      .catch(function () { /* no panel */ });
    $('op-preflight').addEventListener('click', function () { opRun('/api/operator/preflight'); });
    $('op-arm').addEventListener('click', function () { opRun('/api/operator/arm', { confirm: $('op-confirm').checked }); $('op-confirm').checked = false; });
    $('op-takeoff').addEventListener('click', function () { opRun('/api/operator/takeoff', { altitude_m: +$('op-alt').value }); });
    $('op-offboard').addEventListener('click', function () { opRun('/api/operator/offboard', {}); });
    $('op-hold').addEventListener('click', function () { opRun('/api/operator/hold', {}); });
    $('op-land').addEventListener('click', function () { opRun('/api/operator/land', {}); });

    connect();
    startPolling();  // until the socket says hello, HTTP keeps the page alive
  };
})();
