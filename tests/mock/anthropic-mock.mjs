#!/usr/bin/env node
/*
 * anthropic-mock: a mock of Anthropic's Messages API for Gantry's integration tests.
 *
 *   node tests/mock/anthropic-mock.mjs --port 0 [--require-key sk-ant-test] [--verbose]
 *
 * Prints exactly one line, `LISTENING <port>`, on stdout once bound to 127.0.0.1; everything else
 * goes to stderr.  Only Node's own modules are used.
 *
 * It speaks the wire format of api.anthropic.com:
 *   POST /v1/messages   a Message JSON object, or (with "stream": true) server-sent events with
 *                       `event:` lines: message_start (with input usage), ping,
 *                       content_block_start / content_block_delta / content_block_stop,
 *                       message_delta (stop_reason and output usage), message_stop
 * Errors use Anthropic's body {"type":"error","error":{"type","message"},"request_id"}.
 * Like the real API it requires the x-api-key header (equal to --require-key when given), the
 * anthropic-version header, and model, max_tokens and messages in the body (400 otherwise).
 *
 * Faults and answer shapes are chosen by directives in the text of the last user turn, so tests
 * running in parallel against one mock cannot disturb each other:
 *   [[status:N]]     answer status N with the Anthropic error body for it (429 adds retry-after: 1)
 *   [[overloaded]]   529 overloaded_error
 *   [[context]]      400 "prompt is too long: ..." (CONTEXT_ERROR)
 *   [[tool_call]]    a short text, then a tool_use block (TOOL_USE); stop_reason tool_use; streamed
 *                    as input_json_delta fragments (TOOL_INPUT_PIECES)
 *   [[thinking]]     a thinking block (THINKING, with its signature) before the text
 *   [[cache]]        usage reports prompt-cache reads and writes (CACHE_USAGE)
 *   [[stream_error]] streaming: the role and first text delta, then an `event: error`
 *                    overloaded_error; non-streaming: 529 overloaded_error
 *   [[cut:N]]        stream N text deltas, then destroy the socket (non-streaming: half of the
 *                    JSON body, then destroy it)
 *   [[echo]]         the answer text is JSON.stringify(<request body as received>)
 *   [[delay:MS]]     wait MS before answering
 * A request whose tool_choice is {"type":"tool","name":X} (forced tool use, how gateways do JSON
 * mode) is answered with a tool_use of X whose input is FORCED_INPUT.  Otherwise the answer is
 * the text "Hello from mock" in three deltas (PIECES).
 *
 * Introspection (never behind the key checks, never recorded):
 *   GET  /__mock/requests[?contains=TEXT][&path=/v1/...]   recorded requests (method, path,
 *        headers, body), oldest first
 *   GET  /__mock/stats    {"requests","completed","closedEarly","cut"}
 *   POST /__mock/reset    forget recorded requests and zero the stats
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';

export const INPUT_TOKENS = 10;
export const PIECES = ['Hello', ' from', ' mock'];
export const TEXT = PIECES.join('');
export const TOOL_TEXT = 'Let me check the weather.';
export const TOOL_USE = { id: 'toolu_mock_1', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } };
export const TOOL_INPUT_PIECES = ['{"city": ', '"Paris", ', '"unit": "cel', 'sius"}'];
export const THINKING = { thinking: 'Let me think about this step by step.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' };
export const FORCED_INPUT = { name: 'mock', ok: true };
export const CACHE_USAGE = { cache_creation_input_tokens: 20, cache_read_input_tokens: 30 };
export const CONTEXT_MESSAGE = 'prompt is too long: 208310 tokens > 200000 maximum';

function errorBody(type, message, seq) {
    return { type: 'error', error: { type, message }, request_id: `req_mock_${seq}` };
}

/* The error Anthropic sends for a status (types from its documentation). */
export function statusError(status) {
    switch (status) {
    case 400: return ['invalid_request_error', 'Mock upstream rejected the request (status 400).'];
    case 401: return ['authentication_error', 'invalid x-api-key'];
    case 403: return ['permission_error', 'Your API key does not have permission to use the specified resource.'];
    case 404: return ['not_found_error', 'model: claude-nonexistent'];
    case 413: return ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'];
    case 429: return ['rate_limit_error', 'This request would exceed the rate limit for your organization of 50 requests per minute.'];
    case 500: return ['api_error', 'Internal server error (mock upstream status 500)'];
    case 529: return ['overloaded_error', 'Overloaded'];
    default: return [status >= 500 ? 'api_error' : 'invalid_request_error', `Mock upstream error with status ${status}.`];
    }
}

