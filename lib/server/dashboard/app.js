/*
 * app.js - the agentpush dashboard (served by `agentpush serve` at /; the
 * API it reads is docs/api.md).  Plain JavaScript, no library, nothing
 * fetched but this server's own /api/v1 and files.
 *
 * Views, chosen by the URL's fragment (never holding a secret):
 *   #/            the fleet: every host of the recent jobs (newest job wins)
 *                 joined with the registered agents; filters by state and
 *                 by ErrorID
 *   #/new         the form that starts a check job
 *   #/jobs/ID     one job, its host states updated live from the job's
 *                 event stream (read with fetch(): EventSource cannot send
 *                 the Authorization header), or by polling when streaming
 *                 fails
 *   #/errors/ID   one ErrorID in the browser's language (Accept-Language)
 *
 * The admin token: asked for once with a form, kept in sessionStorage (this
 * tab only), sent as "Authorization: Bearer" on every API call and nowhere
 * else; any 401 forgets it and brings the form back.
 */
'use strict';

(function () {
	var TOKEN_KEY = 'agentpush.token';
	var POLL_MS = 1500;
	var VIEWS = ['token', 'fleet', 'new', 'job', 'error'];

	var follow = null;     /* the job page's live reader: {ctl, timer} */
	var fleet = [];        /* the fleet's rows, for the filters */

	function $(id) { return document.getElementById(id); }

	/* An element with text (never HTML: hosts and evidence are remote data). */
	function el(tag, text, cls) {
		var e = document.createElement(tag);

		if (text !== undefined && text !== null)
			e.textContent = String(text);
		if (cls)
			e.className = cls;
		return e;
	}

	function stateBadge(state) {
		var s = el('span', state, 'state state-' + state);

		s.dataset.state = state;
		return s;
	}

	function show(name) {
		VIEWS.forEach(function (v) { $('view-' + v).hidden = v !== name; });
	}

	function notice(text) {
		$('notice').textContent = text || '';
		$('notice').hidden = !text;
	}

	function stopFollowing() {
		if (follow === null)
			return;
		follow.stopped = true;
		if (follow.ctl)
			follow.ctl.abort();
		if (follow.timer)
			clearTimeout(follow.timer);
		follow = null;
	}

	/* ---- the API -------------------------------------------------------- */

	function Unauthorized() { this.name = 'Unauthorized'; }
	function ApiError(status, body) {
		var e = body && body.error ? body.error : {};

		this.name = 'ApiError';
		this.status = status;
		this.message = (e.field ? e.field + ': ' : '') + (e.message || ('HTTP ' + status));
	}

	function askToken(message) {
		stopFollowing();
		notice('');
		$('token').value = '';
		$('token-error').textContent = message || '';
		$('token-error').hidden = !message;
		show('token');
		$('token').focus();
	}

	/* fetch() of /api/v1 + path with the token; a 401 brings the form back. */
	function api(path, opts) {
		var token = sessionStorage.getItem(TOKEN_KEY);
		var o = Object.assign({}, opts || {});

		if (!token) {
			askToken('');
			return Promise.reject(new Unauthorized());
		}
		o.headers = Object.assign({
			'Authorization': 'Bearer ' + token,
			'Accept-Language': navigator.language || 'en'
		}, o.headers || {});
		o.cache = 'no-store';
		o.credentials = 'omit';
		return fetch('/api/v1' + path, o).then(function (r) {
			if (r.status === 401) {
				sessionStorage.removeItem(TOKEN_KEY);
				askToken('The server refused this token: enter the admin token again.');
				throw new Unauthorized();
			}
			return r;
		});
	}

	function apiJson(path, opts) {
		return api(path, opts).then(function (r) {
			return r.json().catch(function () { return null; }).then(function (body) {
				if (!r.ok)
					throw new ApiError(r.status, body);
				return body;
			});
		});
	}

	/* Shows a failure, except a 401 (the token form says it already). */
	function failed(what) {
		return function (e) {
			if (e instanceof Unauthorized)
				return;
			notice(what + ': ' + (e && e.message ? e.message : String(e)));
		};
	}

	/* ---- shared pieces ---------------------------------------------------- */

	function when(iso) {
		var d = iso ? new Date(iso) : null;

		return d && !isNaN(d) ? d.toLocaleString() : '';
	}

	/* The ErrorIDs of a target: id and title linking to the ErrorID's page,
	 * then the fix. */
	function findingsCell(td, errors) {
		(errors || []).forEach(function (f) {
			var div = el('div', null, 'finding');
			var a = el('a', f.id + ' ' + f.title);

			a.href = '#/errors/' + f.id;
			a.dataset.errorId = f.id;
			div.appendChild(a);
			if (f.remediation)
				div.appendChild(el('div', 'Fix: ' + f.remediation, 'fix'));
			td.appendChild(div);
		});
	}

	/*
	 * The state of a target of a stored job (GET /api/v1/jobs/ID): its result
	 * (ok, warning, failed) once the host is through; "running" for a host
	 * the job has not finished yet (the store then gives no findings but a
	 * note saying where the host is); "skipped" for a cancelled host.
	 */
	function targetState(job, t) {
		var errors = t.errors || [];

		if (job.status !== 'done' && errors.length === 0 && t.note)
			return 'running';
		if (errors.length === 0 && /cancel/.test(t.note || ''))
			return 'skipped';
		return t.status;
	}

	/* ---- the fleet -------------------------------------------------------- */

	function fleetRow(h) {
		var tr = el('tr');
		var cells = [h.host, h.os, null, h.version, null, null];

		cells.forEach(function (text) { tr.appendChild(el('td', text)); });
		tr.dataset.host = h.host;
		tr.dataset.state = h.state;
		tr.cells[2].appendChild(stateBadge(h.state));
		tr.cells[4].textContent = when(h.heartbeat);
		if (h.agentState === 'stale')
			tr.cells[4].appendChild(stateBadge('stale'));
		findingsCell(tr.cells[5], h.errors);
		if (h.job) {
			var a = el('a', 'job ' + h.job, 'muted');

			a.href = '#/jobs/' + h.job;
			tr.cells[0].appendChild(document.createTextNode(' '));
			tr.cells[0].appendChild(a);
		}
		return tr;
	}

	function fillSelect(sel, values, label) {
		var keep = sel.value;

		while (sel.options.length > 1)
			sel.remove(1);
		values.forEach(function (v) {
			var o = el('option', label ? label(v) : v);

			o.value = v;
			sel.appendChild(o);
		});
		sel.value = values.indexOf(keep) >= 0 ? keep : '';
	}

	function renderFleet() {
		var state = $('filter-state').value, id = $('filter-error').value;
		var body = $('fleet').tBodies[0];
		var shown = fleet.filter(function (h) {
			return (!state || h.state === state || h.agentState === state) &&
			       (!id || h.errors.some(function (f) { return String(f.id) === id; }));
		});

		body.replaceChildren.apply(body, shown.map(fleetRow));
		$('fleet-count').textContent = shown.length + ' of ' + fleet.length + ' hosts';
		$('fleet-empty').hidden = fleet.length !== 0;
	}

	function renderJobs(jobs) {
		var body = $('jobs').tBodies[0];

		body.replaceChildren.apply(body, jobs.map(function (j) {
			var tr = el('tr'), a = el('a', '#' + j.id), td = el('td');

			a.href = '#/jobs/' + j.id;
			td.appendChild(a);
			tr.appendChild(td);
			tr.appendChild(el('td', j.kind));
			td = el('td');
			td.appendChild(stateBadge(j.cancelled ? 'cancelled' : j.status));
			tr.appendChild(td);
			tr.appendChild(el('td', j.targets));
			tr.appendChild(el('td', when(j.created)));
			return tr;
		}));
	}

	/* Builds the fleet: the hosts of the newest jobs (a host's newest job
	 * wins), then the agents, joined to a host by address or hostname. */
	function loadFleet() {
		show('fleet');
		return Promise.all([apiJson('/jobs?limit=50'), apiJson('/agents')]).then(function (res) {
			var jobs = res[0].jobs || [], agents = res[1].agents || [];

			renderJobs(jobs);
			return Promise.all(jobs.map(function (j) { return apiJson('/jobs/' + j.id); }))
				.then(function (shows) { return [shows, agents]; });
		}).then(function (res) {
			var byHost = new Map();
			var states = new Set(), ids = new Map();

			res[0].forEach(function (s) {
				(s.targets || []).forEach(function (t) {
					if (byHost.has(t.host))
						return;
					byHost.set(t.host, { host: t.host, os: t.os, state: targetState(s.job, t),
					                     errors: t.errors || [], job: s.job.id,
					                     version: '', heartbeat: '', agentState: '' });
				});
			});
			res[1].forEach(function (a) {
				var h = byHost.get(a.address) || byHost.get(a.hostname);

				if (!h) {
					h = { host: a.hostname, os: a.os, state: a.state, errors: [], job: null };
					byHost.set('agent:' + a.id, h);
				}
				h.version = a.version;
				h.heartbeat = a.last_heartbeat;
				h.agentState = a.state;
			});
			fleet = Array.from(byHost.values());
			fleet.forEach(function (h) {
				states.add(h.state);
				if (h.agentState)
					states.add(h.agentState);
				h.errors.forEach(function (f) { ids.set(String(f.id), f.title); });
			});
			fillSelect($('filter-state'), Array.from(states).sort());
			fillSelect($('filter-error'), Array.from(ids.keys()).sort(),
			           function (id) { return id + ' ' + ids.get(id); });
			renderFleet();
		}).catch(failed('Cannot load the fleet'));
	}

	/* ---- a job ------------------------------------------------------------ */

	function setHostState(tr, state) {
		var td = tr.cells[2];

		td.replaceChildren(stateBadge(state));
		/* every state the row went through, in order (the test reads it) */
		tr.dataset.states = tr.dataset.states ? tr.dataset.states + ' ' + state : state;
	}

	function jobRow(t, i) {
		var tr = el('tr');

		[t.target, t.os, null, null, null].forEach(function (text) { tr.appendChild(el('td', text)); });
		tr.dataset.target = t.target;
		tr.dataset.index = i;
		return tr;
	}

	/* Fills results and findings from the stored job; the states too when
	 * no stream gives them (final: true). */
	function fillJob(s, final) {
		var rows = $('job-targets-table').tBodies[0].rows;

		$('job-status').replaceChildren(stateBadge(s.job.status));
		$('job-cancel').hidden = s.job.status === 'done';
		(s.targets || []).forEach(function (t, i) {
			var tr = rows[i];

			if (!tr)
				return;
			tr.cells[1].textContent = t.os;
			if (final) {
				var st = targetState(s.job, t), shown = (tr.dataset.states || '').split(' ').pop();

				st = st === 'ok' || st === 'warning' ? 'done' : st;
				if (st !== shown)
					setHostState(tr, st);
			}
			tr.cells[3].replaceChildren();
			if (s.job.status === 'done' || targetState(s.job, t) !== 'running')
				tr.cells[3].appendChild(el('span', t.status + (t.note ? ' (' + t.note + ')' : '')));
			tr.cells[4].replaceChildren();
			findingsCell(tr.cells[4], t.errors);
		});
	}

	/* The row of an event: by index, checked against the target's name. */
	function rowOf(d) {
		var rows = $('job-targets-table').tBodies[0].rows, i;

		if (rows[d.target] && rows[d.target].dataset.target === d.host)
			return rows[d.target];
		for (i = 0; i < rows.length; i++)
			if (rows[i].dataset.target === d.host)
				return rows[i];
		return null;
	}

	/* One Server-Sent Event block ("id:", "event:", "data:" lines). */
	function parseEvent(block) {
		var ev = { event: 'message', data: '' };

		block.split('\n').forEach(function (line) {
			var c = line.indexOf(':'), k, v;

			if (c <= 0)
				return;  /* a comment (keep-alive) or nothing */
			k = line.slice(0, c);
			v = line.slice(c + 1).replace(/^ /, '');
			if (k === 'data')
				ev.data += (ev.data ? '\n' : '') + v;
			else
				ev[k] = v;
		});
		return ev;
	}

	function onEvent(id, f, ev) {
		var d = null, tr;

		try { d = JSON.parse(ev.data); } catch (e) { return; }
		if (ev.event === 'state' && (tr = rowOf(d)) !== null) {
			if (!tr.dataset.states)
				setHostState(tr, d.from);
			setHostState(tr, d.to);
		} else if (ev.event === 'cancel') {
			$('job-live').textContent = 'cancel requested';
		} else if (ev.event === 'end') {
			f.ended = true;
			apiJson('/jobs/' + id).then(function (s) { fillJob(s, false); })
				.catch(failed('Cannot read the job'));
		}
	}

	/* Reads the job's event stream with fetch() (the token in a header). */
	function stream(id, f) {
		f.ctl = new AbortController();
		return api('/jobs/' + id + '/events', { headers: { 'Accept': 'text/event-stream' }, signal: f.ctl.signal })
			.then(function (r) {
				var reader, dec = new TextDecoder(), buf = '';

				if (!r.ok || !r.body)
					throw new Error('HTTP ' + r.status);
				$('job-live').textContent = 'live';
				reader = r.body.getReader();
				function next() {
					return reader.read().then(function (c) {
						var i;

						if (c.done)
							return;
						buf += dec.decode(c.value, { stream: true }).replace(/\r\n?/g, '\n');
						while ((i = buf.indexOf('\n\n')) >= 0) {
							onEvent(id, f, parseEvent(buf.slice(0, i)));
							buf = buf.slice(i + 2);
						}
						return next();
					});
				}
				return next();
			});
	}

	/* Without a stream: the stored job, again and again until it is done. */
	function poll(id, f) {
		if (f.stopped)
			return;
		$('job-live').textContent = 'polling';
		apiJson('/jobs/' + id).then(function (s) {
			fillJob(s, true);
			if (s.job.status !== 'done' && !f.stopped)
				f.timer = setTimeout(function () { poll(id, f); }, POLL_MS);
			else
				$('job-live').textContent = 'polled to the end';
		}).catch(failed('Cannot read the job'));
	}

	function loadJob(id) {
		var f = { stopped: false, ended: false };

		show('job');
		follow = f;
		$('job-title').textContent = 'Job ' + id;
		$('job-live').textContent = '';
		$('job-cancel').dataset.job = id;
		return apiJson('/jobs/' + id).then(function (s) {
			var body = $('job-targets-table').tBodies[0];

			$('job-title').textContent = 'Job ' + id + ': ' + s.job.kind + ' of ' + s.job.targets +
				' host' + (s.job.targets === 1 ? '' : 's');
			body.replaceChildren.apply(body, (s.targets || []).map(jobRow));
			fillJob(s, false);
			/* until the stream says where each host is */
			if (s.job.status !== 'done')
				Array.prototype.forEach.call(body.rows, function (tr) { setHostState(tr, 'waiting'); });
			return stream(id, f).then(function () {
				/* closed before its end (a server restart): poll instead */
				if (!f.stopped && !f.ended)
					poll(id, f);
				else if (!f.stopped)
					$('job-live').textContent = 'ended';
			}, function (e) {
				if (f.stopped || e instanceof Unauthorized)
					return;
				poll(id, f);
			});
		}).catch(failed('Cannot read job ' + id));
	}

	function cancelJob() {
		var id = $('job-cancel').dataset.job;

		apiJson('/jobs/' + id + '/cancel', { method: 'POST' })
			.then(function () { $('job-live').textContent = 'cancel requested'; })
			.catch(failed('Cannot cancel job ' + id));
	}

	/* ---- starting a check -------------------------------------------------- */

	function submitJob(ev) {
		var targets = $('job-targets').value.split(/\s+/).filter(Boolean);
		var inventory = $('job-inventory').value;
		var body = { kind: 'check' }, timeout = $('job-timeout').value;

		ev.preventDefault();
		$('job-error').hidden = true;
		if (targets.length)
			body.targets = targets;
		if (inventory.trim())
			body.inventory = inventory;
		if ($('job-user').value)
			body.user = $('job-user').value;
		if ($('job-password').value)
			body.password = $('job-password').value;
		if ($('job-known-hosts').value)
			body.known_hosts = $('job-known-hosts').value;
		if (timeout)
			body.timeout = Number(timeout);
		apiJson('/jobs', { method: 'POST', body: JSON.stringify(body),
		                   headers: { 'Content-Type': 'application/json' } })
			.then(function (res) {
				$('job-form').reset();
				location.hash = '#/jobs/' + res.job.id;
			}).catch(function (e) {
				if (e instanceof Unauthorized)
					return;
				$('job-error').textContent = e.message || String(e);
				$('job-error').hidden = false;
			});
	}

	/* ---- an ErrorID --------------------------------------------------------- */

	function loadError(id) {
		show('error');
		return apiJson('/errors/' + encodeURIComponent(id)).then(function (e) {
			var fix = Array.isArray(e.remediation) ? e.remediation : [e.remediation];

			$('err-id').textContent = e.id;
			$('err-name').textContent = e.name;
			$('err-stage').textContent = e.stage;
			$('err-severity').textContent = e.severity;
			$('err-title').textContent = e.title;
			$('err-cause').textContent = e.cause || '';
			$('err-fix').replaceChildren.apply($('err-fix'), fix.map(function (s) { return el('li', s); }));
			$('err-evidence').textContent = e.evidence || '';
			document.title = e.id + ' ' + e.title + ' - agentpush';
		}).catch(failed('Cannot read ErrorID ' + id));
	}

	/* ---- routing ------------------------------------------------------------ */

	function route() {
		var h = location.hash.replace(/^#\/?/, ''), m;

		stopFollowing();
		notice('');
		document.title = 'agentpush';
		if (!sessionStorage.getItem(TOKEN_KEY))
			return askToken('');
		if ((m = /^jobs\/(\d+)$/.exec(h)) !== null)
			return loadJob(m[1]);
		if ((m = /^errors\/([A-Za-z0-9_]+)$/.exec(h)) !== null)
			return loadError(m[1]);
		if (h === 'new')
			return show('new');
		return loadFleet();
	}

	document.addEventListener('DOMContentLoaded', function () {
		$('token-form').addEventListener('submit', function (ev) {
			ev.preventDefault();
			sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
			$('token').value = '';
			route();
		});
		$('forget').addEventListener('click', function () {
			sessionStorage.removeItem(TOKEN_KEY);
			askToken('');
		});
		$('job-form').addEventListener('submit', submitJob);
		$('job-cancel').addEventListener('click', cancelJob);
		$('filter-state').addEventListener('change', renderFleet);
		$('filter-error').addEventListener('change', renderFleet);
		$('fleet-refresh').addEventListener('click', loadFleet);
		window.addEventListener('hashchange', route);
		route();
	});
}());
