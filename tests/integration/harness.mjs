/*
 * Integration harness: start the mock upstream and the real gateway binary, talk to them, stop them.
 *
 * Every process started here is registered so that a test file's after() hook can stop it with
 * SIGTERM and await its exit; a process 'exit' handler SIGKILLs anything still alive as a last resort,
 * so a failing file never leaves a gateway or mock behind.  All waits are bounded.
 *
 * Environment:
 *   GANTRY_BIN            the gateway binary (meson passes it); default <repo>/build/gantry
 *   GANTRY_TEST_VERBOSE   1 = copy the gateway's and mock's stderr to ours as it arrives
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');
export const MOCK_PATH = path.join(REPO_ROOT, 'tests', 'mock', 'openai-mock.mjs');
export const GANTRY_BIN = process.env.GANTRY_BIN
    ? path.resolve(process.env.GANTRY_BIN)
    : path.join(REPO_ROOT, 'build', 'gantry');

export const MASTER_KEY = 'sk-test-master-7f3a';
export const UPSTREAM_KEY = 'sk-upstream';
const VERBOSE = process.env.GANTRY_TEST_VERBOSE === '1';
const MAX_CAPTURE = 1 << 20;

const live = new Set();
function killAll() {
    for (const child of live) {
        try {
            child.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
}
process.on('exit', killAll);
/* A test process stopped by a signal (runner timeout, ^C) runs no 'exit' handlers: clean up here. */
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
        killAll();
        process.exit(128 + os.constants.signals[sig]);
    });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Polls fn until it returns a truthy value; throws with `what` after timeout ms. */
