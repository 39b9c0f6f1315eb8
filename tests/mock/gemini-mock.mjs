#!/usr/bin/env node
/*
 * gemini-mock: a mock of Google's Gemini API (generativelanguage.googleapis.com) for Gantry's
 * integration tests.
 *
 *   node tests/mock/gemini-mock.mjs --port 0 [--require-key KEY] [--verbose]
 *
 * Prints exactly one line, `LISTENING <port>`, on stdout once bound to 127.0.0.1; everything else goes
 * to stderr.  Only Node's own modules are used.
 *
 * It speaks the wire format of the real API for the routes the gateway uses:
 *   POST /v1beta/models/<model>:generateContent             one GenerateContentResponse (JSON)
 *   POST /v1beta/models/<model>:streamGenerateContent?alt=sse
 *        text/event-stream: every event is `data: <GenerateContentResponse>` followed by \r\n\r\n, as
 *        Google sends it; each event repeats usageMetadata, the last one also has finishReason and
 *        the output token counts.  There is no [DONE] sentinel: the stream ends with the response.
 * Errors use Google's body {"error": {"code", "message", "status"[, "details"]}}.  With
 * --require-key, a request without x-goog-api-key is refused with 403 PERMISSION_DENIED and a wrong
 * key with 400 INVALID_ARGUMENT "API key not valid" (reason API_KEY_INVALID), as Google does; a key in
 * the URL (?key=...) is refused too, since the gateway must never put it there.
 *
 * Faults are chosen by the request itself: the text of the last user turn may contain directives
 *   [[status:N]]     answer N with Google's error body for it (429 carries RetryInfo "1s")
 *   [[context]]      400 INVALID_ARGUMENT "The input token count (...) exceeds the maximum ..."
 *   [[tool_call]]    the answer is one function call (TOOL_CALL below) with a thought signature
 *   [[thinking]]     the answer starts with a thought part (THOUGHT) and reports thoughtsTokenCount
 *   [[safety]]       the candidate stops with finishReason SAFETY (after the first chunk in streams)
 *   [[blocked]]      the prompt is blocked: promptFeedback.blockReason SAFETY and no candidates
 *   [[cut:N]]        stream N content events, then destroy the socket (non-streaming: half the body)
 *   [[chunks:N]]     answer in N content pieces (default 3: "Hello", " from", " mock")
 *   [[delay:MS]]     wait before answering
 *   [[echo]]         the answer text is JSON.stringify(<request body as received>)
 *   [[stream_error]] stream one content event, then an event {"error": {...}} (500 INTERNAL)
 * generationConfig.candidateCount N answers N candidates (index 0..N-1) with the same text.
 *
 * Introspection (never behind --require-key, never recorded):
 *   GET  /__mock/requests[?contains=TEXT]  recorded requests, oldest first:
 *        {seq, method, path, query, headers, body, rawBody (only when not JSON), receivedAt}
 *   GET  /__mock/stats                     {requests, completed, closedEarly, cut}
 *   POST /__mock/reset                     forget the records and zero the stats
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';

export const PROMPT_TOKENS = 10;
export const THOUGHT_TOKENS = 7;
export const DEFAULT_CHUNKS = 3;
export const MODEL_VERSION_SUFFIX = '-001';
export const THOUGHT = 'Let me think about this carefully.';
export const SIGNATURE = 'c2lnbmF0dXJlLW1vY2stMQ==';
/* The function call answered to [[tool_call]]. */
export const TOOL_CALL = { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } };

const WORDS = ['Hello', 'from', 'mock'];

/* The content pieces of an n-piece answer: n = 3 is "Hello", " from", " mock". */
export function mockPieces(n = DEFAULT_CHUNKS) {
    if (n <= 0) return [];
    const tokens = [];
    for (let i = 0; i < Math.max(n, WORDS.length); i++) tokens.push((i ? ' ' : '') + WORDS[i % WORDS.length]);
    const out = [];
    let at = 0;
    for (let g = 0; g < n; g++) {
        const size = Math.floor(tokens.length / n) + (g < tokens.length % n ? 1 : 0);
        out.push(tokens.slice(at, at + size).join(''));
        at += size;
    }
    return out;
}

export function mockContent(n = DEFAULT_CHUNKS) {
    return mockPieces(n).join('');
}

export function googleError(code, status, message, details) {
    return { error: { code, message, status, ...(details ? { details } : {}) } };
}

