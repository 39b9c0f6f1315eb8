#!/usr/bin/env node
/*
 * openai-mock: a mock OpenAI-compatible upstream for Gantry's integration tests.
 *
 *   node tests/mock/openai-mock.mjs --port 0 [--require-key sk-upstream] [--verbose]
 *
 * Prints exactly one line, `LISTENING <port>`, on stdout once bound to 127.0.0.1; everything else goes
 * to stderr.  Only Node's own modules are used, so the mock runs before `npm ci`.
 *
 * It speaks the real wire format of api.openai.com for the routes the gateway uses:
 *   POST /v1/chat/completions   chat.completion JSON, or text/event-stream chunks ending in [DONE]
 *   POST /v1/embeddings         {"object":"list","data":[{"embedding"}],"usage"}: mockEmbedding()
 *                               vectors (8 dimensions unless "dimensions" says), as float lists or,
 *                               with "encoding_format":"base64", little-endian float32 in base64
 *   POST /v1/completions        text_completion JSON, or text/event-stream text_completion events
 *                               (text = the chat content pieces; a final event with finish_reason,
 *                               a usage event when stream_options.include_usage)
 *   GET  /v1/models             {"object":"list","data":[...]}
 *   GET  /v1/models/<id>
 * Errors use OpenAI's body shape {"error":{"message","type","param","code"}}.
 *
 * And Azure OpenAI's (the same answers, with Azure's additions: prompt_filter_results, per-choice
 * content_filter_results, and a stream that opens with a prompt-filter-only event):
 *   POST /openai/deployments/<dep>/chat/completions?api-version=V   (and /embeddings, /completions)
 *   POST /openai/v1/chat/completions (and /embeddings, /completions), model in the body
 * These take the key as `api-key: KEY` (or an Entra token as `Authorization: Bearer KEY`), refuse a
 * deployments path without api-version (400), and record {deployment, apiVersion, auth} as
 * `azure` in the request record.  Extra directives for them (and for any chat):
 *   [[content_filter]]  400 with Azure's content-filter error body (AZURE_CONTENT_FILTER_ERROR)
 *   [[filter_finish]]   the answer ends with finish_reason "content_filter"
 *   [[leak_key]]        401 whose message quotes the api-key / bearer token it received, to check
 *                       that the gateway scrubs it
 * Embeddings and completions read [[status:N]], [[delay:MS]], [[chunks:N]] and [[echo]] from
 * their input / prompt text.
 *
 * Faults are chosen by the request itself, so tests that run in parallel against one mock cannot
 * disturb each other (except per-model behaviours, below, which a test keys by its own model ids).
 * The last user message may contain directives:
 *   [[delay:MS]]        wait MS before answering (before the headers of a stream, too)
 *   [[status:N]]        answer status N with an OpenAI error body (429 also sends retry-after: 1)
 *   [[chunks:N]]        answer with N content chunks (default 3: "Hello", " from", " mock")
 *   [[chunk_delay:MS]]  wait MS before each streamed content chunk
 *   [[cut:N]]           stream N content chunks after the role chunk, then destroy the socket
 *                       (non-streaming: send half of the JSON body, then destroy the socket)
 *   [[stall:N]]         stream N content chunks, then keep the socket open and send nothing more
 *   [[chunk_bytes:N]]   every content chunk is N bytes of "x" (large, fast streams for backpressure)
 *   [[hang]]            never answer
 *   [[badjson]]         200 with a malformed JSON body (streaming: one malformed data: event)
 *   [[context]]         400 context_length_exceeded, exactly as OpenAI sends it
 *   [[echo]]            the reply content is JSON.stringify(<request body as received>)
 *   [[tool_call]]       the reply is one function call (TOOL_CALL below), finish_reason "tool_calls";
 *                       streamed the way OpenAI does it: id and name first, then argument fragments
 *
 * Content is deterministic: mockContent(n) below, so tests import it instead of hard-coding text.
 * usage: prompt_tokens 10, completion_tokens = number of content chunks.
 *
 * Per-model behaviours (the one piece of shared state, for routing and resilience tests): faults
 * keyed by the "model" of the request body, i.e. the upstream model id the gateway sends (a
 * deployment `model: openai/dep-a` arrives as "dep-a"), changeable while traffic flows:
 *   POST   /__mock/behave   {model, ...fields} (or an array of them) replaces that model's behaviour
 *   DELETE /__mock/behave[?model=X]   forget one model's behaviour, or all of them
 * Fields (all optional; unknown fields are a 400, so a typo is loud):
 *   status              answer this status with the OpenAI error body of [[status:N]] (no retry-after
 *                       unless asked for below)
 *   retry_after         retry-after: <seconds> on error answers
 *   retry_after_ms      retry-after-ms: <ms> on error answers
 *   latency_ms          wait before answering (before a stream's headers too)
 *   latency_jitter_ms   plus a uniform extra wait in [0, jitter] (seeded: deterministic)
 *   chunks              content chunks of a normal answer (like [[chunks:N]])
 *   chunk_delay_ms      wait before each streamed content chunk (like [[chunk_delay:MS]])
 *   context_error       400 context_length_exceeded (CONTEXT_ERROR)
 *   content_policy_error 400 content_policy_violation (CONTENT_POLICY_ERROR)
 *   cut_after_chunks    like [[cut:N]]: N content chunks, then the socket is destroyed (non-streaming:
 *                       half of the JSON body, then destroyed)
 *   stall_after_chunks  like [[stall:N]]: N content chunks, then silence with the socket open
 *                       (non-streaming: headers and half of the body, then silence)
 *   refuse              read the request, then reset the connection without answering a byte
 *   hang                never answer
 *   fail_rate           0..1: the faults above (status, context_error, content_policy_error, cut, stall,
 *                       refuse, hang; 500 when none is given) hit only this share of requests, drawn
 *                       from a generator seeded with `seed` (default 1), so a run is reproducible
 *   seed                see fail_rate
 *   count               the behaviour applies to the next `count` requests of the model, then is dropped
 * Prompt directives still apply on top (a behaviour's fault wins over them).
 *
 * Introspection (never behind --require-key, never recorded):
 *   GET  /__mock/requests[?contains=TEXT][&path=/v1/...]   recorded requests, oldest first
 *   GET  /__mock/stats      {"requests","completed","closedEarly","cut","inFlight","models":{name: per-model}}
 *   GET  /__mock/stats?model=X   per-model: {"model","requests","inFlight","maxInFlight","byStatus",
 *                           "times","cut","refused"}; byStatus counts answers by status ("200", "429")
 *                           plus "refused" (reset by `refuse`) and "closed" (the client went away
 *                           before any answer, e.g. a gateway timeout on `hang`); times are the
 *                           Date.now() arrival times of the model's requests, oldest first
 *   POST /__mock/reset      forget recorded requests and zero the stats (behaviours stay)
 * A request is "closedEarly" when its connection closed before the mock finished the response and
 * the mock did not close it itself ([[cut]]): that is how tests see the gateway cancel upstream work.
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';

export const PROMPT_TOKENS = 10;
export const DEFAULT_CHUNKS = 3;
/* Fixed so two answers to the same request are byte-identical. */
export const CREATED = 1700000000;
export const MODELS = ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'];

