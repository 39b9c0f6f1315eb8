#!/usr/bin/env node
/*
 * sagemaker-mock: a mock of Amazon SageMaker Runtime (and of the model containers behind its
 * endpoints) for Gantry's integration tests.
 *
 *   node tests/mock/sagemaker-mock.mjs --port 0 [--verbose]
 *
 * Prints exactly one line, `LISTENING <port>`, on stdout once bound to 127.0.0.1; everything else
 * goes to stderr.  Only Node's own modules and ./aws-wire.mjs are used.
 *
 * SageMaker Runtime's wire format:
 *   POST /endpoints/<name>/invocations                  the container's answer as it wrote it
 *   POST /endpoints/<name>/invocations-response-stream  application/vnd.amazon.eventstream:
 *        PayloadPart events whose payload is raw container bytes, cut at awkward places (inside
 *        a JSON text, inside "data:"), so a client must re-split the lines itself
 * Every request must be SigV4-signed for service "sagemaker" in REGION with one of CREDENTIALS
 * (403 with AWS's {"message"} and x-amzn-ErrorType otherwise).  Errors of the service itself are
 * {"message"} bodies; a container error is 424 ModelError {"ErrorCode", "OriginalStatusCode",
 * "OriginalMessage", "Message", "LogStreamArn"}.  The endpoint "missing-endpoint" does not exist
 * (400 ValidationError "Endpoint ... not found").
 *
 * The container shape follows the body, as an LMI container does:
 *   {"messages": [...]}            OpenAI chat completions (non-streamed JSON, or SSE chunks with
 *                                  a usage chunk when stream_options.include_usage, then [DONE])
 *   {"inputs": "<prompt>", ...}    TGI: [{"generated_text", "details"}], or with "stream": true TGI
 *                                  token events (SSE "data:" lines) ending with the eos token,
 *                                  generated_text and details (with input_length)
 *   {"inputs": ["text", ...]}      embeddings: [[...], ...] (EMBED_VECTOR(text) each)
 * Answers are "Hello", " from", " sagemaker" (PIECES); TGI honours parameters.max_new_tokens
 * (fewer pieces, finish_reason "length").
 *
 * Directives in the text of the last user message (messages), in the prompt (TGI) or in any input
 * (embeddings):
 *   [[status:N]]        SageMaker itself answers N (400 ValidationError, 403 AccessDenied, 429
 *                       ThrottlingException, 500 InternalFailure, 503 ServiceUnavailable, ...)
 *   [[model_error]]     424 ModelError: the container answered 500 (or [[model_error:N]]: N)
 *   [[context]]         424 ModelError: the container answered 422 with TGI's "inputs tokens +
 *                       max_new_tokens must be <= 4096" validation error
 *   [[stream_exception]] after two PayloadParts (or before the last one, when there are fewer), a
 *                       ModelStreamError exception (StreamBroken)
 *   [[stream_failure]]  the same with an InternalStreamFailure exception
 *   [[error_line]]      streaming: a first piece, then the container writes an {"error": ...} line
 *   [[cut:N]]           N PayloadParts, then the socket is destroyed (non-streaming: half a body)
 *   [[part:N]]          PayloadParts of N bytes (default: sizes cycling through PART_SIZES)
 *   [[jsonlines]]       the container streams JSON lines instead of SSE "data:" lines
 *   [[bare]]            messages answers without id, created and model (some containers)
 *   [[wrapped]]         embeddings answer {"embeddings": [...]}
 *   [[chunks:N]]        N content pieces
 *   [[echo]]            the answer text is JSON.stringify(<request body as received>)
 *   [[delay:MS]]        wait MS before answering
 *
 * Container credentials (for the gateway's AWS_CONTAINER_CREDENTIALS_FULL_URI):
 *   GET /__mock/creds[?delay=MS][&fail=1]   {"AccessKeyId","SecretAccessKey","Token","Expiration"}
 *                       of the session CREDENTIALS entry, after MS; fail=1 answers 500
 * Introspection (never signed, never recorded):
 *   GET  /__mock/requests[?contains=TEXT][&endpoint=NAME]   recorded requests, oldest first:
 *        {seq, method, path, endpoint, stream, headers, body, rawBody (when not JSON), auth, ...}
 *   GET  /__mock/stats     {"requests","completed","closedEarly","cut","credsServed"}
 *   POST /__mock/reset     forget recorded requests and zero the stats
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { encodeEvent, encodeException, verifySigV4 } from './aws-wire.mjs';

export const REGION = 'us-east-1';
export const SERVICE = 'sagemaker';
export const ACCOUNT = '123456789012';
/* Keys the mock accepts: long-term keys, and session keys as the credentials endpoint hands out. */
export const CREDENTIALS = {
    static: { accessKeyId: 'AKIDSAGEMAKERMOCK', secretAccessKey: 'sagemaker-mock-secret/Key+1' },
    session: {
        accessKeyId: 'ASIASAGEMAKERSESSION',
        secretAccessKey: 'sagemaker-session-secret',
        sessionToken: 'FwoGZXIvYXdzEMockSessionToken//sagemaker==',
    },
};
export const PIECES = ['Hello', ' from', ' sagemaker'];
export const TEXT = PIECES.join('');
export const PROMPT_TOKENS = 10;  /* usage.prompt_tokens of messages answers */
export const INPUT_LENGTH = 12;   /* details.input_length of TGI streams */
export const CREATED = 1700000000;
/* Awkward PayloadPart sizes: cuts land inside "data:", inside JSON strings, between \n and \n. */
export const PART_SIZES = [3, 11, 2, 17, 5, 29, 1, 7, 13];
export const EMBED_VECTOR = (text) => [text.length, 0.5, -0.25, 0.125];
export const CONTEXT_ORIGINAL = {
    error: 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 ' +
        '`inputs` tokens and 200 `max_new_tokens`',
    error_type: 'validation',
};

