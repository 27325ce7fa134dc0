// tests/server/dashboard.mjs: drives the dashboard of a running `agentpush
// serve` in Debian's headless Chromium through playwright-core, as a person
// would, and writes what it saw to $DASH_OUT/result.json for
// tests/server/dashboard.sh to check (the checks, and the test's verdict,
// are there; this script fails only when it cannot drive the page at all).
//
// Environment (dashboard.sh sets it): DASH_URL (https://127.0.0.1:PORT),
// DASH_SPKI (the server's public key hash, base64, which Chromium is told
// to trust), DASH_TOKEN_FILE and DASH_PW_FILE (the admin token and the
// hosts' password: read from 0600 files, never printed, never in argv),
// DASH_TARGETS (the healthy target, then the closed one), DASH_KH (the
// known_hosts path on the server), DASH_OUT (results, screenshots, the
// browsers' profiles), DASH_PLAYWRIGHT (playwright-core's folder).
//
// Chromium reaches 127.0.0.1 only: every other name resolves to nothing,
// every other address goes to a dead proxy, background services are off,
// and every request the page makes is recorded (result.outside lists any
// that went elsewhere).
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const env = (k) => {
	if (!process.env[k]) throw new Error(`${k} is not set`);
	return process.env[k];
};
const require = createRequire(path.join(env('DASH_PLAYWRIGHT'), 'package.json'));
const { chromium } = require('playwright-core');

const base = env('DASH_URL');
const out = env('DASH_OUT');
const token = readFileSync(env('DASH_TOKEN_FILE'), 'utf8').trim();
const password = readFileSync(env('DASH_PW_FILE'), 'utf8').trim();
const [goodTarget, closedTarget] = env('DASH_TARGETS').split(' ');
const WAIT = 60000;

const result = { outside: [], console: [], steps: [] };
const browsers = [];

function step(name) {
	result.steps.push(name);
	process.stdout.write(`dashboard.mjs: ${name}\n`);
}

async function open(locale, name) {
	const dir = path.join(out, 'profile-' + name);
	mkdirSync(dir, { recursive: true });
	const ctx = await chromium.launchPersistentContext(dir, {
		executablePath: '/usr/bin/chromium',
		headless: true,
		locale,
		viewport: { width: 1280, height: 800 },
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		       '--disable-background-networking', '--disable-component-update', '--disable-sync',
		       '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
		       '--proxy-server=http://127.0.0.1:9', '--proxy-bypass-list=127.0.0.1',
		       '--ignore-certificate-errors-spki-list=' + env('DASH_SPKI')],
	});
	browsers.push(ctx);
	// Loaded with the page's first document: each state cell of the job
	// table as the page showed it, one entry per rendering change; still
	// recording at the end means the page was never reloaded.
	await ctx.addInitScript(() => {
		window.agentpushSeen = {};
		new MutationObserver(() => {
			document.querySelectorAll('#job-targets-table tbody tr').forEach((tr) => {
				const seen = (window.agentpushSeen[tr.dataset.target] ||= []);
				const text = tr.cells[2] ? tr.cells[2].textContent : '';
				if (text && seen[seen.length - 1] !== text) seen.push(text);
			});
		}).observe(document, { childList: true, subtree: true, characterData: true });
	});
	ctx.on('request', (req) => {
		const u = new URL(req.url());
		if (u.origin !== base) result.outside.push(u.origin);
	});
	const page = ctx.pages()[0] || await ctx.newPage();
	page.setDefaultTimeout(WAIT);
	page.on('console', (m) => {
		// The 401s this script provokes (wrong and revoked tokens) are
		// logged by Chromium as failed loads: counted apart.
		if (/^Failed to load resource: .* status of 401 /.test(m.text())) result.console_401 = (result.console_401 || 0) + 1;
		else if (m.type() === 'error' || m.type() === 'warning') result.console.push(`${name}: ${m.text()}`);
	});
	page.on('pageerror', (e) => result.console.push(`${name}: page error: ${e.message}`));
	return page;
}

const visible = (page, view) => page.waitForSelector(`#view-${view}:not([hidden])`);
const shot = (page, name) => page.screenshot({ path: path.join(out, `dashboard-${name}.png`), fullPage: true });

async function signIn(page, tok) {
	await visible(page, 'token');
	await page.fill('#token', tok);
	await page.click('#token-form button[type=submit]');
}