export const CONTEXT_MESSAGE = 'The input token count (1234567) exceeds the maximum number of tokens allowed (1048576).';

/* The error body of [[status:N]], worded as Google words them. */
export function statusErrorBody(status) {
    switch (status) {
    case 400:
        return googleError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    case 401:
        return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    case 403:
        return googleError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    case 404:
        return googleError(404, 'NOT_FOUND', 'models/unknown is not found for API version v1beta, or is not ' +
                           'supported for generateContent.');
    case 429:
        return googleError(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota, please check your ' +
                           'plan and billing details. (mock upstream status 429)', [
            { '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
              violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
                             quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }] },
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1s' },
        ]);
    case 500:
        return googleError(500, 'INTERNAL', 'An internal error has occurred. Please retry or report in ' +
                           'https://developers.generativeai.google/guide/troubleshooting (mock upstream status 500)');
    case 503:
        return googleError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later. ' +
                           '(mock upstream status 503)');
    case 504:
        return googleError(504, 'DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.');
    default:
        return googleError(status, status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT',
                           `Mock upstream error with status ${status}.`);
    }
}

const FLAG_DIRECTIVES = new Set(['context', 'tool_call', 'thinking', 'safety', 'blocked', 'echo', 'stream_error']);
const NUMBER_DIRECTIVES = { status: 'status', cut: 'cut', chunks: 'chunks', delay: 'delay' };

/* Directives of the last user turn's text; throws on a malformed one so a test's typo is loud. */
export function parseDirectives(body) {
    const out = {};
    const contents = Array.isArray(body?.contents) ? body.contents : [];
    const lastUser = [...contents].reverse().find((c) => c && c.role === 'user' &&
        Array.isArray(c.parts) && c.parts.some((p) => typeof p?.text === 'string'));
    if (!lastUser) return out;
    const text = lastUser.parts.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('\n');
    for (const m of text.matchAll(/\[\[([a-z_]+)(?::([^\]]*))?\]\]/g)) {
        const [, name, arg] = m;
        if (FLAG_DIRECTIVES.has(name) && arg === undefined) out[name] = true;
        else if (name in NUMBER_DIRECTIVES && arg !== undefined && /^\d+$/.test(arg)) out[NUMBER_DIRECTIVES[name]] = Number(arg);
        else throw new Error(`mock: bad directive ${m[0]}`);
    }
    return out;
}