const WORDS = ['Hello', 'from', 'mock'];

/*
 * The content pieces of an answer of n chunks.  n = 3 is "Hello", " from", " mock"; fewer chunks
 * group those words ("Hello from", " mock"); more chunks keep cycling the words one per chunk.
 */
export function mockPieces(n = DEFAULT_CHUNKS) {
    if (n <= 0) return [];
    const tokens = [];
    for (let i = 0; i < Math.max(n, WORDS.length); i++) tokens.push((i ? ' ' : '') + WORDS[i % WORDS.length]);
    return groupInto(tokens, n);
}

export function mockContent(n = DEFAULT_CHUNKS) {
    return mockPieces(n).join('');
}

/* What a client has seen after the first k content chunks of an n-chunk answer (e.g. before a [[cut:k]]). */
export function mockPrefix(k, n = DEFAULT_CHUNKS) {
    return mockPieces(n).slice(0, k).join('');
}

/* Splits text into at most n non-empty pieces of nearly equal length (for [[echo]]). */
export function splitText(text, n) {
    const chars = Array.from(text);
    return groupInto(chars, Math.max(1, Math.min(n, chars.length)));
}

function groupInto(items, n) {
    const out = [];
    let at = 0;
    for (let g = 0; g < n; g++) {
        const size = Math.floor(items.length / n) + (g < items.length % n ? 1 : 0);
        out.push(items.slice(at, at + size).join(''));
        at += size;
    }
    return out;
}

export function usageFor(completionTokens) {
    return {
        prompt_tokens: PROMPT_TOKENS,
        completion_tokens: completionTokens,
        total_tokens: PROMPT_TOKENS + completionTokens,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
        },
    };
}

function errorBody(message, type, param = null, code = null) {
    return { error: { message, type, param, code } };
}

/* The function call answered to [[tool_call]]. */
export const TOOL_CALL = {
    id: 'call_mock_1',
    type: 'function',
    function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
};

/* The body OpenAI sends when the prompt is too long; tests compare against it. */
export const CONTEXT_ERROR = errorBody(
    "This model's maximum context length is 128000 tokens. However, your messages resulted in " +
        '130000 tokens. Please reduce the length of the messages.',
    'invalid_request_error',
    'messages',
    'context_length_exceeded'
);

/* What OpenAI answers when its safety system rejects a prompt. */
export const CONTENT_POLICY_ERROR = errorBody(
    'Your request was rejected as a result of our safety system. Your prompt may contain text that ' +
        'is not allowed by our safety system.',
    'invalid_request_error',
    null,
    'content_policy_violation'
);

/* What Azure OpenAI answers (400) when its content filter rejects a prompt. */
export const AZURE_CONTENT_FILTER_ERROR = {
    error: {
        message: "The response was filtered due to the prompt triggering Azure OpenAI's content management " +
            'policy. Please modify your prompt and retry.',
        type: null,
        param: 'prompt',
        code: 'content_filter',
        status: 400,
        innererror: {
            code: 'ResponsibleAIPolicyViolation',
            content_filter_result: {
                hate: { filtered: true, severity: 'high' },
                jailbreak: { filtered: false, detected: false },
                self_harm: { filtered: false, severity: 'safe' },
                sexual: { filtered: false, severity: 'safe' },
                violence: { filtered: false, severity: 'safe' },
            },
        },
    },
};

const AZURE_FILTER_RESULTS = {
    hate: { filtered: false, severity: 'safe' },
    self_harm: { filtered: false, severity: 'safe' },
    sexual: { filtered: false, severity: 'safe' },
    violence: { filtered: false, severity: 'safe' },
};

export const EMBEDDING_DIMENSIONS = 8;

/*
 * The embedding the mock gives `text` (a string, or an array of token ids): `dims` numbers in
 * [-0.5, 0.5) from an FNV-1a hash, exactly representable as float32 so that base64 and float
 * answers decode to the same values.
 */