const FLAGS = new Set(['overloaded', 'context', 'tool_call', 'thinking', 'cache', 'stream_error', 'echo']);
const NUMBERS = new Set(['status', 'cut', 'delay']);

function blockText(content) {
    if (typeof content === 'string') return content;
    if (!Array.isArray(content)) return '';
    return content.map((b) => {
        if (b && b.type === 'text' && typeof b.text === 'string') return b.text;
        if (b && b.type === 'tool_result') return blockText(b.content);
        return '';
    }).join('\n');
}

/* Directives of the last user turn; throws on a malformed one so a test's typo is loud. */
export function parseDirectives(body) {
    const out = {};
    const turns = Array.isArray(body?.messages) ? body.messages : [];
    const last = [...turns].reverse().find((m) => m && m.role === 'user');
    if (!last) return out;
    for (const m of blockText(last.content).matchAll(/\[\[([a-z_]+)(?::([^\]]*))?\]\]/g)) {
        const [, name, arg] = m;
        if (FLAGS.has(name) && arg === undefined) out[name] = true;
        else if (NUMBERS.has(name) && arg !== undefined && /^\d+$/.test(arg)) out[name] = Number(arg);
        else throw new Error(`mock: bad directive ${m[0]}`);
    }
    return out;
}

/* The answer's content blocks, stop reason and usage for a request. */
export function plan(body, d) {
    const blocks = [];
    let stop = 'end_turn';
    if (d.thinking) blocks.push({ type: 'thinking', ...THINKING });
    const forced = body.tool_choice?.type === 'tool' && typeof body.tool_choice.name === 'string';
    if (d.tool_call) {
        blocks.push({ type: 'text', text: TOOL_TEXT });
        blocks.push({ type: 'tool_use', ...TOOL_USE });
        stop = 'tool_use';
    } else if (forced) {
        blocks.push({ type: 'tool_use', id: 'toolu_mock_forced', name: body.tool_choice.name, input: FORCED_INPUT });
        stop = 'tool_use';
    } else {
        blocks.push({ type: 'text', text: d.echo ? JSON.stringify(body) : TEXT });
    }
    const output = d.echo ? 1 : PIECES.length + (d.tool_call ? 5 : 0) + (d.thinking ? 8 : 0);
    const usage = { input_tokens: INPUT_TOKENS, cache_creation_input_tokens: 0, cache_read_input_tokens: 0,
                    output_tokens: output, service_tier: 'standard' };
    if (d.cache) Object.assign(usage, CACHE_USAGE);
    return { blocks, stop, usage };
}