const SAFETY_RATINGS = [
    { category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', probability: 'NEGLIGIBLE' },
    { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'NEGLIGIBLE' },
    { category: 'HARM_CATEGORY_HARASSMENT', probability: 'NEGLIGIBLE' },
    { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
];

export function createMock({ requireKey = null, verbose = false } = {}) {
    const records = [];
    const stats = { requests: 0, completed: 0, closedEarly: 0, cut: 0 };
    let seq = 0;
    const log = verbose ? (...a) => console.error('[gemini-mock]', ...a) : () => {};

    function sendJson(res, status, obj, extra = {}) {
        const text = JSON.stringify(obj);
        res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8',
                                'content-length': Buffer.byteLength(text), ...extra });
        res.end(text);
    }

    function wait(res, ms) {
        return new Promise((resolve) => {
            if (res.destroyed) return resolve(false);
            const onClose = () => {
                clearTimeout(timer);
                resolve(false);
            };
            const timer = setTimeout(() => {
                res.off('close', onClose);
                resolve(!res.destroyed);
            }, ms);
            res.once('close', onClose);
        });
    }

    /* Google's answers to a missing or wrong key (a key in the URL is our own rule: never allowed). */
    function checkKey(req, res, url) {
        if (url.searchParams.has('key')) {
            sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', 'mock: the API key must not be sent in the URL.'));
            return false;
        }
        if (!requireKey) return true;
        const key = req.headers['x-goog-api-key'];
        if (key === requireKey) return true;
        if (key === undefined) {
            sendJson(res, 403, googleError(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers " +
                                           '(callers without established identity). Please use API Key or other ' +
                                           'form of API consumer identity to call this API.'));
        } else {
            sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
                { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID',
                  domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
            ]));
        }
        return false;
    }

    function usage(d, outputTokens, final) {
        const u = { promptTokenCount: PROMPT_TOKENS };
        if (final) u.candidatesTokenCount = outputTokens;
        if (d.thinking) u.thoughtsTokenCount = THOUGHT_TOKENS;
        u.totalTokenCount = PROMPT_TOKENS + (final ? outputTokens : 0) + (d.thinking ? THOUGHT_TOKENS : 0);
        u.promptTokensDetails = [{ modality: 'TEXT', tokenCount: PROMPT_TOKENS }];
        return u;
    }

    async function generate(req, res, rec, model, stream) {
        const body = rec.body;
        if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
            return sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'));
        }
        if (!Array.isArray(body.contents) || body.contents.length === 0) {
            return sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: ' +
                                                  'contents is not specified\n'));
        }
        let d;
        try {
            d = parseDirectives(body);
        } catch (e) {
            return sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', e.message));
        }
        if (d.delay && !(await wait(res, d.delay))) return;
        if (d.status) return sendJson(res, d.status, statusErrorBody(d.status));
        if (d.context) return sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', CONTEXT_MESSAGE));

        const version = model + MODEL_VERSION_SUFFIX;
        const responseId = `mockresp${rec.seq}`;
        const n = Math.max(1, Math.min(8, Number(body.generationConfig?.candidateCount) || 1));
        const pieces = d.echo ? [JSON.stringify(body)] : mockPieces(d.chunks ?? DEFAULT_CHUNKS);
        const base = { modelVersion: version, responseId };

        if (d.blocked) {
            const blocked = { promptFeedback: { blockReason: 'SAFETY', safetyRatings: SAFETY_RATINGS },
                              usageMetadata: usage(d, 0, false), ...base };
            if (!stream) return sendJson(res, 200, blocked);
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            res.write(`data: ${JSON.stringify(blocked)}\r\n\r\n`);
            return res.end();
        }

        const callPart = { functionCall: { name: TOOL_CALL.name, args: TOOL_CALL.args }, thoughtSignature: SIGNATURE };
        const thoughtPart = { text: THOUGHT, thought: true };
        const candidates = (parts, finishReason) => Array.from({ length: n }, (_, index) => ({
            content: { parts, role: 'model' },
            ...(finishReason ? { finishReason } : {}),
            ...(finishReason === 'SAFETY' ? { safetyRatings: SAFETY_RATINGS } : {}),
            index,
        }));

        if (!stream) {
            let parts;
            let finish = 'STOP';
            let outTokens = pieces.length;
            if (d.tool_call) {
                parts = [callPart];
                outTokens = 5;
            } else if (d.safety) {
                parts = [];
                finish = 'SAFETY';
                outTokens = 0;
            } else {
                parts = [{ text: pieces.join('') }];
            }
            if (d.thinking) parts = [thoughtPart, ...parts];
            const cands = candidates(parts, finish);
            if (d.safety) for (const c of cands) delete c.content;
            const text = JSON.stringify({ candidates: cands, usageMetadata: usage(d, outTokens, true), ...base });
            res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8',
                                 'content-length': Buffer.byteLength(text) });
            if (d.cut !== undefined) {
                res.write(text.slice(0, Math.floor(text.length / 2)));
                rec.cut = true;
                stats.cut++;
                setTimeout(() => res.destroy(), 20);
                return;
            }
            return res.end(text);
        }

        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const send = (obj) => res.write(`data: ${JSON.stringify(obj)}\r\n\r\n`);
        if (d.thinking) send({ candidates: candidates([thoughtPart]), usageMetadata: usage(d, 0, false), ...base });
        if (d.tool_call) {
            send({ candidates: candidates([callPart], 'STOP'), usageMetadata: usage(d, 5, true), ...base });
            return res.end();
        }
        for (let i = 0; i < pieces.length; i++) {
            if (d.cut !== undefined && i === d.cut) {
                rec.cut = true;
                stats.cut++;
                setTimeout(() => res.destroy(), 20);
                return;
            }
            if (d.stream_error && i === 1) {
                send(googleError(500, 'INTERNAL', 'An internal error has occurred mid-stream. (mock stream_error)'));
                return res.end();
            }
            if (d.safety && i === 1) {
                send({ candidates: candidates([{ text: '' }], 'SAFETY'), usageMetadata: usage(d, 1, true), ...base });
                return res.end();
            }
            const last = i === pieces.length - 1;
            send({ candidates: candidates([{ text: pieces[i] }], last ? 'STOP' : undefined),
                   usageMetadata: usage(d, pieces.length, last), ...base });
            if (i + 1 < pieces.length && !(await wait(res, 5))) return;
        }
        res.end();
    }

    async function route(req, res, url, rec) {
        const m = /^\/v1beta\/models\/([A-Za-z0-9._-]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
        if (!m) {
            return sendJson(res, 404, googleError(404, 'NOT_FOUND', `mock: no route ${req.method} ${url.pathname}`));
        }
        if (req.method !== 'POST') {
            return sendJson(res, 405, googleError(405, 'INVALID_ARGUMENT', 'mock: POST only'));
        }
        if (!checkKey(req, res, url)) return;
        const stream = m[2] === 'streamGenerateContent';
        if (stream && url.searchParams.get('alt') !== 'sse') {
            return sendJson(res, 400, googleError(400, 'INVALID_ARGUMENT', 'mock: streams are served as SSE only (alt=sse)'));
        }
        return generate(req, res, rec, m[1], stream);
    }

    function introspect(req, res, url) {
        if (url.pathname === '/__mock/requests' && req.method === 'GET') {
            const contains = url.searchParams.get('contains');
            const list = records.filter((r) => contains === null || r.rawBody.includes(contains));
            return sendJson(res, 200, list.map(({ rawBody, ...rest }) => (rest.body === undefined
                ? { ...rest, body: null, rawBody } : rest)));
        }
        if (url.pathname === '/__mock/stats' && req.method === 'GET') return sendJson(res, 200, stats);
        if (url.pathname === '/__mock/reset' && req.method === 'POST') {
            records.length = 0;
            for (const k of Object.keys(stats)) stats[k] = 0;
            return sendJson(res, 200, { ok: true });
        }
        return sendJson(res, 404, googleError(404, 'NOT_FOUND', `mock: no route ${url.pathname}`));
    }

    const server = http.createServer({ noDelay: true }, async (req, res) => {
        const url = new URL(req.url, 'http://127.0.0.1');
        if (url.pathname.startsWith('/__mock/')) {
            req.resume();
            return introspect(req, res, url);
        }
        const rec = { seq: ++seq, method: req.method, path: url.pathname, query: url.search, headers: req.headers,
                      body: undefined, rawBody: '', receivedAt: Date.now(), cut: false };
        stats.requests++;
        res.on('close', () => {
            if (res.writableFinished) stats.completed++;
            else if (!rec.cut) stats.closedEarly++;
        });
        try {
            const parts = [];
            for await (const c of req) parts.push(c);
            rec.rawBody = Buffer.concat(parts).toString('utf8');
        } catch {
            /* the client went away while sending */
        }
        try {
            rec.body = JSON.parse(rec.rawBody);
        } catch {
            rec.body = undefined;
        }
        records.push(rec);
        log(`#${rec.seq} ${rec.method} ${rec.path}${rec.query} ${rec.rawBody.slice(0, 200)}`);
        try {
            await route(req, res, url, rec);
        } catch (e) {
            console.error('[gemini-mock] handler failed:', e);
            if (!res.headersSent) sendJson(res, 500, googleError(500, 'INTERNAL', `mock internal error: ${e.message}`));
            else res.destroy();
        }
    });
    server.keepAliveTimeout = 60_000;
    server.headersTimeout = 65_000;
    server.requestTimeout = 0;
    return { server, records, stats };
}

function main() {
    const opts = { port: 0, requireKey: null, verbose: false };
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--port') opts.port = Number(argv[++i]);
        else if (argv[i] === '--require-key') opts.requireKey = argv[++i];
        else if (argv[i] === '--verbose') opts.verbose = true;
        else {
            console.error(`gemini-mock: unknown argument ${argv[i]}\n` +
                          'usage: gemini-mock.mjs --port N [--require-key KEY] [--verbose]');
            process.exit(2);
        }
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
        console.error('gemini-mock: bad --port');
        process.exit(2);
    }
    const { server } = createMock(opts);
    server.on('error', (e) => {
        console.error(`gemini-mock: ${e.message}`);
        process.exit(1);
    });
    server.listen(opts.port, '127.0.0.1', () => process.stdout.write(`LISTENING ${server.address().port}\n`));
    const stop = () => {
        server.close();
        server.closeAllConnections();
        setTimeout(() => process.exit(0), 50).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