export async function waitFor(fn, { timeout = 2000, interval = 50, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v;
            last = v;
        } catch (e) {
            last = e;
        }
        if (Date.now() >= deadline) {
            const detail = last instanceof Error ? `: ${last.message}` : '';
            throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`);
        }
        await sleep(interval);
    }
}

/* A port that was free a moment ago: bind :0 on 127.0.0.1, read it, close. */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/* A port nobody listens on (connection refused), for dead deployments. */
export const closedPort = freePort;

function capture(stream, sink, label) {
    stream.setEncoding('utf8');
    stream.on('data', (s) => {
        if (sink.text.length < MAX_CAPTURE) sink.text += s;
        if (VERBOSE) process.stderr.write(s.replace(/^/gm, `[${label}] `));
    });
}

function track(child) {
    live.add(child);
    const exited = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
            live.delete(child);
            resolve({ code, signal });
        });
        child.once('error', (error) => {
            live.delete(child);
            resolve({ code: null, signal: null, error });
        });
    });
    return exited;
}

/*
 * SIGTERM, wait up to `grace` ms, then SIGKILL.  Returns {code, signal, killed}; killed = true when
 * SIGKILL was needed.
 */
async function terminate(child, exited, grace) {
    if (child.exitCode !== null || child.signalCode !== null) return { ...(await exited), killed: false };
    child.kill('SIGTERM');
    let timer;
    const timedOut = new Promise((resolve) => {
        timer = setTimeout(() => resolve('timeout'), grace);
    });
    const first = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return { ...first, killed: false };
    child.kill('SIGKILL');
    return { ...(await exited), killed: true };
}

// ---------------------------------------------------------------------------------------------
// Mock upstream
// ---------------------------------------------------------------------------------------------

/*
 * Starts tests/mock/openai-mock.mjs (on `port`, default any free one).  Returns {port, url, baseURL,
 * requests(), stats(), reset(), behave(), clearBehave(), modelStats(), waitForRequest(), stop(), stderr()}.
 */
/*
 * Starts a mock server script (any of tests/mock/*.mjs: they print `LISTENING <port>` once bound)
 * as a child process; {port, url, stderr(), stop()}.  Its stderr is kept for error messages and
 * streamed when GANTRY_TEST_VERBOSE is set.
 */
export async function startMockProcess(script, args = [], { name = path.basename(script, '.mjs') } = {}) {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = track(child);
    const err = { text: '' };
    capture(child.stderr, err, name);
    const port = await new Promise((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => fail(new Error(`${name} did not print LISTENING within 5 s`)), 5000);
        function fail(e) {
            clearTimeout(timer);
            child.kill('SIGKILL');
            reject(new Error(`${e.message}\n${name} stderr:\n${err.text}`));
        }
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (s) => {
            buf += s;
            const m = /^LISTENING (\d+)$/m.exec(buf);
            if (m) {
                clearTimeout(timer);
                resolve(Number(m[1]));
            }
        });
        exited.then(({ code, signal, error }) =>
            fail(new Error(`${name} exited early (code ${code}, signal ${signal}${error ? `, ${error.message}` : ''})`)));
    });
    const url = `http://127.0.0.1:${port}`;
    const proc = {
        port,
        url,
        stderr: () => err.text,
        stop: () => terminate(child, exited, 3000),
        /* Recorded upstream requests (mocks that serve GET /__mock/requests?contains=). */
        async requests(contains) {
            const r = await fetch(`${url}/__mock/requests?contains=${encodeURIComponent(contains)}`,
                                  { signal: AbortSignal.timeout(5000) });
            return r.json();
        },
        /* The one recorded request carrying `m` (waits for it: the gateway may still be logging). */
        async only(m) {
            const list = await waitFor(async () => {
                const l = await proc.requests(m);
                return l.length > 0 ? l : null;
            }, { timeout: 3000, what: `an upstream request containing ${m}` });
            if (list.length !== 1) throw new Error(`expected exactly one upstream request for ${m}, got ${list.length}`);
            return list[0];
        },
    };
    return proc;
}

export async function startMock({ requireKey = null, port: fixedPort = 0 } = {}) {
    const args = ['--port', String(fixedPort)];
    if (requireKey) args.push('--require-key', requireKey);
    if (VERBOSE) args.push('--verbose');
    const proc = await startMockProcess(MOCK_PATH, args, { name: 'mock' });
    const { port } = proc;
    const url = `http://127.0.0.1:${port}`;
    const getJson = async (p, init) => {
        const r = await fetch(url + p, { ...init, signal: AbortSignal.timeout(5000) });
        if (!r.ok) throw new Error(`mock ${p}: HTTP ${r.status}`);
        return r.json();
    };
    const mock = {
        port,
        url,
        baseURL: `${url}/v1`,
        /* Recorded requests, oldest first; `contains` filters on the raw body text. */
        requests({ contains, path: onPath } = {}) {
            const q = new URLSearchParams();
            if (contains !== undefined) q.set('contains', contains);
            if (onPath !== undefined) q.set('path', onPath);
            const qs = q.toString();
            return getJson(`/__mock/requests${qs ? `?${qs}` : ''}`);
        },
        stats: () => getJson('/__mock/stats'),
        reset: () => getJson('/__mock/reset', { method: 'POST' }),
        /*
         * Per-model behaviour (see the mock's header): behave('dep-a', {status: 429}) or
         * behave({model: 'dep-a', ...}) or behave([{model, ...}, ...]).  Replaces that model's behaviour.
         */
        behave(model, spec) {
            const body = typeof model === 'string' ? { model, ...spec } : model;
            return getJson('/__mock/behave', {
                method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
            });
        },
        /* Forgets one model's behaviour, or every behaviour. */
        clearBehave: (model) => getJson(`/__mock/behave${model === undefined ? '' : `?model=${encodeURIComponent(model)}`}`,
                                        { method: 'DELETE' }),
        /* {model, requests, inFlight, maxInFlight, byStatus, times, cut, refused} of one upstream model id. */
        modelStats: (model) => getJson(`/__mock/stats?model=${encodeURIComponent(model)}`),
        /* Waits until at least `count` requests whose body contains `marker` were recorded. */
        async waitForRequest(marker, { count = 1, timeout = 3000 } = {}) {
            return waitFor(async () => {
                const list = await mock.requests({ contains: marker });
                return list.length >= count ? list : null;
            }, { timeout, what: `${count} upstream request(s) containing ${marker}` });
        },
        stderr: proc.stderr,
        stop: proc.stop,
    };
    return mock;
}

// ---------------------------------------------------------------------------------------------
// YAML
// ---------------------------------------------------------------------------------------------

const PLAIN_OK = /^[A-Za-z0-9_./@$-][A-Za-z0-9_./@:${}+-]*$/;
const NEEDS_QUOTES = /^(?:true|false|yes|no|on|off|null|~|[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)$/i;

function scalar(v) {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'boolean' || typeof v === 'number') return String(v);
    const s = String(v);
    /* Plain when YAML reads it back as the same string (os.environ/NAME stays plain, as people write it). */
    if (PLAIN_OK.test(s) && !NEEDS_QUOTES.test(s) && !s.endsWith(':')) return s;
    return JSON.stringify(s);
}

function isEmptyCollection(v) {
    return v !== null && typeof v === 'object' && (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);
}

function isBlock(v) {
    return v !== null && typeof v === 'object' && !isEmptyCollection(v);
}

function inline(v) {
    if (isEmptyCollection(v)) return Array.isArray(v) ? '[]' : '{}';
    return scalar(v);
}

/* A small block-style YAML writer for the configs the tests build (maps, lists, scalars). */
export function toYaml(value, indent = 0) {
    const pad = ' '.repeat(indent);
    if (!isBlock(value)) return `${pad}${inline(value)}\n`;
    if (Array.isArray(value)) {
        return value.map((item) => {
            if (!isBlock(item)) return `${pad}- ${inline(item)}\n`;
            /* The item's first line goes after "- "; its other lines are already indented to match. */
            return `${pad}- ${toYaml(item, indent + 2).slice(indent + 2)}`;
        }).join('');
    }
    return Object.entries(value).map(([k, v]) => (isBlock(v)
        ? `${pad}${scalar(k)}:\n${toYaml(v, indent + 2)}`
        : `${pad}${scalar(k)}: ${inline(v)}\n`)).join('');
}

// ---------------------------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------------------------

/* A deployment of the mock upstream: config model "openai/gpt-4o-mini", key from UPSTREAM_KEY. */
export function mockDeployment(mock, { name = 'gpt-mock', id = 'dep-mock-1', params = {} } = {}) {
    return {
        model_name: name,
        litellm_params: {
            model: 'openai/gpt-4o-mini',
            api_base: mock.baseURL,
            api_key: 'os.environ/UPSTREAM_KEY',
            ...params,
        },
        model_info: { id },
    };
}

/*
 * A deployment of the mock whose upstream model id is `upstream` (the mock sees body.model ===
 * upstream, which is what per-model behaviours key on).  `info` is merged into model_info.
 */
export function mockModelDeployment(mock, { name, id, upstream = id, params = {}, info = {}, apiBase } = {}) {
    return {
        model_name: name,
        litellm_params: {
            model: `openai/${upstream}`,
            api_base: apiBase ?? mock.baseURL,
            api_key: 'os.environ/UPSTREAM_KEY',
            ...params,
        },
        model_info: { id, ...info },
    };
}

/* A deployment of the built-in fake provider; response: null leaves the provider's default text. */
export function fakeDeployment({ name = 'fake-model', id = 'dep-fake-1', response = 'Hi there friend', params = {} } = {}) {
    return {
        model_name: name,
        litellm_params: { model: 'fake/fake-1', ...(response == null ? {} : { response }), ...params },
        model_info: { id },
    };
}

export function tempDir(prefix = 'gantry-it-') {
    return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/*
 * Writes `config` (an object, or YAML text) to a temp file with server.host/port/workers filled in,
 * starts `GANTRY_BIN --config <file>` and waits for GET /health/liveliness = 200 (every 50 ms, up to
 * 10 s).  Fails with the gateway's stderr if it exits first.
 *
 * Returns {port, url, baseURL, configPath, dir, child, stderr(), stdout(), exited, stop(), alive()}.
 * stop() sends SIGTERM and awaits the exit (SIGKILL after `grace` ms); it throws when the gateway did
 * not exit cleanly (non-zero code, a signal, or needing SIGKILL), because that is a gateway bug too.
 */
export async function startGateway(config, { env = {}, args = [], grace = 10_000 } = {}) {
    if (!existsSync(GANTRY_BIN)) {
        throw new Error(`gateway binary not found at ${GANTRY_BIN} (build it, or set GANTRY_BIN)`);
    }
    const dir = tempDir();
    const port = await freePort();
    let text;
    if (typeof config === 'string') {
        text = config.replaceAll('${PORT}', String(port));
    } else {
        const cfg = structuredClone(config);
        cfg.server = { host: '127.0.0.1', port, workers: 2, ...(cfg.server || {}) };
        cfg.server.port = port;
        text = toYaml(cfg);
    }
    const configPath = path.join(dir, 'gantry.yaml');
    writeFileSync(configPath, text);

    const child = spawn(GANTRY_BIN, ['--config', configPath, ...args], {
        env: { ...process.env, UPSTREAM_KEY, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = track(child);
    const err = { text: '' };
    const out = { text: '' };
    capture(child.stderr, err, 'gantry');
    capture(child.stdout, out, 'gantry');
    let exitInfo = null;
    exited.then((info) => {
        exitInfo = info;
    });

    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    for (;;) {
        if (exitInfo) {
            rmSync(dir, { recursive: true, force: true });
            throw new Error(`gateway exited during startup (code ${exitInfo.code}, signal ${exitInfo.signal}` +
                            `${exitInfo.error ? `, ${exitInfo.error.message}` : ''})\n` +
                            `config:\n${text}\ngateway stderr:\n${err.text}`);
        }
        try {
            const r = await fetch(`${url}/health/liveliness`, { signal: AbortSignal.timeout(1000) });
            await r.arrayBuffer();
            if (r.status === 200) break;
        } catch {
            /* not listening yet */
        }
        if (Date.now() >= deadline) {
            await terminate(child, exited, 2000);
            rmSync(dir, { recursive: true, force: true });
            throw new Error(`gateway did not answer GET /health/liveliness with 200 within 10 s\n` +
                            `config:\n${text}\ngateway stderr:\n${err.text}`);
        }
        await sleep(50);
    }

    return {
        port,
        url,
        baseURL: `${url}/v1`,
        configPath,
        configText: text,
        dir,
        child,
        exited,
        stderr: () => err.text,
        stdout: () => out.text,
        alive: () => exitInfo === null,
        async stop() {
            const res = await terminate(child, exited, grace);
            rmSync(dir, { recursive: true, force: true });
            if (res.killed || res.code !== 0) {
                throw new Error(`gateway did not exit cleanly on SIGTERM (code ${res.code}, signal ${res.signal}` +
                                `${res.killed ? ', needed SIGKILL' : ''})\ngateway stderr (tail):\n` +
                                err.text.slice(-4000));
            }
            return res;
        },
    };
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

export function authHeaders(key = MASTER_KEY) {
    return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
}

/*
 * fetch with a bounded wait; returns {status, headers, text, json} (json undefined if not JSON).
 */
export async function request(url, { method = 'GET', headers = {}, body, timeout = 15_000, signal } = {}) {
    const init = { method, headers, signal: signal ?? AbortSignal.timeout(timeout) };
    if (body !== undefined) {
        init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
        if (typeof body !== 'string' && !(body instanceof Uint8Array) && !headers['content-type']) {
            init.headers = { ...headers, 'content-type': 'application/json' };
        }
    }
    const r = await fetch(url, init);
    const text = await r.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return { status: r.status, headers: r.headers, text, json };
}

/*
 * Runs fn(i) for i = 0..count-1 with at most `concurrency` calls in flight; resolves to the results in
 * index order.  A call that throws stores {error} instead of stopping the others.
 */
export async function pool(count, concurrency, fn) {
    const results = new Array(count);
    let next = 0;
    async function lane() {
        for (;;) {
            const i = next++;
            if (i >= count) return;
            try {
                results[i] = await fn(i);
            } catch (error) {
                results[i] = { error };
            }
        }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
    return results;
}

/* POST a chat completion to the gateway with the master key. */
export function chat(gw, body, { path: p = '/v1/chat/completions', headers = {}, key = MASTER_KEY, timeout } = {}) {
    return request(gw.url + p, {
        method: 'POST',
        headers: { ...authHeaders(key), ...headers },
        body,
        timeout,
    });
}

export function userMessage(text) {
    return [{ role: 'user', content: text }];
}

/* A marker unique to this process and call, to find one test's requests in the mock's records. */
let markerSeq = 0;
export function marker(label = 'm') {
    return `${label}-${process.pid}-${++markerSeq}-${Math.random().toString(36).slice(2, 8)}`;
}

/*
 * Sends `text` as-is on a fresh TCP connection and reads one HTTP/1.1 response (content-length or
 * chunked), bounded by `timeout`.  Returns {status, headers, body, raw, elapsed, complete}.
 */
export function rawHttp(port, text, { timeout = 5000 } = {}) {
    return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const sock = net.connect(port, '127.0.0.1');
        let raw = Buffer.alloc(0);
        let settled = false;
        const finish = (complete) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            sock.destroy();
            const s = raw.toString('latin1');
            const end = s.indexOf('\r\n\r\n');
            const head = end < 0 ? s : s.slice(0, end);
            const lines = head.split('\r\n');
            const headers = {};
            for (const l of lines.slice(1)) {
                const i = l.indexOf(':');
                if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
            }
            let body = end < 0 ? '' : s.slice(end + 4);
            if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
                let out = '';
                let rest = body;
                for (;;) {
                    const nl = rest.indexOf('\r\n');
                    if (nl < 0) break;
                    const size = parseInt(rest.slice(0, nl), 16);
                    if (!(size > 0)) break;
                    out += rest.slice(nl + 2, nl + 2 + size);
                    rest = rest.slice(nl + 2 + size + 2);
                }
                body = out;
            }
            resolve({
                status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]) || null,
                headers,
                body: Buffer.from(body, 'latin1').toString('utf8'),
                raw: s,
                elapsed: Date.now() - t0,
                complete,
            });
        };
        const timer = setTimeout(() => finish(false), timeout);
        sock.on('data', (d) => {
            raw = Buffer.concat([raw, d]);
            const s = raw.toString('latin1');
            const end = s.indexOf('\r\n\r\n');
            if (end < 0) return;
            const head = s.slice(0, end);
            const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
            if (len && raw.length >= end + 4 + Number(len[1])) finish(true);
            else if (/\r\ntransfer-encoding:\s*chunked/i.test(head) && s.endsWith('\r\n0\r\n\r\n')) finish(true);
        });
        sock.on('error', (e) => {
            if (raw.length) return finish(false);
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            reject(e);
        });
        sock.on('close', () => finish(false));
        sock.write(text);
    });
}

/*
 * Reads a fetch response body to the end, bounded by `timeout` ms.  Returns {text, ended, timedOut}:
 * ended is 'clean' or 'error: <why>' (an abrupt end is data for the test, not an exception).
 */
export async function readAll(response, timeout = 8000) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let ended = 'clean';
    let timedOut = false;
    const timer = setTimeout(() => {
        timedOut = true;
        reader.cancel(new Error('read timeout')).catch(() => {});
    }, timeout);
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            text += decoder.decode(value, { stream: true });
        }
    } catch (e) {
        ended = `error: ${e.message}`;
    } finally {
        clearTimeout(timer);
    }
    return { text, ended, timedOut };
}