export function createMock({ requireKey = null, verbose = false } = {}) {
    const records = [];
    const stats = { requests: 0, completed: 0, closedEarly: 0, cut: 0 };
    let seq = 0;
    const log = verbose ? (...a) => console.error('[anthropic-mock]', ...a) : () => {};

    function sendJson(res, status, obj, extra = {}) {
        const text = JSON.stringify(obj);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
        res.end(text);
    }

    function pause(res, ms) {
        return new Promise((resolve) => {
            const timer = setTimeout(() => resolve(!res.destroyed), ms);
            res.once('close', () => {
                clearTimeout(timer);
                resolve(false);
            });
        });
    }

    async function messages(req, res, rec) {
        const common = { 'request-id': `req_mock_${rec.seq}` };
        const fail = (status, type, message, extra = {}) =>
            sendJson(res, status, errorBody(type, message, rec.seq), { ...common, ...extra });
        const key = req.headers['x-api-key'];
        if (!key) return fail(401, 'authentication_error', 'x-api-key header is required');
        if (requireKey && key !== requireKey) return fail(401, 'authentication_error', 'invalid x-api-key');
        if (!req.headers['anthropic-version']) {
            return fail(400, 'invalid_request_error', 'anthropic-version: header is required');
        }
        const body = rec.body;
        if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
            return fail(400, 'invalid_request_error', 'There was an issue with the format of your request: the body is not a JSON object');
        }
        if (typeof body.model !== 'string' || body.model === '') return fail(400, 'invalid_request_error', 'model: Field required');
        if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
            return fail(400, 'invalid_request_error', body.max_tokens === undefined ? 'max_tokens: Field required'
                : 'max_tokens: Input should be a valid integer greater than or equal to 1');
        }
        if (!Array.isArray(body.messages)) return fail(400, 'invalid_request_error', 'messages: Field required');
        let d;
        try {
            d = parseDirectives(body);
        } catch (e) {
            return fail(400, 'invalid_request_error', e.message);
        }
        if (d.delay && !(await pause(res, d.delay))) return;
        if (d.status) {
            const [type, message] = statusError(d.status);
            return fail(d.status, type, message, d.status === 429 ? { 'retry-after': '1' } : {});
        }
        if (d.overloaded || (d.stream_error && body.stream !== true)) return fail(529, 'overloaded_error', 'Overloaded');
        if (d.context) return fail(400, 'invalid_request_error', CONTEXT_MESSAGE);

        const { blocks, stop, usage } = plan(body, d);
        const id = `msg_mock_${rec.seq}`;
        if (body.stream !== true) {
            const text = JSON.stringify({ id, type: 'message', role: 'assistant', model: body.model, content: blocks,
                                          stop_reason: stop, stop_sequence: null, usage });
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...common });
            if (d.cut !== undefined) {
                res.write(text.slice(0, Math.floor(text.length / 2)));
                rec.cut = true;
                stats.cut++;
                setTimeout(() => res.destroy(), 20);
                return;
            }
            return res.end(text);
        }

        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...common });
        const send = (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        const startUsage = { ...usage, output_tokens: 1 };
        send('message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model: body.model,
                                                                   content: [], stop_reason: null, stop_sequence: null,
                                                                   usage: startUsage } });
        send('ping', { type: 'ping' });
        let textDeltas = 0;
        for (let index = 0; index < blocks.length; index++) {
            const b = blocks[index];
            if (b.type === 'thinking') {
                send('content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
                const half = Math.floor(b.thinking.length / 2);
                for (const t of [b.thinking.slice(0, half), b.thinking.slice(half)]) {
                    send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: t } });
                }
                send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: b.signature } });
            } else if (b.type === 'text') {
                send('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
                const pieces = b.text === TEXT ? PIECES : [b.text];
                for (const t of pieces) {
                    if (d.cut !== undefined && textDeltas === d.cut) {
                        rec.cut = true;
                        stats.cut++;
                        setTimeout(() => res.destroy(), 20);
                        return;
                    }
                    send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: t } });
                    textDeltas++;
                    if (d.stream_error) {
                        send('error', errorBody('overloaded_error', 'Overloaded', rec.seq));
                        return res.end();
                    }
                }
            } else if (b.type === 'tool_use') {
                send('content_block_start', { type: 'content_block_start', index,
                                              content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
                /* The real API opens with an empty fragment. */
                const input = JSON.stringify(b.input);
                const pieces = d.tool_call && b.id === TOOL_USE.id ? TOOL_INPUT_PIECES
                    : [input.slice(0, 5), input.slice(5)];
                for (const p of ['', ...pieces]) {
                    send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } });
                }
            }
            send('content_block_stop', { type: 'content_block_stop', index });
        }
        const deltaUsage = d.cache ? { ...usage } : { output_tokens: usage.output_tokens };
        delete deltaUsage.service_tier;
        send('message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: deltaUsage });
        send('message_stop', { type: 'message_stop' });
        res.end();
    }

    async function route(req, res, url, rec) {
        if (url.pathname === '/v1/messages' && req.method === 'POST') return messages(req, res, rec);
        return sendJson(res, 404, errorBody('not_found_error', `Not found: ${req.method} ${url.pathname}`, rec.seq));
    }

    function introspect(req, res, url) {
        if (url.pathname === '/__mock/requests' && req.method === 'GET') {
            const contains = url.searchParams.get('contains');
            const onPath = url.searchParams.get('path');
            const list = records.filter((r) => (contains === null || r.rawBody.includes(contains)) &&
                                               (onPath === null || r.path === onPath));
            return sendJson(res, 200, list.map(({ rawBody, ...rest }) => (rest.body === undefined ? { ...rest, body: null, rawBody } : rest)));
        }
        if (url.pathname === '/__mock/stats' && req.method === 'GET') return sendJson(res, 200, stats);
        if (url.pathname === '/__mock/reset' && req.method === 'POST') {
            records.length = 0;
            for (const k of Object.keys(stats)) stats[k] = 0;
            return sendJson(res, 200, { ok: true });
        }
        return sendJson(res, 404, { error: 'unknown mock endpoint' });
    }

    const server = http.createServer({ noDelay: true }, async (req, res) => {
        const url = new URL(req.url, 'http://127.0.0.1');
        const parts = [];
        try {
            for await (const c of req) parts.push(c);
        } catch {
            return;
        }
        const rawBody = Buffer.concat(parts).toString('utf8');
        if (url.pathname.startsWith('/__mock/')) return introspect(req, res, url);
        const rec = { seq: ++seq, method: req.method, path: url.pathname, headers: req.headers, body: undefined, rawBody,
                      receivedAt: Date.now(), completed: false, closedEarly: false, cut: false };
        try {
            rec.body = rawBody === '' ? undefined : JSON.parse(rawBody);
        } catch {
            rec.body = undefined;
        }
        records.push(rec);
        stats.requests++;
        res.on('close', () => {
            if (res.writableFinished) {
                rec.completed = true;
                stats.completed++;
            } else if (!rec.cut) {
                rec.closedEarly = true;
                stats.closedEarly++;
            }
        });
        log(`#${rec.seq} ${req.method} ${url.pathname} ${rawBody.slice(0, 200)}`);
        try {
            await route(req, res, url, rec);
        } catch (e) {
            console.error('[anthropic-mock] handler failed:', e);
            if (!res.headersSent) sendJson(res, 500, errorBody('api_error', `mock internal error: ${e.message}`, rec.seq));
            else res.destroy();
        }
    });
    server.keepAliveTimeout = 60_000;
    server.headersTimeout = 65_000;
    server.requestTimeout = 0;
    return { server, records, stats };
}

function parseArgs(argv) {
    const opts = { port: 0, requireKey: null, verbose: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            return argv[++i];
        };
        if (a === '--port') opts.port = Number(value());
        else if (a === '--require-key') opts.requireKey = value();
        else if (a === '--verbose') opts.verbose = true;
        else throw new Error(`unknown argument ${a}`);
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('bad --port');
    return opts;
}

function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2));
    } catch (e) {
        console.error(`anthropic-mock: ${e.message}\nusage: anthropic-mock.mjs --port N [--require-key KEY] [--verbose]`);
        process.exit(2);
    }
    const { server } = createMock(opts);
    server.on('error', (e) => {
        console.error(`anthropic-mock: ${e.message}`);
        process.exit(1);
    });
    server.listen(opts.port, '127.0.0.1', () => {
        process.stdout.write(`LISTENING ${server.address().port}\n`);
    });
    const stop = () => {
        server.close();
        server.closeAllConnections();
        setTimeout(() => process.exit(0), 50).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