export function mockEmbedding(text, dims = EMBEDDING_DIMENSIONS) {
    const s = typeof text === 'string' ? text : JSON.stringify(text);
    let h = 0x811c9dc5;
    for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    const out = [];
    for (let j = 0; j < dims; j++) {
        h = Math.imul(h ^ (j + 1), 0x01000193) >>> 0;
        out.push(((h >>> 16) - 32768) / 65536);
    }
    return out;
}

/* Tokens the mock counts for an embeddings input item: words of a string, ids of a token list. */
function tokenCount(item) {
    if (Array.isArray(item)) return item.length;
    return Math.max(1, String(item).split(/\s+/).filter(Boolean).length);
}

/* The error body sent for [[status:N]]; messages are distinctive so tests can find them wrapped. */
export function statusErrorBody(status, model = 'gpt-4o-mini') {
    switch (status) {
    case 400:
        return errorBody('Mock upstream rejected the request (status 400).', 'invalid_request_error');
    case 401:
        return errorBody('Incorrect API key provided: sk-mo****ock.', 'invalid_request_error', null,
                         'invalid_api_key');
    case 403:
        return errorBody('Mock upstream: you are not allowed to sample from this model.',
                         'invalid_request_error', null, 'model_not_allowed');
    case 404:
        return errorBody(`The model \`${model}\` does not exist or you do not have access to it.`,
                         'invalid_request_error', null, 'model_not_found');
    case 429:
        return errorBody(`Rate limit reached for ${model} in organization org-mock on requests per ` +
                             'min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s.',
                         'requests', 'requests', 'rate_limit_exceeded');
    case 500:
        return errorBody('The server had an error while processing your request. Sorry about that! ' +
                             '(mock upstream status 500)', 'server_error');
    case 502:
        return errorBody('Bad gateway (mock upstream status 502).', 'server_error');
    case 503:
        return errorBody('The engine is currently overloaded, please try again later. ' +
                             '(mock upstream status 503)', 'server_error');
    default:
        return errorBody(`Mock upstream error with status ${status}.`,
                         status >= 500 ? 'server_error' : 'invalid_request_error');
    }
}

const FLAG_DIRECTIVES = new Set(['hang', 'badjson', 'context', 'echo', 'tool_call', 'content_filter', 'filter_finish',
                                 'leak_key']);
const NUMBER_DIRECTIVES = { delay: 'delay', status: 'status', chunks: 'chunks', chunk_delay: 'chunkDelay',
                            cut: 'cut', stall: 'stall', chunk_bytes: 'chunkBytes' };

function messageText(content) {
    if (typeof content === 'string') return content;
    if (Array.isArray(content)) {
        return content.map((p) => (p && typeof p.text === 'string' ? p.text : '')).join('\n');
    }
    return '';
}

/* Directives of the last user message; throws on a malformed one so a test's typo is loud. */
export function parseDirectives(body) {
    const messages = Array.isArray(body?.messages) ? body.messages : [];
    const lastUser = [...messages].reverse().find((m) => m && m.role === 'user');
    if (!lastUser) return {};
    return parseDirectiveText(messageText(lastUser.content));
}

/* The strings of an embeddings input or a completion prompt (token ids carry no directives). */
function inputText(v) {
    if (typeof v === 'string') return v;
    if (Array.isArray(v)) return v.filter((x) => typeof x === 'string').join('\n');
    return '';
}

export function parseDirectiveText(text) {
    const out = {};
    for (const m of text.matchAll(/\[\[([a-z_]+)(?::([^\]]*))?\]\]/g)) {
        const [, name, arg] = m;
        if (FLAG_DIRECTIVES.has(name) && arg === undefined) {
            out[name] = true;
        } else if (name in NUMBER_DIRECTIVES && arg !== undefined && /^\d+$/.test(arg)) {
            out[NUMBER_DIRECTIVES[name]] = Number(arg);
        } else {
            throw new Error(`mock: bad directive ${m[0]}`);
        }
    }
    return out;
}

const BEHAVIOUR_FIELDS = {
    model: 'string', status: 'int', retry_after: 'number', retry_after_ms: 'int', latency_ms: 'int',
    latency_jitter_ms: 'int', chunks: 'int', chunk_delay_ms: 'int', context_error: 'bool',
    content_policy_error: 'bool', cut_after_chunks: 'int', stall_after_chunks: 'int', refuse: 'bool',
    hang: 'bool', fail_rate: 'number', seed: 'int', count: 'int',
};
const FAULT_FIELDS = ['status', 'context_error', 'content_policy_error', 'cut_after_chunks', 'stall_after_chunks',
                      'refuse', 'hang'];

/* Checks one behaviour object; returns an error message or null. */
export function checkBehaviour(b) {
    if (b === null || typeof b !== 'object' || Array.isArray(b)) return 'a behaviour is a JSON object';
    if (typeof b.model !== 'string' || b.model === '') return 'a behaviour needs "model"';
    for (const [k, v] of Object.entries(b)) {
        const t = BEHAVIOUR_FIELDS[k];
        if (!t) return `unknown behaviour field "${k}"`;
        const ok = t === 'string' ? typeof v === 'string'
            : t === 'bool' ? typeof v === 'boolean'
                : t === 'int' ? Number.isInteger(v) && v >= 0
                    : typeof v === 'number' && Number.isFinite(v) && v >= 0;
        if (!ok) return `behaviour field "${k}" must be ${t === 'int' ? 'a non-negative integer' : `a ${t}`}`;
    }
    if (b.status !== undefined && (b.status < 100 || b.status > 599)) return 'status must be 100..599';
    if (b.fail_rate !== undefined && b.fail_rate > 1) return 'fail_rate must be within 0..1';
    return null;
}