const FLAGS = new Set(['model_error', 'context', 'stream_exception', 'stream_failure', 'error_line', 'jsonlines',
                       'bare', 'wrapped', 'echo']);
const NUMBERS = new Set(['status', 'model_error', 'cut', 'part', 'chunks', 'delay']);

function textOf(content) {
    if (typeof content === 'string') return content;
    if (Array.isArray(content)) return content.map((p) => (p && typeof p.text === 'string' ? p.text : '')).join('\n');
    return '';
}

/* The text directives are read from, by container shape. */
function directiveText(body) {
    if (Array.isArray(body?.messages)) {
        const last = [...body.messages].reverse().find((m) => m && m.role === 'user');
        return last ? textOf(last.content) : '';
    }
    if (typeof body?.inputs === 'string') return body.inputs;
    if (Array.isArray(body?.inputs)) return body.inputs.filter((s) => typeof s === 'string').join('\n');
    return '';
}

export function parseDirectives(text) {
    const out = {};
    for (const m of text.matchAll(/\[\[([a-z_]+)(?::([^\]]*))?\]\]/g)) {
        const [, name, arg] = m;
        if (arg === undefined && FLAGS.has(name)) out[name] = true;
        else if (arg !== undefined && NUMBERS.has(name) && /^\d+$/.test(arg)) out[name] = Number(arg);
        else throw new Error(`mock: bad directive ${m[0]}`);
    }
    return out;
}

/* The answer pieces for n chunks: PIECES, cycled when more are asked for. */
export function piecesFor(n = PIECES.length) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(i < PIECES.length ? PIECES[i] : ` ${PIECES[i % PIECES.length].trim()}`);
    return out;
}