async function main() {
	// ---- English: the token form, a wrong token, then the right one ----
	const page = await open('en-US', 'en');
	const r = await page.goto(base + '/');
	result.index_status = r.status();
	result.index_headers = { csp: r.headers()['content-security-policy'] || '',
	                         cache: r.headers()['cache-control'] || '',
	                         type: r.headers()['content-type'] || '' };
	await visible(page, 'token');
	result.token_form_first = true;
	step('the token form is asked for first');
	await signIn(page, 'not-the-token');
	await page.waitForSelector('#token-error:not([hidden])');
	await visible(page, 'token');
	result.wrong_token_message = await page.textContent('#token-error');
	result.wrong_token_stored = await page.evaluate(() => sessionStorage.getItem('agentpush.token'));
	step('a wrong token brings the form back');
	await shot(page, 'token');

	await signIn(page, token);
	await visible(page, 'fleet');
	result.token_in_url = page.url().includes(token);
	step('signed in: the fleet');

	// ---- a check job started from the page ----
	await page.click('header a[href="#/new"]');
	await visible(page, 'new');
	await page.fill('#job-targets', goodTarget + '\n' + closedTarget);
	await page.fill('#job-user', 'root');
	await page.fill('#job-password', password);
	await page.fill('#job-known-hosts', env('DASH_KH'));
	await page.fill('#job-timeout', '10');
	await page.click('#job-form button[type=submit]');
	await page.waitForURL(/#\/jobs\/\d+$/);
	// A mark in the page: still there at the end means no reload happened.
	await page.evaluate(() => { window.agentpushNoReload = 'kept'; });
	result.job_id = Number(new URL(page.url()).hash.replace(/^#\/jobs\//, ''));
	await visible(page, 'job');
	step(`job ${result.job_id} submitted; its page is open`);
	result.job_rows_first = await page.$$eval('#job-targets-table tbody tr', (rows) =>
		rows.map((tr) => ({ target: tr.dataset.target, state: tr.cells[2].textContent })));
	await page.waitForFunction(() => {
		const rows = document.querySelectorAll('#job-targets-table tbody tr');
		return rows.length === 2 && Array.from(rows).every((tr) =>
			/^(done|failed|skipped)$/.test(tr.cells[2].textContent));
	});
	// the end of the stream refreshes the findings
	await page.waitForSelector('#job-targets-table tbody tr a[data-error-id]');
	await page.waitForFunction(() => document.querySelector('#job-status').textContent === 'done');
	result.job_rows = await page.$$eval('#job-targets-table tbody tr', (rows) => rows.map((tr) => ({
		target: tr.dataset.target, state: tr.cells[2].textContent, states: tr.dataset.states || '',
		errors: Array.from(tr.querySelectorAll('a[data-error-id]')).map((a) => Number(a.dataset.errorId)),
	})));
	result.job_live = await page.textContent('#job-live');
	result.no_reload = await page.evaluate(() => window.agentpushNoReload || '');
	result.seen = await page.evaluate(() => window.agentpushSeen);
	step('the rows turned without a reload');
	await shot(page, 'job');

	// ---- the fleet, its filters ----
	await page.click('header a[href="#/"]');
	await visible(page, 'fleet');
	await page.waitForFunction(() => document.querySelectorAll('#fleet tbody tr').length >= 3);
	const fleetRows = () => page.$$eval('#fleet tbody tr', (rows) => rows.map((tr) => ({
		host: tr.dataset.host, state: tr.dataset.state,
		version: tr.cells[3].textContent, heartbeat: tr.cells[4].textContent,
		errors: Array.from(tr.querySelectorAll('a[data-error-id]')).map((a) => Number(a.dataset.errorId)),
		fix: Array.from(tr.querySelectorAll('.fix')).map((f) => f.textContent).join(' '),
	})));
	result.fleet = await fleetRows();
	result.fleet_jobs = await page.$$eval('#jobs tbody tr', (rows) => rows.length);
	await shot(page, 'fleet');
	await page.selectOption('#filter-state', 'failed');
	result.fleet_failed = await fleetRows();
	await page.selectOption('#filter-state', 'ok');
	result.fleet_ok = await fleetRows();
	await page.selectOption('#filter-state', '');
	await page.selectOption('#filter-error', '95117');
	result.fleet_95117 = await fleetRows();
	await page.selectOption('#filter-error', '');
	step('the fleet and its filters');

	// ---- the ErrorID of the failed host, in English ----
	await page.click('#fleet tbody tr a[data-error-id="95117"]');
	await visible(page, 'error');
	await page.waitForFunction(() => document.querySelector('#err-title').textContent !== '');
	result.error_en = { url_hash: new URL(page.url()).hash, title: await page.textContent('#err-title'),
	                    fixes: await page.$$eval('#err-fix li', (li) => li.length),
	                    language: await page.evaluate(() => navigator.language) };
	await shot(page, 'error');
	step('ErrorID 95117 in English');

	// ---- a token that stops working: the form again ----
	await page.evaluate(() => sessionStorage.setItem('agentpush.token', 'revoked-token'));
	await page.click('header a[href="#/"]');
	await page.waitForSelector('#token-error:not([hidden])');
	result.revoked_form = await page.isVisible('#view-token');
	result.revoked_message = await page.textContent('#token-error');
	step('a refused token brings the form back');

	// ---- French ----
	const fr = await open('fr-FR', 'fr');
	await fr.goto(base + '/#/errors/95117');
	await signIn(fr, token);
	await visible(fr, 'error');
	await fr.waitForFunction(() => document.querySelector('#err-title').textContent !== '');
	result.error_fr = { title: await fr.textContent('#err-title'),
	                    language: await fr.evaluate(() => navigator.language) };
	step('ErrorID 95117 in French');
}

let rc = 0;
const guard = setTimeout(() => {
	process.stderr.write('dashboard.mjs: timed out\n');
	process.exit(3);
}, 240000);
try {
	await main();
} catch (e) {
	// the message only: Playwright's call logs can hold what was typed
	result.failure = String(e && e.message ? e.message.split('\n')[0] : e);
	process.stderr.write(`dashboard.mjs: ${result.failure}\n`);
	rc = 1;
}
for (const b of browsers)
	await b.close().catch(() => {});
clearTimeout(guard);
writeFileSync(path.join(out, 'result.json'), JSON.stringify(result, null, 1));
process.exit(rc);
