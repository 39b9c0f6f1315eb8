/*
 * Error paths: every error the gateway produces or relays is an OpenAI error body
 * {"error":{"message","type","param","code"}} with the right status.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { mockPrefix, statusErrorBody } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, assertOpenAIError, authHeaders, closedPort, fakeDeployment, marker,
    mockDeployment, parseSSE, rawHttp, readAll, request, startGateway, startMock, userMessage,
} from './harness.mjs';

const T = { timeout: 20_000 };
const MAX_BYTES = 65536;

function expectError(r, status, opts = {}) {
    assert.equal(r.status, status, `status; body: ${r.text}`);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/, `errors are JSON; body: ${r.text}`);
    assert.ok(r.json !== undefined, `error body must be JSON: ${r.text}`);
    return assertOpenAIError(assert, r.json, opts);
}

describe('errors', () => {
    let mock;
    let gw;
    let deadPort;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        deadPort = await closedPort();
        gw = await startGateway({
            model_list: [
                mockDeployment(mock, { name: 'gpt-mock', id: 'dep-mock-1' }),
                {
                    model_name: 'dead-model',
                    litellm_params: {
                        model: 'openai/gpt-4o-mini',
                        api_base: `http://127.0.0.1:${deadPort}/v1`,
                        api_key: 'os.environ/UPSTREAM_KEY',
                    },
                    model_info: { id: 'dep-dead' },
                },
                mockDeployment(mock, { name: 'slow-model', id: 'dep-slow', params: { timeout: 1 } }),
                mockDeployment(mock, { name: 'slow-ms-model', id: 'dep-slow-ms', params: { timeout: '500ms' } }),
                mockDeployment(mock, { name: 'slow-stream-model', id: 'dep-slow-stream', params: { stream_timeout: 1 } }),
                fakeDeployment({ id: 'dep-fake-1' }),
            ],
            general_settings: { master_key: MASTER_KEY },
            // These tests pin down how each failure is reported; retries are covered in resilience tests.
            router_settings: { num_retries: 0 },
            server: { max_request_bytes: MAX_BYTES, idle_timeout: '2s' },
        });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    const post = (body, headers = authHeaders()) =>
        request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body });

    it('malformed JSON → 400', T, async () => {
        expectError(await post('{"model": "gpt-mock", "messages": [', authHeaders()), 400);
        expectError(await post('[1, 2, 3]', authHeaders()), 400);
    });

    it('missing messages → 400', T, async () => {
        expectError(await post({ model: 'gpt-mock' }), 400);
    });

    it('missing or wrong key → 401', T, async () => {
        const body = { model: 'fake-model', messages: userMessage('hi') };
        expectError(await post(body, { 'content-type': 'application/json' }), 401);
        expectError(await post(body, authHeaders('sk-wrong-key')), 401);
        expectError(await post(body, { 'content-type': 'application/json', 'x-api-key': 'sk-wrong-key' }), 401);
        expectError(await post(body, { 'content-type': 'application/json', authorization: 'Bearer ' }), 401);
        const basic = `Basic ${Buffer.from(`user:${MASTER_KEY}`).toString('base64')}`;
        expectError(await post(body, { 'content-type': 'application/json', authorization: basic }), 401);
        /* A prefix or extension of the key is not the key. */
        expectError(await post(body, authHeaders(MASTER_KEY.slice(0, -1))), 401);
        expectError(await post(body, authHeaders(`${MASTER_KEY}x`)), 401);
    });

    it('x-api-key and api-key headers are accepted', T, async () => {
        const body = { model: 'fake-model', messages: userMessage('hi') };
        for (const h of ['x-api-key', 'api-key']) {
            const r = await post(body, { 'content-type': 'application/json', [h]: MASTER_KEY });
            assert.equal(r.status, 200, `${h}: ${r.text}`);
            assert.equal(r.json.choices[0].message.content, 'Hi there friend');
        }
    });

    it('unknown model → 404 without leaking model names or secrets', T, async () => {
        const e = expectError(await post({ model: 'no-such-model', messages: userMessage('hi') }), 404);
        for (const secret of ['gpt-mock', 'dead-model', 'slow-model', 'slow-ms-model', 'slow-stream-model', 'fake-model', 'dep-mock-1', 'dep-fake-1',
                              UPSTREAM_KEY, MASTER_KEY, 'gpt-4o-mini', String(mock.port)]) {
            assert.ok(!e.message.includes(secret), `404 message leaks ${JSON.stringify(secret)}: ${e.message}`);
        }
    });

    it('a body over server.max_request_bytes → 413 (content-length and chunked)', T, async () => {
        const big = JSON.stringify({ model: 'fake-model', messages: userMessage('x'.repeat(MAX_BYTES + 4096)) });
        expectError(await post(big, authHeaders()), 413);

        /* Without a content-length the limit must still hold while the body streams in. */
        const bytes = new TextEncoder().encode(big);
        const chunked = new ReadableStream({
            start(controller) {
                for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
                controller.close();
            },
        });
        /* The server answers 413 and closes while the client is still uploading; when unread bytes
         * remain, the kernel may reset the connection before the client reads the answer (HTTP
         * permits the close; h2o 2.2.5 has no lingering close).  Only that transport failure is
         * retried: whenever an answer arrives, it must be the JSON 413. */
        let r;
        for (let attempt = 1; ; attempt++) {
            try {
                r = await fetch(`${gw.url}/v1/chat/completions`, {
                    method: 'POST', headers: authHeaders(), body: attempt === 1 ? chunked : huge,
                    duplex: 'half', signal: AbortSignal.timeout(10_000),
                });
                break;
            } catch (e) {
                if (attempt >= 5) throw e;
            }
        }
        const text = await r.text();
        let json;
        try {
            json = JSON.parse(text);
        } catch {
            json = undefined;
        }
        expectError({ status: r.status, headers: r.headers, text, json }, 413);

        /* Just under the limit is fine. */
        const fits = JSON.stringify({ model: 'fake-model', messages: userMessage('x'.repeat(MAX_BYTES - 200)) });
        assert.ok(Buffer.byteLength(fits) < MAX_BYTES);
        const ok = await post(fits, authHeaders());
        assert.equal(ok.status, 200, ok.text);
    });

    it('a body far over the limit (limit + 1 MiB and more) → 413 with an OpenAI error body', T, async () => {
        const huge = JSON.stringify({ model: 'fake-model', messages: userMessage('x'.repeat(1_200_000)) });
        let first;
        for (let attempt = 1; ; attempt++) {
            try {
                first = await post(huge, authHeaders());
                break;
            } catch (e) {
                if (attempt >= 5) throw e; /* connection reset mid-upload: see below */
            }
        }
        expectError(first, 413);
        const bytes = new TextEncoder().encode(huge);
        const chunked = new ReadableStream({
            start(controller) {
                for (let i = 0; i < bytes.length; i += 65536) controller.enqueue(bytes.slice(i, i + 65536));
                controller.close();
            },
        });
        /* The server answers 413 and closes while the client is still uploading; when unread bytes
         * remain, the kernel may reset the connection before the client reads the answer (HTTP
         * permits the close; h2o 2.2.5 has no lingering close).  Only that transport failure is
         * retried: whenever an answer arrives, it must be the JSON 413. */
        let r;
        for (let attempt = 1; ; attempt++) {
            try {
                r = await fetch(`${gw.url}/v1/chat/completions`, {
                    method: 'POST', headers: authHeaders(), body: attempt === 1 ? chunked : huge,
                    duplex: 'half', signal: AbortSignal.timeout(10_000),
                });
                break;
            } catch (e) {
                if (attempt >= 5) throw e;
            }
        }
        const text = await r.text();
        let json;
        try {
            json = JSON.parse(text);
        } catch {
            json = undefined;
        }
        expectError({ status: r.status, headers: r.headers, text, json }, 413);
    });

    it('a declared Content-Length over the limit → 413 without waiting for the body', T, async () => {
        /* Promise 100 MB, send none of it. */
        const r = await rawHttp(gw.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
                                `Authorization: Bearer ${MASTER_KEY}\r\nContent-Type: application/json\r\n` +
                                `Content-Length: ${100 * 1024 * 1024}\r\n\r\n`, { timeout: 3000 });
        assert.equal(r.status, 413, `expected an immediate 413, got ${JSON.stringify(r.raw.slice(0, 300))}`);
        assert.ok(r.elapsed < 2000, `413 took ${r.elapsed} ms`);
        assert.match(r.headers['content-type'] ?? '', /^application\/json/, `413 body: ${r.body}`);
        assertOpenAIError(assert, r.body);
    });

    it('unknown path → 404 with an OpenAI error body', T, async () => {
        expectError(await request(`${gw.url}/v1/no-such-endpoint`, { headers: authHeaders() }), 404);
    });

    it('upstream connection refused → 502', T, async () => {
        expectError(await post({ model: 'dead-model', messages: userMessage('hi') }), 502);
    });

    it('upstream hang with timeout: 1 → 504 within ~3 s', T, async () => {
        const m = marker('hang');
        const t0 = Date.now();
        const r = await post({ model: 'slow-model', messages: userMessage(`[[hang]] ${m}`) });
        const elapsed = Date.now() - t0;
        expectError(r, 504);
        assert.ok(elapsed < 3000, `504 took ${elapsed} ms`);
        assert.ok(elapsed >= 900, `504 came before the 1 s timeout (${elapsed} ms)`);
        await mock.waitForRequest(m);
    });

    it('timeout: "500ms" → 504 after about half a second', T, async () => {
        const t0 = Date.now();
        const r = await post({ model: 'slow-ms-model', messages: userMessage('[[hang]]') });
        const elapsed = Date.now() - t0;
        expectError(r, 504);
        assert.ok(elapsed >= 450 && elapsed < 1500, `504 after ${elapsed} ms for a 500 ms timeout`);
    });

    it('stream_timeout: 1 with no first byte → 504 within ~3 s', T, async () => {
        const t0 = Date.now();
        const r = await post({ model: 'slow-stream-model', messages: userMessage('[[hang]]'), stream: true });
        const elapsed = Date.now() - t0;
        /* Nothing reached the client yet, so a real status is still possible. */
        expectError(r, 504);
        assert.ok(elapsed >= 900 && elapsed < 3000, `504 after ${elapsed} ms for a 1 s stream_timeout`);
    });

    it('server.idle_timeout: an upstream stream that goes silent ends in an SSE error event', T, async () => {
        const t0 = Date.now();
        const r = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: authHeaders(),
            body: JSON.stringify({ model: 'gpt-mock', messages: userMessage('[[stall:1]]'), stream: true }),
            signal: AbortSignal.timeout(15_000),
        });
        assert.equal(r.status, 200);
        const { text, timedOut } = await readAll(r, 8000);
        const elapsed = Date.now() - t0;
        assert.ok(!timedOut, `the stalled stream was not ended by idle_timeout: 2s; got ${JSON.stringify(text)}`);
        assert.ok(elapsed >= 1800 && elapsed < 5000, `ended after ${elapsed} ms for a 2 s idle_timeout`);
        const parsed = parseSSE(text).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
        assert.equal(parsed.slice(0, -1).map((p) => p.choices?.[0]?.delta?.content ?? '').join(''), mockPrefix(1));
        assert.ok(parsed.at(-1)?.error, `the last event is an error: ${text}`);
        assertOpenAIError(assert, parsed.at(-1));
    });

    it('upstream 429 and 500 → same status with the upstream message wrapped', T, async () => {
        for (const status of [429, 500]) {
            const r = await post({ model: 'gpt-mock', messages: userMessage(`[[status:${status}]]`) });
            expectError(r, status, { messageIncludes: statusErrorBody(status, 'gpt-4o-mini').error.message });
        }
    });

    it('a stream request the upstream refuses → that status as JSON, not an event stream', T, async () => {
        const r = await post({ model: 'gpt-mock', messages: userMessage('[[status:429]]'), stream: true });
        expectError(r, 429, { messageIncludes: statusErrorBody(429, 'gpt-4o-mini').error.message });
    });

    it('a malformed upstream stream event → SSE error event, then the end', T, async () => {
        const r = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: authHeaders(),
            body: JSON.stringify({ model: 'gpt-mock', messages: userMessage('[[badjson]]'), stream: true }),
            signal: AbortSignal.timeout(15_000),
        });
        assert.equal(r.status, 200);
        const { text, timedOut } = await readAll(r);
        assert.ok(!timedOut, `the stream did not terminate; got ${JSON.stringify(text)}`);
        const events = parseSSE(text).filter((e) => e.data !== '[DONE]');
        const last = events.at(-1);
        let parsed;
        assert.doesNotThrow(() => {
            parsed = JSON.parse(last.data);
        }, `the gateway relayed a malformed event instead of an error: ${text}`);
        assert.ok(parsed.error, `the stream ends with an error event: ${text}`);
        assertOpenAIError(assert, parsed);
    });

    it('upstream context_length_exceeded → 400 with that code', T, async () => {
        expectError(await post({ model: 'gpt-mock', messages: userMessage('[[context]]') }), 400,
                    { code: 'context_length_exceeded' });
    });

    it('upstream malformed JSON → 502', T, async () => {
        expectError(await post({ model: 'gpt-mock', messages: userMessage('[[badjson]]') }), 502);
    });

    it('stream cut by the upstream → first chunks, then an SSE error event, then the end', T, async () => {
        const r = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: authHeaders(),
            body: JSON.stringify({ model: 'gpt-mock', messages: userMessage('[[cut:2]]'), stream: true }),
            signal: AbortSignal.timeout(15_000),
        });
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
        const { text, timedOut } = await readAll(r);
        assert.ok(!timedOut, `the stream did not terminate; got ${JSON.stringify(text)}`);
        const events = parseSSE(text).filter((e) => e.data !== '[DONE]');
        const parsed = events.map((e) => JSON.parse(e.data));
        const errorAt = parsed.findIndex((p) => p.error);
        assert.ok(errorAt >= 0, `no SSE error event in ${JSON.stringify(text)}`);
        assertOpenAIError(assert, parsed[errorAt]);
        const before = parsed.slice(0, errorAt).map((p) => p.choices?.[0]?.delta?.content ?? '').join('');
        assert.equal(before, mockPrefix(2), 'the chunks sent before the cut reach the client');
        assert.equal(errorAt, parsed.length - 1, 'nothing but [DONE] may follow the error event');

        const health = await request(`${gw.url}/health/liveliness`);
        assert.equal(health.status, 200, 'gateway still up');
    });

    it('stream cut: the SDK sees the first chunks, then an APIError', T, async () => {
        const client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
        const stream = await client.chat.completions.create({
            model: 'gpt-mock', messages: userMessage('[[cut:2]]'), stream: true,
        });
        let text = '';
        await assert.rejects(async () => {
            for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
        }, OpenAI.APIError);
        assert.equal(text, mockPrefix(2));
        assert.equal((await request(`${gw.url}/health/liveliness`)).status, 200);
    });

    it('GET /v1/chat/completions → 405', T, async () => {
        expectError(await request(`${gw.url}/v1/chat/completions`, { headers: authHeaders() }), 405);
    });
});