/* The error SageMaker Runtime itself answers with for a status: [x-amzn-ErrorType, message]. */
export function serviceError(status, endpoint) {
    switch (status) {
    case 400: return ['ValidationError', `Mock SageMaker rejected the request for endpoint ${endpoint} (status 400).`];
    case 403: return ['AccessDeniedException', `User: arn:aws:iam::${ACCOUNT}:user/mock is not authorized to perform: sagemaker:InvokeEndpoint on resource: arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint/${endpoint}`];
    case 429: return ['ThrottlingException', 'Rate exceeded'];
    case 500: return ['InternalFailure', 'An internal failure occurred (mock SageMaker status 500).'];
    case 503: return ['ServiceUnavailable', 'The service is unavailable (mock SageMaker status 503).'];
    default: return [status >= 500 ? 'InternalFailure' : 'ValidationError', `Mock SageMaker error with status ${status}.`];
    }
}

/* The container's own error text for a status, in the shape of the container that sent it. */
function containerError(status, shape) {
    if (shape === 'messages') {
        return { object: 'error', message: `Mock container error (status ${status}).`, type: 'BadRequestError', param: null, code: status };
    }
    return status < 500
        ? { error: 'Input validation error: `temperature` must be strictly positive (mock)', error_type: 'validation' }
        : { error: `Request failed during generation: mock container error (status ${status})`, error_type: 'generation' };
}

export function modelErrorBody(endpoint, original, originalMessage) {
    const text = typeof originalMessage === 'string' ? originalMessage : JSON.stringify(originalMessage);
    return {
        ErrorCode: original < 500 ? 'CLIENT_ERROR_FROM_MODEL' : 'SERVER_ERROR_FROM_MODEL',
        LogStreamArn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/sagemaker/Endpoints/${endpoint}`,
        Message: `Received ${original < 500 ? 'client' : 'server'} error (${original}) from primary with message "${text}". ` +
            `See https://${REGION}.console.aws.amazon.com/cloudwatch/home?region=${REGION}#logEventViewer:group=/aws/sagemaker/Endpoints/${endpoint} in account ${ACCOUNT} for more information.`,
        OriginalMessage: text,
        OriginalStatusCode: original,
    };
}

function lookup(accessKeyId) {
    for (const c of Object.values(CREDENTIALS)) if (c.accessKeyId === accessKeyId) return c;
    return null;
}