/* mulberry32: a small seeded generator, so fail_rate and jitter are reproducible. */
function seededRandom(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6D2B79F5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

export function createMock({ requireKey = null, verbose = false } = {}) {
    const records = [];
    const stats = { requests: 0, completed: 0, closedEarly: 0, cut: 0, inFlight: 0 };
    /* model -> {spec, rng, left}; model -> per-model stats */
    const behaviours = new Map();
    const modelStats = new Map();
    let seq = 0;
    const log = verbose ? (...a) => console.error('[mock]', ...a) : () => {};

    function sendJson(res, status, obj, extra = {}) {
        const text = JSON.stringify(obj);
        res.writeHead(status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
            ...extra,
        });
        res.end(text);
    }

    /* Resolves true after ms, or false as soon as the connection closes. */
    function pause(res, ms) {
        return new Promise((resolve) => {
            if (res.destroyed || res.writableEnded) return resolve(false);
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

    function checkKey(req, res) {
        if (!requireKey) return true;
        const auth = req.headers.authorization;
        if (auth === `Bearer ${requireKey}`) return true;
        if (!auth) {
            sendJson(res, 401, errorBody("You didn't provide an API key. You need to provide your API key " +
                                             'in an Authorization header using Bearer auth (i.e. ' +
                                             'Authorization: Bearer YOUR_KEY).', 'invalid_request_error'));
        } else {
            const given = auth.replace(/^Bearer\s+/i, '');
            const masked = given.length > 8 ? `${given.slice(0, 3)}****${given.slice(-4)}` : '****';
            sendJson(res, 401, errorBody(`Incorrect API key provided: ${masked}. You can find your API key ` +
                                             'at https://platform.openai.com/account/api-keys.',
                                         'invalid_request_error', null, 'invalid_api_key'));
        }
        return false;
    }

    function statsOf(model) {
        let m = modelStats.get(model);
        if (!m) {
            m = { model, requests: 0, inFlight: 0, maxInFlight: 0, byStatus: {}, times: [], cut: 0, refused: 0 };
            modelStats.set(model, m);
        }
        return m;
    }

    /* Counts a chat request of `model` now, and its outcome when its response closes. */
    function countModel(model, rec, res) {
        const m = statsOf(model);
        m.requests++;
        m.inFlight++;
        if (m.inFlight > m.maxInFlight) m.maxInFlight = m.inFlight;
        m.times.push(rec.receivedAt);
        res.once('close', () => {
            /* A reset after the stats were zeroed must not make them negative. */
            if (modelStats.get(model) !== m) return;
            m.inFlight--;
            const key = rec.refused ? 'refused' : res.headersSent ? String(res.statusCode) : 'closed';
            m.byStatus[key] = (m.byStatus[key] ?? 0) + 1;
            if (rec.cut) m.cut++;
            if (rec.refused) m.refused++;
        });
    }

    /*
     * The behaviour for this request of `model`: null, or {spec, fault} where fault says whether the
     * fail_rate draw (if any) chose the faults.  Consumes one use of a `count`.
     */
    function takeBehaviour(model) {
        const b = behaviours.get(model);
        if (!b) return null;
        if (b.left !== undefined) {
            if (b.left <= 0) {
                behaviours.delete(model);
                return null;
            }
            if (--b.left === 0) behaviours.delete(model);
        }
        const fault = b.spec.fail_rate === undefined ? true : b.rng() < b.spec.fail_rate;
        const jitter = b.spec.latency_jitter_ms ? Math.floor(b.rng() * (b.spec.latency_jitter_ms + 1)) : 0;
        return { spec: b.spec, fault, wait: (b.spec.latency_ms ?? 0) + jitter };
    }

    /* opts.azure: answer as Azure does; opts.model: the Azure deployment of the path. */
    async function chatCompletions(req, res, rec, opts = {}) {
        const body = rec.body;
        if (body === undefined) {
            return sendJson(res, 400, errorBody('We could not parse the JSON body of your request. (HINT: This ' +
                                                    'likely means you aren\'t using your HTTP library correctly.)',
                                                'invalid_request_error'));
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
            return sendJson(res, 400, errorBody('Invalid type for request body: expected an object.',
                                                'invalid_request_error'));
        }
        if ((typeof body.model !== 'string' || body.model === '') && !opts.model) {
            return sendJson(res, 400, errorBody('you must provide a model parameter', 'invalid_request_error'));
        }
        if (!Array.isArray(body.messages)) {
            return sendJson(res, 400, errorBody("Missing required parameter: 'messages'.", 'invalid_request_error',
                                                'messages', 'missing_required_parameter'));
        }
        let d;
        try {
            d = parseDirectives(body);
        } catch (e) {
            return sendJson(res, 400, errorBody(e.message, 'invalid_request_error'));
        }
        const model = opts.model ?? body.model;
        const reqId = `req_mock_${rec.seq}`;
        const common = { 'x-request-id': reqId, 'openai-processing-ms': '1', 'openai-version': '2020-10-01' };
        countModel(model, rec, res);

        const b = takeBehaviour(model);
        if (b) {
            const s = b.spec;
            if (b.wait && !(await pause(res, b.wait))) return;
            if (s.chunks !== undefined && d.chunks === undefined) d.chunks = s.chunks;
            if (s.chunk_delay_ms !== undefined && d.chunkDelay === undefined) d.chunkDelay = s.chunk_delay_ms;
            const hasFault = FAULT_FIELDS.some((k) => s[k] !== undefined && s[k] !== false);
            if (b.fault && (hasFault || s.fail_rate !== undefined)) {
                if (s.refuse) {
                    rec.refused = true;
                    const sock = req.socket;
                    if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
                    else sock.destroy();
                    return;
                }
                if (s.hang) return;
                const extra = { ...common };
                if (s.retry_after !== undefined) extra['retry-after'] = String(s.retry_after);
                if (s.retry_after_ms !== undefined) extra['retry-after-ms'] = String(s.retry_after_ms);
                if (s.context_error) return sendJson(res, 400, CONTEXT_ERROR, extra);
                if (s.content_policy_error) return sendJson(res, 400, CONTENT_POLICY_ERROR, extra);
                if (s.status !== undefined) return sendJson(res, s.status, statusErrorBody(s.status, model), extra);
                if (s.cut_after_chunks !== undefined) d.cut = s.cut_after_chunks;
                else if (s.stall_after_chunks !== undefined) {
                    d.stall = s.stall_after_chunks;
                    d.bodyStall = true;
                } else if (!hasFault) return sendJson(res, 500, statusErrorBody(500, model), extra);
            }
        }

        if (d.delay && !(await pause(res, d.delay))) return;
        if (d.hang) return; /* the socket stays open until the client gives up */
        if (d.status) {
            const extra = d.status === 429 ? { 'retry-after': '1', ...common } : common;
            return sendJson(res, d.status, statusErrorBody(d.status, model), extra);
        }
        if (d.context) return sendJson(res, 400, CONTEXT_ERROR, common);
        if (d.content_filter) return sendJson(res, 400, AZURE_CONTENT_FILTER_ERROR, common);
        if (d.leak_key) return leakKey(req, res);
        const finish = d.tool_call ? 'tool_calls' : d.filter_finish ? 'content_filter' : 'stop';

        let pieces;
        if (d.tool_call) {
            /* The argument JSON arrives in fragments; DEFAULT_CHUNKS + 1 of them unless [[chunks]] says. */
            pieces = splitText(TOOL_CALL.function.arguments, d.chunks === undefined ? DEFAULT_CHUNKS + 1 : d.chunks);
        } else if (d.echo) {
            const text = JSON.stringify(body);
            pieces = d.chunks === undefined ? [text] : splitText(text, d.chunks);
        } else if (d.chunkBytes) {
            pieces = Array.from({ length: d.chunks === undefined ? DEFAULT_CHUNKS : d.chunks },
                                () => 'x'.repeat(d.chunkBytes));
        } else {
            pieces = mockPieces(d.chunks === undefined ? DEFAULT_CHUNKS : d.chunks);
        }
        const id = `chatcmpl-mock-${rec.seq}`;

        if (body.stream !== true) {
            if (d.badjson) {
                const text = `{"id":"${id}","object":"chat.completion","choices":[{"index":0,"message":{"role":`;
                res.writeHead(200, { 'content-type': 'application/json', 'content-length': text.length, ...common });
                return res.end(text);
            }
            const text = JSON.stringify({
                id,
                object: 'chat.completion',
                created: CREATED,
                model,
                choices: [{
                    index: 0,
                    message: d.tool_call
                        ? { role: 'assistant', content: null, tool_calls: [TOOL_CALL], refusal: null, annotations: [] }
                        : { role: 'assistant', content: pieces.join(''), refusal: null, annotations: [] },
                    logprobs: null,
                    finish_reason: finish,
                    ...(opts.azure ? { content_filter_results: AZURE_FILTER_RESULTS } : {}),
                }],
                usage: usageFor(pieces.length),
                service_tier: 'default',
                system_fingerprint: 'fp_mock',
                ...(opts.azure ? { prompt_filter_results: [{ prompt_index: 0,
                                                            content_filter_results: AZURE_FILTER_RESULTS }] } : {}),
            });
            if (d.bodyStall) {
                /* Promise the whole body, deliver half, then say nothing more. */
                res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text),
                                     ...common });
                res.write(text.slice(0, Math.floor(text.length / 2)));
                return;
            }
            if (d.cut !== undefined) {
                /* Promise the whole body, deliver half, then drop the connection. */
                res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text),
                                     ...common });
                res.write(text.slice(0, Math.floor(text.length / 2)));
                rec.cut = true;
                stats.cut++;
                setTimeout(() => res.destroy(), 20);
                return;
            }
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text),
                                 ...common });
            return res.end(text);
        }

        const includeUsage = body.stream_options?.include_usage === true;
        const base = { id, object: 'chat.completion.chunk', created: CREATED, model, service_tier: 'default',
                       system_fingerprint: 'fp_mock' };
        const chunk = (delta, finish) => ({
            ...base,
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
            ...(includeUsage ? { usage: null } : {}),
        });
        const send = (obj) => res.write(`data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`);

        res.writeHead(200, {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache',
            connection: 'keep-alive',
            ...common,
        });
        if (opts.azure) {
            /* Azure opens with an event that only reports the prompt filter's verdict. */
            send({ choices: [], created: 0, id: '', model: '', object: '',
                   prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER_RESULTS }] });
        }
        if (d.tool_call) {
            send(chunk({
                role: 'assistant',
                content: null,
                tool_calls: [{ index: 0, id: TOOL_CALL.id, type: 'function',
                               function: { name: TOOL_CALL.function.name, arguments: '' } }],
                refusal: null,
            }, null));
        } else {
            send(chunk({ role: 'assistant', content: '', refusal: null }, null));
        }
        if (d.badjson) {
            send('{"id":"' + id + '","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":');
            send('[DONE]');
            return res.end();
        }
        for (let i = 0; i < pieces.length; i++) {
            if (d.cut !== undefined && i === d.cut) break;
            if (d.stall !== undefined && i === d.stall) return; /* keep the socket, say nothing */
            if (d.chunkDelay && !(await pause(res, d.chunkDelay))) return;
            send(chunk(d.tool_call ? { tool_calls: [{ index: 0, function: { arguments: pieces[i] } }] }
                                   : { content: pieces[i] }, null));
        }
        if (d.cut !== undefined && d.cut < pieces.length) {
            rec.cut = true;
            stats.cut++;
            /* Let the kernel deliver what was written, then drop the connection mid-stream. */
            setTimeout(() => res.destroy(), 20);
            return;
        }
        if (d.stall !== undefined && d.stall >= pieces.length) return;
        send(chunk({}, finish));
        if (includeUsage) send({ ...base, choices: [], usage: usageFor(pieces.length) });
        send('[DONE]');
        res.end();
    }

    /* 401 quoting the credential it was sent ([[leak_key]]): the gateway must not pass it on. */
    function leakKey(req, res) {
        const given = req.headers['api-key'] ?? (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
        return sendJson(res, 401, { error: { code: '401', message: `Access denied due to invalid subscription key ` +
                                                 `${given}. Make sure to provide a valid key.` } });
    }

    /* Checks the request body of a non-chat route; answers 400 and returns null when it is bad. */
    function objectBody(res, rec, opts, required) {
        const body = rec.body;
        if (body === undefined) {
            sendJson(res, 400, errorBody('We could not parse the JSON body of your request.', 'invalid_request_error'));
            return null;
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
            sendJson(res, 400, errorBody('Invalid type for request body: expected an object.', 'invalid_request_error'));
            return null;
        }
        if ((typeof body.model !== 'string' || body.model === '') && !opts.model) {
            sendJson(res, 400, errorBody('you must provide a model parameter', 'invalid_request_error'));
            return null;
        }
        if (body[required] === undefined) {
            sendJson(res, 400, errorBody(`Missing required parameter: '${required}'.`, 'invalid_request_error',
                                         required, 'missing_required_parameter'));
            return null;
        }
        return body;
    }

    /* The directives of `text`, or null after answering 400 for a malformed one. */
    function directivesOf(res, text) {
        try {
            return parseDirectiveText(text);
        } catch (e) {
            sendJson(res, 400, errorBody(e.message, 'invalid_request_error'));
            return null;
        }
    }

    async function embeddings(req, res, rec, opts = {}) {
        const body = objectBody(res, rec, opts, 'input');
        if (!body) return;
        const d = directivesOf(res, inputText(body.input));
        if (!d) return;
        const model = opts.model ?? body.model;
        const common = { 'x-request-id': `req_mock_${rec.seq}` };
        countModel(model, rec, res);
        if (d.delay && !(await pause(res, d.delay))) return;
        if (d.hang) return;
        if (d.status) return sendJson(res, d.status, statusErrorBody(d.status, model), common);
        if (d.leak_key) return leakKey(req, res);
        const input = body.input;
        const items = typeof input === 'string' ? [input]
            : Array.isArray(input) && input.length > 0 && typeof input[0] === 'number' ? [input] : input;
        if (!Array.isArray(items) || items.length === 0) {
            return sendJson(res, 400, errorBody("Invalid 'input': expected a string or an array.", 'invalid_request_error',
                                                'input'));
        }
        const dims = Number.isInteger(body.dimensions) && body.dimensions > 0 ? body.dimensions : EMBEDDING_DIMENSIONS;
        const base64 = body.encoding_format === 'base64';
        const data = items.map((item, index) => {
            const v = mockEmbedding(item, dims);
            return {
                object: 'embedding',
                index,
                embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
            };
        });
        const tokens = items.reduce((n, item) => n + tokenCount(item), 0);
        return sendJson(res, 200, { object: 'list', data, model,
                                    usage: { prompt_tokens: tokens, total_tokens: tokens } }, common);
    }

    async function completions(req, res, rec, opts = {}) {
        const body = objectBody(res, rec, opts, 'prompt');
        if (!body) return;
        const d = directivesOf(res, inputText(body.prompt));
        if (!d) return;
        const model = opts.model ?? body.model;
        const common = { 'x-request-id': `req_mock_${rec.seq}` };
        countModel(model, rec, res);
        if (d.delay && !(await pause(res, d.delay))) return;
        if (d.hang) return;
        if (d.status) return sendJson(res, d.status, statusErrorBody(d.status, model), common);
        if (d.content_filter) return sendJson(res, 400, AZURE_CONTENT_FILTER_ERROR, common);
        if (d.leak_key) return leakKey(req, res);

        let pieces = d.echo ? [JSON.stringify(body)] : mockPieces(d.chunks === undefined ? DEFAULT_CHUNKS : d.chunks);
        let finish = d.filter_finish ? 'content_filter' : 'stop';
        if (Number.isInteger(body.max_tokens) && body.max_tokens < pieces.length) {
            pieces = pieces.slice(0, body.max_tokens);
            finish = 'length';
        }
        const n = Number.isInteger(body.n) && body.n > 0 ? Math.min(body.n, 8) : 1;
        const echoed = body.echo === true && typeof body.prompt === 'string' ? body.prompt : '';
        const id = `cmpl-mock-${rec.seq}`;
        /* Completion-style logprobs when asked for with a count: one token per piece. */
        const logprobsFor = (list) => {
            if (!Number.isInteger(body.logprobs)) return null;
            let offset = 0;
            return {
                tokens: list,
                token_logprobs: list.map((_, i) => -0.25 * (i + 1)),
                top_logprobs: body.logprobs > 0 ? list.map((p, i) => ({ [p]: -0.25 * (i + 1), ' alt': -3 })) : null,
                text_offset: list.map((p) => { const o = offset; offset += p.length; return o; }),
            };
        };
        const usage = { prompt_tokens: PROMPT_TOKENS, completion_tokens: pieces.length * n,
                        total_tokens: PROMPT_TOKENS + pieces.length * n };
        const annotations = opts.azure
            ? { prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER_RESULTS }] } : {};

        if (body.stream !== true) {
            return sendJson(res, 200, {
                id, object: 'text_completion', created: CREATED, model,
                choices: Array.from({ length: n }, (_, index) => ({
                    text: echoed + pieces.join(''), index, logprobs: logprobsFor(pieces), finish_reason: finish,
                })),
                usage, ...annotations,
            }, common);
        }
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache',
                             connection: 'keep-alive', ...common });
        const send = (obj) => res.write(`data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`);
        const event = (choices, extra = {}) => ({ id, object: 'text_completion', created: CREATED, choices, model,
                                                  ...extra });
        if (opts.azure) send({ choices: [], created: 0, id: '', model: '', object: '', ...annotations });
        if (echoed) {
            for (let index = 0; index < n; index++) {
                send(event([{ text: echoed, index, logprobs: null, finish_reason: null }]));
            }
        }
        for (const piece of pieces) {
            if (d.chunkDelay && !(await pause(res, d.chunkDelay))) return;
            for (let index = 0; index < n; index++) {
                send(event([{ text: piece, index, logprobs: logprobsFor([piece]), finish_reason: null }]));
            }
        }
        for (let index = 0; index < n; index++) {
            send(event([{ text: '', index, logprobs: null, finish_reason: finish }]));
        }
        if (body.stream_options?.include_usage === true) send(event([], { usage }));
        send('[DONE]');
        res.end();
    }

    function azureKeyOk(req, res) {
        if (!requireKey) return true;
        if (req.headers['api-key'] === requireKey || req.headers.authorization === `Bearer ${requireKey}`) return true;
        sendJson(res, 401, { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API ' +
                                          'endpoint. Make sure to provide a valid key for an active subscription ' +
                                          'and use a correct regional API endpoint for your resource.' } });
        return false;
    }

    /* Azure OpenAI: /openai/deployments/<dep>/<op>?api-version=V and /openai/v1/<op>. */
    async function azureRoute(req, res, url, rec) {
        const path = url.pathname;
        const dep = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings|completions)$/.exec(path);
        const v1 = /^\/openai\/v1\/(chat\/completions|embeddings|completions)$/.exec(path);
        if (!dep && !v1) return sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
        const deployment = dep ? decodeURIComponent(dep[1]) : null;
        const apiVersion = url.searchParams.get('api-version');
        rec.azure = {
            deployment,
            apiVersion,
            v1: !!v1,
            auth: req.headers['api-key'] !== undefined ? 'api-key' : req.headers.authorization ? 'bearer' : null,
        };
        if (dep && !apiVersion) {
            return sendJson(res, 400, { error: { code: 'MissingApiVersionParameter',
                                                 message: 'The api-version query parameter (?api-version=) is required ' +
                                                     'for all requests.' } });
        }
        if (req.method !== 'POST') {
            return sendJson(res, 405, errorBody(`Invalid method for URL (${req.method} ${path})`, 'invalid_request_error'),
                            { allow: 'POST' });
        }
        if (!azureKeyOk(req, res)) return;
        const op = dep ? dep[2] : v1[1];
        const opts = { azure: true, ...(deployment !== null ? { model: deployment } : {}) };
        if (op === 'embeddings') return embeddings(req, res, rec, opts);
        if (op === 'completions') return completions(req, res, rec, opts);
        return chatCompletions(req, res, rec, opts);
    }

    function modelObject(id) {
        return { id, object: 'model', created: CREATED, owned_by: 'system' };
    }

    async function route(req, res, url, rec) {
        const path = url.pathname;
        if (path.startsWith('/openai/')) return azureRoute(req, res, url, rec);
        if (!path.startsWith('/v1/')) {
            return sendJson(res, 404, errorBody(`Invalid URL (${req.method} ${path})`, 'invalid_request_error'));
        }
        if (!checkKey(req, res)) return;
        if (path === '/v1/chat/completions') {
            if (req.method !== 'POST') {
                return sendJson(res, 405, errorBody(`Invalid method for URL (${req.method} ${path})`,
                                                    'invalid_request_error'), { allow: 'POST' });
            }
            return chatCompletions(req, res, rec);
        }
        if ((path === '/v1/embeddings' || path === '/v1/completions') && req.method === 'POST') {
            return path === '/v1/embeddings' ? embeddings(req, res, rec) : completions(req, res, rec);
        }
        if (path === '/v1/models' && req.method === 'GET') {
            return sendJson(res, 200, { object: 'list', data: MODELS.map(modelObject) });
        }
        const m = /^\/v1\/models\/([^/]+)$/.exec(path);
        if (m && req.method === 'GET') {
            const id = decodeURIComponent(m[1]);
            if (MODELS.includes(id)) return sendJson(res, 200, modelObject(id));
            return sendJson(res, 404, statusErrorBody(404, id));
        }
        return sendJson(res, 404, errorBody(`Invalid URL (${req.method} ${path})`, 'invalid_request_error'));
    }

    function introspect(req, res, url, rawBody) {
        const path = url.pathname;
        if (path === '/__mock/behave' && req.method === 'POST') {
            let list;
            try {
                list = JSON.parse(rawBody);
            } catch {
                return sendJson(res, 400, errorBody('behave: the body is not JSON', 'invalid_request_error'));
            }
            if (!Array.isArray(list)) list = [list];
            for (const b of list) {
                const why = checkBehaviour(b);
                if (why) return sendJson(res, 400, errorBody(`behave: ${why}`, 'invalid_request_error'));
            }
            for (const b of list) {
                behaviours.set(b.model, { spec: { ...b }, rng: seededRandom(b.seed ?? 1), left: b.count });
            }
            return sendJson(res, 200, { ok: true, behaviours: Object.fromEntries([...behaviours].map(([k, v]) => [k, v.spec])) });
        }
        if (path === '/__mock/behave' && req.method === 'DELETE') {
            const model = url.searchParams.get('model');
            if (model === null) behaviours.clear();
            else behaviours.delete(model);
            return sendJson(res, 200, { ok: true });
        }
        if (path === '/__mock/behave' && req.method === 'GET') {
            return sendJson(res, 200, Object.fromEntries([...behaviours].map(([k, v]) => [k, { ...v.spec, left: v.left }])));
        }
        if (path === '/__mock/requests' && req.method === 'GET') {
            const contains = url.searchParams.get('contains');
            const onPath = url.searchParams.get('path');
            const list = records.filter((r) => (contains === null || r.rawBody.includes(contains)) &&
                                               (onPath === null || r.path === onPath));
            return sendJson(res, 200, list.map(publicRecord));
        }
        if (path === '/__mock/stats' && req.method === 'GET') {
            const model = url.searchParams.get('model');
            if (model !== null) {
                const m = modelStats.get(model);
                return sendJson(res, 200, m ?? { model, requests: 0, inFlight: 0, maxInFlight: 0, byStatus: {},
                                                 times: [], cut: 0, refused: 0 });
            }
            const models = {};
            for (const [k, m] of modelStats) {
                const { times, ...rest } = m;
                models[k] = rest;
            }
            return sendJson(res, 200, { ...stats, models });
        }
        if (path === '/__mock/reset' && req.method === 'POST') {
            records.length = 0;
            /* In-flight requests keep counting into a detached object (see countModel). */
            modelStats.clear();
            for (const k of Object.keys(stats)) if (k !== 'inFlight') stats[k] = 0;
            return sendJson(res, 200, { ok: true });
        }
        return sendJson(res, 404, errorBody(`Invalid URL (${req.method} ${path})`, 'invalid_request_error'));
    }

    function publicRecord(r) {
        const { rawBody, ...rest } = r;
        /* The raw text is kept only when it was not JSON, so a test can see what was sent. */
        return r.body === undefined ? { ...rest, body: null, rawBody } : rest;
    }

    const server = http.createServer({ noDelay: true }, async (req, res) => {
        const url = new URL(req.url, 'http://127.0.0.1');
        if (url.pathname.startsWith('/__mock/')) {
            const parts = [];
            try {
                for await (const c of req) parts.push(c);
            } catch {
                return;
            }
            return introspect(req, res, url, Buffer.concat(parts).toString('utf8'));
        }
        const rec = {
            seq: ++seq,
            method: req.method,
            path: url.pathname,
            query: url.search,
            headers: req.headers,
            body: undefined,
            rawBody: '',
            receivedAt: Date.now(),
            completed: false,
            closedEarly: false,
            closedAt: null,
            cut: false,
            refused: false,
        };
        stats.requests++;
        stats.inFlight++;
        res.on('close', () => {
            stats.inFlight--;
            rec.closedAt = Date.now();
            if (res.writableFinished) {
                rec.completed = true;
                stats.completed++;
            } else if (!rec.cut && !rec.refused) {
                rec.closedEarly = true;
                stats.closedEarly++;
            }
            log(`#${rec.seq} ${rec.method} ${rec.path} closed`, rec.completed ? 'completed' :
                rec.cut ? 'cut' : 'early');
        });
        try {
            const parts = [];
            for await (const c of req) parts.push(c);
            rec.rawBody = Buffer.concat(parts).toString('utf8');
        } catch {
            /* The client went away while sending; the record still says what arrived. */
        }
        if (rec.rawBody !== '') {
            try {
                rec.body = JSON.parse(rec.rawBody);
            } catch {
                rec.body = undefined;
            }
        } else {
            rec.body = req.method === 'GET' ? null : undefined;
        }
        records.push(rec);
        log(`#${rec.seq} ${rec.method} ${rec.path} ${rec.rawBody.slice(0, 200)}`);
        if (res.destroyed) return;
        try {
            await route(req, res, url, rec);
        } catch (e) {
            console.error('[mock] handler failed:', e);
            if (!res.headersSent) sendJson(res, 500, errorBody(`mock internal error: ${e.message}`, 'server_error'));
            else res.destroy();
        }
    });
    /* Long keep-alive, like the real API, so pooled upstream connections are not closed under the gateway. */
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
        else if (a.startsWith('--port=')) opts.port = Number(a.slice(7));
        else if (a === '--require-key') opts.requireKey = value();
        else if (a.startsWith('--require-key=')) opts.requireKey = a.slice(14);
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
        console.error(`openai-mock: ${e.message}\nusage: openai-mock.mjs --port N [--require-key KEY] [--verbose]`);
        process.exit(2);
    }
    const { server } = createMock(opts);
    server.on('error', (e) => {
        console.error(`openai-mock: ${e.message}`);
        process.exit(1);
    });
    server.listen(opts.port, '127.0.0.1', () => {
        process.stdout.write(`LISTENING ${server.address().port}\n`);
    });
    const stop = () => {
        server.close();
        server.closeAllConnections();
        /* Let stdout/stderr drain, but never linger. */
        setTimeout(() => process.exit(0), 50).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