/* Splits an SSE body into events: [{event, data}] (data lines joined with \n; comments dropped). */
export function parseSSE(text) {
    const events = [];
    for (const block of text.replace(/\r\n?/g, '\n').split('\n\n')) {
        if (block.trim() === '') continue;
        let event = null;
        const data = [];
        for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            let value = i < 0 ? '' : line.slice(i + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'data') data.push(value);
            else if (field === 'event') event = value;
        }
        if (data.length || event) events.push({ event, data: data.join('\n') });
    }
    return events;
}

/*
 * curl via execFile.  Returns {status, headers (lower-cased keys, last value wins), body, stderr}.
 * -D - puts every header block (100 Continue included) before the body on stdout; the last block is
 * the final response.
 */
export function curl(args, { timeout = 15_000 } = {}) {
    return new Promise((resolve, reject) => {
        execFile('curl', ['-sS', '-D', '-', '--max-time', String(Math.ceil(timeout / 1000)), ...args],
                 { encoding: 'utf8', maxBuffer: 16 << 20, timeout: timeout + 2000 },
                 (error, stdout, stderr) => {
                     if (error && !stdout) return reject(new Error(`curl failed: ${error.message}\n${stderr}`));
                     let rest = stdout;
                     let head = '';
                     while (/^HTTP\/[\d.]+ \d{3}/.test(rest)) {
                         const end = rest.indexOf('\r\n\r\n');
                         if (end < 0) {
                             head = rest;
                             rest = '';
                             break;
                         }
                         head = rest.slice(0, end);
                         rest = rest.slice(end + 4);
                     }
                     const lines = head.split('\r\n');
                     const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0] || '')?.[1]);
                     const headers = {};
                     for (const l of lines.slice(1)) {
                         const i = l.indexOf(':');
                         if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
                     }
                     resolve({ status, headers, body: rest, stderr, exitCode: error ? error.code : 0 });
                 });
    });
}