export function createMock({ verbose = false } = {}) {
    const records = [];
    const stats = { requests: 0, completed: 0, closedEarly: 0, cut: 0, credsServed: 0 };
    let seq = 0;
    const log = verbose ? (...a) => console.error('[sagemaker-mock]', ...a) : () => {};

    function sendJson(res, status, obj, extra = {}) {
        const text = JSON.stringify(obj);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
        res.end(text);
    }

    /* An error of SageMaker Runtime itself: {"message"} plus x-amzn-ErrorType, as rest-json sends it. */
    function sendServiceError(res, status, type, message, rec) {
        sendJson(res, status, { message }, { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.coral.service/`, 'x-amzn-requestid': `mock-${rec.seq}` });
    }

    function pause(res, ms) {
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

    /* Splits the container's bytes into PayloadPart payloads. */
    function cutParts(bytes, d) {
        const parts = [];
        let at = 0;
        let i = 0;
        while (at < bytes.length) {
            const size = d.part ? d.part : PART_SIZES[i++ % PART_SIZES.length];
            parts.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
            at += size;
        }
        return parts;
    }

    /* The lines a container writes for one streamed answer (without the line framing). */
    function streamPayloads(shape, body, d, rec) {
        const n = d.chunks ?? PIECES.length;
        const pieces = d.echo ? [JSON.stringify(body)] : piecesFor(n);
        const lines = [];
        if (shape === 'messages') {
            const base = { id: `chatcmpl-sm-${rec.seq}`, object: 'chat.completion.chunk', created: CREATED, model: 'lmi' };
            const chunk = (delta, finish) => ({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
            lines.push(chunk({ role: 'assistant', content: '' }, null));
            pieces.forEach((p, i) => {
                lines.push(chunk({ content: p }, null));
                if (i === 0 && d.error_line) lines.push({ error: 'Request failed during generation: CUDA out of memory (mock)', error_type: 'generation' });
            });
            lines.push(chunk({}, 'stop'));
            if (body.stream_options?.include_usage === true) {
                lines.push({ ...base, choices: [], usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: pieces.length, total_tokens: PROMPT_TOKENS + pieces.length } });
            }
            lines.push('[DONE]');
            return lines;
        }
        const max = body.parameters?.max_new_tokens;
        const limited = Number.isInteger(max) && max < pieces.length;
        const used = limited ? pieces.slice(0, max) : pieces;
        const text = used.join('');
        used.forEach((p, i) => {
            const last = limited && i === used.length - 1;
            lines.push({
                index: i + 1,
                token: { id: 1000 + i, text: p, logprob: -0.5, special: false },
                generated_text: last ? text : null,
                details: last ? { finish_reason: 'length', generated_tokens: used.length, seed: null, input_length: INPUT_LENGTH } : null,
            });
            if (i === 0 && d.error_line) lines.push({ error: 'Request failed during generation: CUDA out of memory (mock)', error_type: 'generation' });
        });
        if (!limited) {
            lines.push({
                index: used.length + 1,
                token: { id: 2, text: '</s>', logprob: -0.1, special: true },
                generated_text: text,
                details: { finish_reason: 'eos_token', generated_tokens: used.length + 1, seed: null, input_length: INPUT_LENGTH },
            });
        }
        return lines;
    }

    async function stream(req, res, rec, shape, body, d) {
        const lines = streamPayloads(shape, body, d, rec);
        const text = lines.map((l) => {
            const s = typeof l === 'string' ? l : JSON.stringify(l);
            return d.jsonlines ? `${s}\n` : `data:${shape === 'messages' ? ' ' : ''}${s}\n\n`;
        }).join('');
        const parts = cutParts(Buffer.from(text, 'utf8'), d);
        res.writeHead(200, {
            'content-type': 'application/vnd.amazon.eventstream',
            'x-amzn-sagemaker-content-type': d.jsonlines ? 'application/jsonlines' : 'text/event-stream',
            'x-amzn-invoked-production-variant': 'AllTraffic',
            'x-amzn-requestid': `mock-${rec.seq}`,
        });
        /* An exception comes after two parts, or before the last when there are fewer: the answer is
         * never complete. */
        const failAt = Math.min(2, parts.length - 1);
        for (let i = 0; i < parts.length; i++) {
            if (d.cut !== undefined && i === d.cut) {
                rec.cut = true;
                stats.cut++;
                setTimeout(() => res.destroy(), 20);
                return;
            }
            if ((d.stream_exception || d.stream_failure) && i === failAt) {
                res.write(d.stream_exception
                    ? encodeException('ModelStreamError', { Message: 'Your model failed to stream its response (mock).', ErrorCode: 'StreamBroken' })
                    : encodeException('InternalStreamFailure', { Message: 'The stream processing failed (mock).' }));
                return res.end();
            }
            res.write(encodeEvent('PayloadPart', parts[i], { contentType: 'application/octet-stream' }));
            /* Now and then let the bytes go out, so the gateway sees the stream arrive in pieces. */
            if (i % 4 === 3 && !(await pause(res, 1))) return;
        }
        res.end();
    }

    function answer(res, rec, shape, body, d) {
        const common = { 'x-amzn-invoked-production-variant': 'AllTraffic', 'x-amzn-requestid': `mock-${rec.seq}` };
        let obj;
        if (shape === 'embeddings') {
            const vectors = body.inputs.map((t) => EMBED_VECTOR(String(t)));
            obj = d.wrapped ? { embeddings: vectors } : vectors;
        } else {
            const pieces = d.echo ? [JSON.stringify(body)] : piecesFor(d.chunks ?? PIECES.length);
            if (shape === 'messages') {
                obj = {
                    ...(d.bare ? {} : { id: `chatcmpl-sm-${rec.seq}`, created: CREATED, model: 'lmi' }),
                    object: 'chat.completion',
                    choices: [{ index: 0, message: { role: 'assistant', content: pieces.join('') }, logprobs: null, finish_reason: 'stop' }],
                    usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: pieces.length, total_tokens: PROMPT_TOKENS + pieces.length },
                };
            } else {
                const max = body.parameters?.max_new_tokens;
                const limited = Number.isInteger(max) && max < pieces.length;
                const used = limited ? pieces.slice(0, max) : pieces;
                obj = [{
                    generated_text: used.join(''),
                    details: { finish_reason: limited ? 'length' : 'eos_token', generated_tokens: used.length + (limited ? 0 : 1), seed: null, prefill: [], tokens: [] },
                }];
            }
        }
        const text = JSON.stringify(obj);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...common });
        if (d.cut !== undefined) {
            res.write(text.slice(0, Math.floor(text.length / 2)));
            rec.cut = true;
            stats.cut++;
            setTimeout(() => res.destroy(), 20);
            return;
        }
        res.end(text);
    }

    async function invoke(req, res, rec) {
        const verdict = verifySigV4(req, rec.rawBuffer, { lookup, region: REGION, service: SERVICE });
        rec.auth = verdict.ok ? { ok: true, accessKeyId: verdict.accessKeyId, signedHeaders: verdict.signedHeaders }
            : { ok: false, type: verdict.type, message: verdict.message };
        if (!verdict.ok) return sendServiceError(res, verdict.status, verdict.type, verdict.message, rec);
        if (rec.endpoint === 'missing-endpoint') {
            return sendServiceError(res, 400, 'ValidationError', `Endpoint ${rec.endpoint} of account ${ACCOUNT} not found.`, rec);
        }
        if (!/^application\/json/.test(req.headers['content-type'] ?? '')) {
            return sendServiceError(res, 400, 'ValidationError', 'The mock container accepts application/json only.', rec);
        }
        const body = rec.body;
        let shape = null;
        if (body && Array.isArray(body.messages)) shape = 'messages';
        else if (body && typeof body.inputs === 'string') shape = 'tgi';
        else if (body && Array.isArray(body.inputs)) shape = 'embeddings';
        if (!shape) {
            return sendJson(res, 424, modelErrorBody(rec.endpoint, 422, { error: 'Failed to deserialize the JSON body into the target type (mock)', error_type: 'validation' }));
        }
        rec.shape = shape;
        let d;
        try {
            d = parseDirectives(directiveText(body));
        } catch (e) {
            return sendServiceError(res, 400, 'ValidationError', e.message, rec);
        }
        if (d.delay && !(await pause(res, d.delay))) return;
        if (d.status) {
            const [type, message] = serviceError(d.status, rec.endpoint);
            return sendServiceError(res, d.status, type, message, rec);
        }
        if (d.context) return sendJson(res, 424, modelErrorBody(rec.endpoint, 422, CONTEXT_ORIGINAL));
        if (d.model_error) {
            const original = d.model_error === true ? 500 : d.model_error;
            return sendJson(res, 424, modelErrorBody(rec.endpoint, original, containerError(original, shape)));
        }
        if (rec.stream) {
            if (shape === 'embeddings') return sendServiceError(res, 400, 'ValidationError', 'The mock container does not stream embeddings.', rec);
            if (shape === 'tgi' && body.stream !== true) {
                /* A TGI container streams only when the body says so; otherwise it answers once. */
                return sendJson(res, 424, modelErrorBody(rec.endpoint, 500, { error: 'the request did not ask for a stream', error_type: 'generation' }));
            }
            return stream(req, res, rec, shape, body, d);
        }
        return answer(res, rec, shape, body, d);
    }

    async function creds(res, url) {
        const delay = Number(url.searchParams.get('delay') ?? 0);
        if (delay > 0 && !(await pause(res, delay))) return;
        if (url.searchParams.get('fail') === '1') return sendJson(res, 500, { message: 'mock credentials endpoint failure' });
        stats.credsServed++;
        const s = CREDENTIALS.session;
        sendJson(res, 200, {
            AccessKeyId: s.accessKeyId,
            SecretAccessKey: s.secretAccessKey,
            Token: s.sessionToken,
            Expiration: new Date(Date.now() + 6 * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        });
    }

    function publicRecord(r) {
        const { rawBuffer, rawBody, ...rest } = r;
        return r.body === undefined ? { ...rest, body: null, rawBody } : rest;
    }

    function introspect(req, res, url) {
        const path = url.pathname;
        if (path === '/__mock/creds' && req.method === 'GET') return creds(res, url);
        if (path === '/__mock/requests' && req.method === 'GET') {
            const contains = url.searchParams.get('contains');
            const endpoint = url.searchParams.get('endpoint');
            const list = records.filter((r) => (contains === null || r.rawBody.includes(contains)) &&
                                               (endpoint === null || r.endpoint === endpoint));
            return sendJson(res, 200, list.map(publicRecord));
        }
        if (path === '/__mock/stats' && req.method === 'GET') return sendJson(res, 200, stats);
        if (path === '/__mock/reset' && req.method === 'POST') {
            records.length = 0;
            for (const k of Object.keys(stats)) stats[k] = 0;
            return sendJson(res, 200, { ok: true });
        }
        return sendJson(res, 404, { message: `no mock route ${req.method} ${path}` });
    }

    const server = http.createServer({ noDelay: true }, async (req, res) => {
        const url = new URL(req.url, 'http://127.0.0.1');
        const parts = [];
        try {
            for await (const c of req) parts.push(c);
        } catch {
            return;
        }
        if (url.pathname.startsWith('/__mock/')) return introspect(req, res, url);

        const m = /^\/endpoints\/([^/]+)\/(invocations|invocations-response-stream)$/.exec(url.pathname);
        const rawBuffer = Buffer.concat(parts);
        const rec = {
            seq: ++seq,
            method: req.method,
            path: url.pathname,
            endpoint: m ? decodeURIComponent(m[1]) : null,
            stream: m ? m[2] === 'invocations-response-stream' : false,
            headers: req.headers,
            rawBuffer,
            rawBody: rawBuffer.toString('utf8'),
            body: undefined,
            receivedAt: Date.now(),
            completed: false,
            closedEarly: false,
            cut: false,
        };
        try {
            rec.body = JSON.parse(rec.rawBody);
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
        log(`#${rec.seq} ${req.method} ${url.pathname} ${rec.rawBody.slice(0, 200)}`);
        if (!m || req.method !== 'POST') {
            return sendJson(res, 404, { message: `UnknownOperationException: ${req.method} ${url.pathname}` },
                            { 'x-amzn-errortype': 'UnknownOperationException' });
        }
        try {
            await invoke(req, res, rec);
        } catch (e) {
            console.error('[sagemaker-mock] handler failed:', e);
            if (!res.headersSent) sendJson(res, 500, { message: `mock internal error: ${e.message}` });
            else res.destroy();
        }
    });
    server.keepAliveTimeout = 60_000;
    server.headersTimeout = 65_000;
    server.requestTimeout = 0;
    return { server, records, stats };
}

function main() {
    const argv = process.argv.slice(2);
    let port = 0;
    let verbose = false;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--port') port = Number(argv[++i]);
        else if (argv[i].startsWith('--port=')) port = Number(argv[i].slice(7));
        else if (argv[i] === '--verbose') verbose = true;
        else {
            console.error(`sagemaker-mock: unknown argument ${argv[i]}\nusage: sagemaker-mock.mjs --port N [--verbose]`);
            process.exit(2);
        }
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
        console.error('sagemaker-mock: bad --port');
        process.exit(2);
    }
    const { server } = createMock({ verbose });
    server.on('error', (e) => {
        console.error(`sagemaker-mock: ${e.message}`);
        process.exit(1);
    });
    server.listen(port, '127.0.0.1', () => process.stdout.write(`LISTENING ${server.address().port}\n`));
    const stop = () => {
        server.close();
        server.closeAllConnections();
        setTimeout(() => process.exit(0), 50).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