/* Asserts the OpenAI error shape: exactly {"error":{"message","type","param","code"}}. */
export function assertOpenAIError(assert, body, { code, messageIncludes } = {}) {
    const where = `body: ${typeof body === 'string' ? body : JSON.stringify(body)}`;
    let obj = body;
    if (typeof body === 'string') {
        try {
            obj = JSON.parse(body);
        } catch {
            assert.fail(`error body is not JSON; ${where}`);
        }
    }
    assert.ok(obj && typeof obj === 'object' && !Array.isArray(obj), `error body is not a JSON object; ${where}`);
    assert.deepEqual(Object.keys(obj), ['error'], `top level must be exactly {"error":...}; ${where}`);
    const e = obj.error;
    assert.ok(e && typeof e === 'object', `error is not an object; ${where}`);
    assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'],
                     `error must have exactly message/type/param/code; ${where}`);
    assert.equal(typeof e.message, 'string', `error.message must be a string; ${where}`);
    assert.ok(e.message.length > 0, `error.message must not be empty; ${where}`);
    assert.equal(typeof e.type, 'string', `error.type must be a string; ${where}`);
    assert.ok(e.param === null || typeof e.param === 'string', `error.param must be string|null; ${where}`);
    assert.ok(e.code === null || typeof e.code === 'string' || typeof e.code === 'number',
              `error.code must be string|number|null; ${where}`);
    if (code !== undefined) assert.equal(e.code, code, `error.code; ${where}`);
    if (messageIncludes !== undefined) {
        assert.ok(e.message.includes(messageIncludes), `error.message should include ${JSON.stringify(messageIncludes)}; ${where}`);
    }
    return e;
}
