/*
 * The mock upstream, checked against the official openai SDK and raw HTTP, without the gateway.
 * Every other suite trusts the mock's wire format and fault directives; this file is why it may.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
    CONTENT_POLICY_ERROR, CONTEXT_ERROR, TOOL_CALL, mockContent, mockPieces, statusErrorBody,
} from '../mock/openai-mock.mjs';
import { marker, parseSSE, pool, readAll, request, startMock, waitFor } from './harness.mjs';

const T = { timeout: 20_000 };

describe('openai mock', () => {
    let mock;
    let keyed;
    let client;

    before(async () => {
        mock = await startMock();
        keyed = await startMock({ requireKey: 'sk-upstream' });
        client = new OpenAI({ baseURL: mock.baseURL, apiKey: 'sk-anything', maxRetries: 0, timeout: 10_000,
                             logLevel: 'off' });
    });
    after(async () => {
        await mock?.stop();
        await keyed?.stop();
    });

    const ask = (text, extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra });

    it('answers a non-streaming completion in OpenAI shape', T, async () => {
        const m = marker();
        const { data, response } = await client.chat.completions.create(ask(`hi ${m}`)).withResponse();
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type'), /^application\/json/);
        assert.match(response.headers.get('x-request-id'), /^req_mock_\d+$/);
        assert.equal(data.object, 'chat.completion');
        assert.match(data.id, /^chatcmpl-mock-\d+$/);
        assert.equal(data.model, 'gpt-4o-mini');
        assert.equal(typeof data.created, 'number');
        assert.equal(data.choices.length, 1);
        assert.equal(data.choices[0].message.role, 'assistant');
        assert.equal(data.choices[0].message.content, 'Hello from mock');
        assert.equal(data.choices[0].finish_reason, 'stop');
        assert.equal(data.usage.prompt_tokens, 10);
        assert.equal(data.usage.completion_tokens, 3);
        assert.equal(data.usage.total_tokens, 13);
    });

    it('answers [[chunks:N]] with N tokens non-streaming', T, async () => {
        const data = await client.chat.completions.create(ask('[[chunks:5]]'));
        assert.equal(data.choices[0].message.content, mockContent(5));
        assert.equal(data.choices[0].message.content, 'Hello from mock Hello from');
        assert.equal(data.usage.completion_tokens, 5);
    });

    it('streams role, content, finish chunks and [DONE], without usage unless asked', T, async () => {
        const stream = await client.chat.completions.create(ask('hi', { stream: true }));
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        assert.equal(chunks.length, 5, JSON.stringify(chunks));
        assert.equal(chunks[0].choices[0].delta.role, 'assistant');
        assert.deepEqual(chunks.slice(1, 4).map((c) => c.choices[0].delta.content), mockPieces(3));
        assert.equal(chunks[4].choices[0].finish_reason, 'stop');
        for (const c of chunks) {
            assert.equal(c.object, 'chat.completion.chunk');
            assert.equal('usage' in c, false, 'no usage field without include_usage');
            assert.equal(c.choices.length, 1);
        }

        const raw = await request(`${mock.baseURL}/chat/completions`, {
            method: 'POST', headers: { authorization: 'Bearer x' }, body: ask('hi', { stream: true }),
        });
        assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
        assert.ok(raw.text.endsWith('data: [DONE]\n\n'), raw.text);
        assert.ok(raw.text.split('\n\n').filter(Boolean).every((e) => e.startsWith('data: ')), raw.text);
    });

    it('streams a final usage chunk with choices [] when include_usage is true', T, async () => {
        const stream = await client.chat.completions.create(
            ask('[[chunks:4]]', { stream: true, stream_options: { include_usage: true } }));
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        const last = chunks.at(-1);
        assert.deepEqual(last.choices, []);
        assert.deepEqual([last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens], [10, 4, 14]);
        for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null, 'other chunks carry usage: null');
        assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), mockContent(4));
    });

    it('paces [[chunk_delay]] and [[delay]]', T, async () => {
        let t0 = Date.now();
        const stream = await client.chat.completions.create(ask('[[chunks:3]][[chunk_delay:100]]', { stream: true }));
        const times = [];
        for await (const c of stream) if (c.choices[0]?.delta?.content) times.push(Date.now() - t0);
        assert.equal(times.length, 3);
        assert.ok(times[2] >= 280, `three chunks 100 ms apart took ${times[2]} ms`);
        t0 = Date.now();
        await client.chat.completions.create(ask('[[delay:300]]'));
        assert.ok(Date.now() - t0 >= 290, 'delay 300 ms');
    });

    it('answers [[status:429]] with retry-after and an OpenAI error body', T, async () => {
        await assert.rejects(client.chat.completions.create(ask('[[status:429]]')), (e) => {
            assert.ok(e instanceof OpenAI.RateLimitError, String(e));
            assert.equal(e.status, 429);
            assert.equal(e.headers.get('retry-after'), '1');
            assert.equal(e.code, 'rate_limit_exceeded');
            assert.deepEqual(e.error, statusErrorBody(429).error);
            return true;
        });
        await assert.rejects(client.chat.completions.create(ask('[[status:500]]')), (e) => {
            assert.ok(e instanceof OpenAI.InternalServerError, String(e));
            assert.equal(e.status, 500);
            assert.equal(e.headers.get('retry-after'), null);
            assert.equal(e.error.type, 'server_error');
            return true;
        });
        /* A stream request gets a JSON error, as OpenAI does, not an event stream. */
        await assert.rejects(client.chat.completions.create(ask('[[status:503]]', { stream: true })),
                             (e) => e instanceof OpenAI.APIError && e.status === 503);
    });

    it('answers [[context]] exactly like OpenAI', T, async () => {
        const raw = await request(`${mock.baseURL}/chat/completions`, { method: 'POST', body: ask('[[context]]') });
        assert.equal(raw.status, 400);
        assert.deepEqual(raw.json, CONTEXT_ERROR);
        await assert.rejects(client.chat.completions.create(ask('[[context]]')), (e) => {
            assert.ok(e instanceof OpenAI.BadRequestError);
            assert.equal(e.code, 'context_length_exceeded');
            assert.equal(e.param, 'messages');
            assert.equal(e.type, 'invalid_request_error');
            return true;
        });
    });

    it('answers [[badjson]] with a 200 the SDK cannot parse', T, async () => {
        const raw = await request(`${mock.baseURL}/chat/completions`, { method: 'POST', body: ask('[[badjson]]') });
        assert.equal(raw.status, 200);
        assert.equal(raw.json, undefined);
        assert.throws(() => JSON.parse(raw.text));
        await assert.rejects(client.chat.completions.create(ask('[[badjson]]')));
        const stream = await client.chat.completions.create(ask('[[badjson]]', { stream: true }));
        await assert.rejects(async () => {
            for await (const c of stream) void c;
        }, SyntaxError);
    });

    it('cuts a stream after N content chunks with [[cut:N]]', T, async () => {
        const m = marker('cut');
        const stream = await client.chat.completions.create(ask(`[[cut:2]] ${m}`, { stream: true }));
        const seen = [];
        await assert.rejects(async () => {
            for await (const c of stream) seen.push(c.choices[0].delta.content);
        }, (e) => {
            /* undici reports the dropped chunked body as "terminated". */
            assert.ok(/terminated|other side closed|socket/i.test(`${e.message} ${e.cause?.message}`), String(e));
            return true;
        });
        assert.deepEqual(seen, ['', 'Hello', ' from']);
        const [rec] = await mock.waitForRequest(m);
        await waitFor(async () => (await mock.requests({ contains: m }))[0].closedAt, { what: 'cut socket closed' });
        const [done] = await mock.requests({ contains: m });
        assert.equal(done.cut, true);
        assert.equal(done.closedEarly, false, 'a cut by the mock is not an early close by the client');
        assert.equal(rec.completed, false);

        await assert.rejects(client.chat.completions.create(ask('[[cut:1]]')), 'non-streaming cut fails too');
    });

    it('never answers [[hang]], and records the client closing early', T, async () => {
        const m = marker('hang');
        const before = (await mock.stats()).closedEarly;
        const t0 = Date.now();
        await assert.rejects(client.chat.completions.create(ask(`[[hang]] ${m}`), { timeout: 400 }),
                             OpenAI.APIConnectionTimeoutError);
        assert.ok(Date.now() - t0 >= 390);
        await waitFor(async () => (await mock.requests({ contains: m }))[0]?.closedEarly, { what: 'closedEarly' });
        assert.equal((await mock.stats()).closedEarly, before + 1);
    });

    it('records an aborted delayed request and an abandoned stall as closed early', T, async () => {
        const m = marker('abort');
        const ac = new AbortController();
        const p = client.chat.completions.create(ask(`[[delay:3000]] ${m}`), { signal: ac.signal });
        await mock.waitForRequest(m);
        ac.abort();
        await assert.rejects(p, OpenAI.APIUserAbortError);
        const rec = await waitFor(async () => (await mock.requests({ contains: m })).find((r) => r.closedEarly),
                                  { timeout: 1000, what: 'closedEarly after abort' });
        assert.equal(rec.completed, false);

        const m2 = marker('stall');
        const stream = await client.chat.completions.create(ask(`[[stall:1]] ${m2}`, { stream: true }));
        for await (const c of stream) {
            if (c.choices[0].delta.content) break; /* the SDK aborts the request on break */
        }
        await waitFor(async () => (await mock.requests({ contains: m2 }))[0]?.closedEarly, { timeout: 1000,
                                                                                             what: 'stall closed' });
    });

    it('replies with the received body for [[echo]]', T, async () => {
        const body = ask('[[echo]] please', { temperature: 0.5, user: 'u-1', stream_options: undefined });
        const data = await client.chat.completions.create(body);
        const echoed = JSON.parse(data.choices[0].message.content);
        assert.equal(echoed.model, 'gpt-4o-mini');
        assert.equal(echoed.temperature, 0.5);
        assert.equal(echoed.user, 'u-1');
        assert.deepEqual(echoed.messages, body.messages);
        assert.equal(data.usage.completion_tokens, 1);

        const stream = await client.chat.completions.create(ask('[[echo]][[chunks:4]]', { stream: true }));
        let text = '';
        let n = 0;
        for await (const c of stream) {
            if (c.choices[0]?.delta?.content) {
                text += c.choices[0].delta.content;
                n++;
            }
        }
        assert.equal(n, 4);
        assert.equal(JSON.parse(text).stream, true);
    });

    it('records method, path, headers and parsed body; filters; resets', T, async () => {
        const m = marker('rec');
        await client.chat.completions.create(ask(`hello ${m}`, { max_tokens: 7 }));
        const [rec] = await mock.requests({ contains: m });
        assert.equal(rec.method, 'POST');
        assert.equal(rec.path, '/v1/chat/completions');
        assert.equal(rec.headers.authorization, 'Bearer sk-anything');
        assert.equal(rec.body.max_tokens, 7);
        assert.equal(rec.completed, true);
        assert.equal(rec.closedEarly, false);
        assert.equal((await mock.requests({ contains: 'no-such-marker-anywhere' })).length, 0);
        const bad = await request(`${mock.baseURL}/chat/completions`, { method: 'POST', body: '{"model":' });
        assert.equal(bad.status, 400);
        const all = await mock.requests();
        assert.equal(all.at(-1).rawBody, '{"model":', 'unparsable bodies are kept raw');
        const stats = await mock.stats();
        assert.ok(stats.requests >= 2 && stats.completed >= 2, JSON.stringify(stats));
        await mock.reset();
        assert.deepEqual(await mock.requests(), []);
        assert.equal((await mock.stats()).requests, 0);
    });

    it('validates requests like OpenAI and rejects bad directives loudly', T, async () => {
        const noMsgs = await request(`${mock.baseURL}/chat/completions`, { method: 'POST', body: { model: 'x' } });
        assert.equal(noMsgs.status, 400);
        assert.equal(noMsgs.json.error.param, 'messages');
        const get = await request(`${mock.baseURL}/chat/completions`);
        assert.equal(get.status, 405);
        assert.equal(typeof get.json.error.message, 'string');
        const typo = await request(`${mock.baseURL}/chat/completions`, { method: 'POST', body: ask('[[dealy:5]]') });
        assert.equal(typo.status, 400);
        assert.match(typo.json.error.message, /bad directive/);
        const nowhere = await request(`${mock.url}/chat/completions`, { method: 'POST', body: ask('hi') });
        assert.equal(nowhere.status, 404, 'only /v1/... exists, like api.openai.com');
    });

    it('lists models in OpenAI shape', T, async () => {
        const page = await client.models.list();
        const ids = page.data.map((x) => x.id);
        assert.ok(ids.includes('gpt-4o-mini'));
        for (const x of page.data) assert.equal(x.object, 'model');
        const one = await client.models.retrieve('gpt-4o-mini');
        assert.equal(one.id, 'gpt-4o-mini');
        await assert.rejects(client.models.retrieve('nope'), OpenAI.NotFoundError);
    });

    it('enforces --require-key with OpenAI 401 bodies', T, async () => {
        const good = new OpenAI({ baseURL: keyed.baseURL, apiKey: 'sk-upstream', maxRetries: 0 });
        const bad = new OpenAI({ baseURL: keyed.baseURL, apiKey: 'sk-wrong-key-123', maxRetries: 0 });
        const ok = await good.chat.completions.create(ask('hi'));
        assert.equal(ok.choices[0].message.content, 'Hello from mock');
        await assert.rejects(bad.chat.completions.create(ask('hi')), (e) => {
            assert.ok(e instanceof OpenAI.AuthenticationError);
            assert.equal(e.code, 'invalid_api_key');
            assert.ok(!e.message.includes('sk-wrong-key-123'), 'the key is masked');
            return true;
        });
        const none = await request(`${keyed.baseURL}/models`);
        assert.equal(none.status, 401);
        assert.equal(none.json.error.type, 'invalid_request_error');
        const intro = await request(`${keyed.url}/__mock/stats`);
        assert.equal(intro.status, 200, 'introspection needs no key');
        const recs = await keyed.requests();
        assert.ok(recs.some((r) => r.headers.authorization === 'Bearer sk-wrong-key-123'), 'rejected requests are recorded');
    });

    it('parses its own SSE into events the harness can read', T, async () => {
        const raw = await request(`${mock.baseURL}/chat/completions`, {
            method: 'POST', body: ask('[[chunks:2]]', { stream: true, stream_options: { include_usage: true } }),
        });
        const events = parseSSE(raw.text);
        assert.equal(events.at(-1).data, '[DONE]');
        const json = events.slice(0, -1).map((e) => JSON.parse(e.data));
        assert.equal(json.length, 5); /* role, 2 content, finish, usage */
        assert.deepEqual(json.at(-1).choices, []);
        assert.equal(json.at(-1).usage.completion_tokens, 2);
    });

    it('answers [[tool_call]] with a function call, whole or in fragments', T, async () => {
        const r = await client.chat.completions.create(ask('[[tool_call]]'));
        assert.equal(r.choices[0].finish_reason, 'tool_calls');
        assert.equal(r.choices[0].message.content, null);
        assert.deepEqual(r.choices[0].message.tool_calls, [TOOL_CALL]);

        const stream = await client.chat.completions.create(ask('[[tool_call]]', { stream: true }));
        const calls = [];
        let finish = null;
        let fragments = 0;
        for await (const c of stream) {
            for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
                calls[tc.index] ??= { id: '', type: '', function: { name: '', arguments: '' } };
                const acc = calls[tc.index];
                if (tc.id) acc.id = tc.id;
                if (tc.type) acc.type = tc.type;
                if (tc.function?.name) acc.function.name += tc.function.name;
                if (tc.function?.arguments) {
                    acc.function.arguments += tc.function.arguments;
                    fragments++;
                }
            }
            finish = c.choices[0]?.finish_reason ?? finish;
        }
        assert.deepEqual(calls, [TOOL_CALL]);
        assert.equal(fragments, 4);
        assert.equal(finish, 'tool_calls');
    });
    describe('per-model behaviours (/__mock/behave)', () => {
        const post = (model, extra = {}, text = 'hi') => request(`${mock.baseURL}/chat/completions`, {
            method: 'POST', body: { model, messages: [{ role: 'user', content: text }], ...extra },
        });
        after(async () => {
            await mock.clearBehave();
        });

        it('applies status, retry-after and retry-after-ms to one model only, until cleared', T, async () => {
            await mock.behave('bh-a', { status: 429, retry_after: 3, retry_after_ms: 2500 });
            const a = await post('bh-a');
            assert.equal(a.status, 429);
            assert.equal(a.headers.get('retry-after'), '3');
            assert.equal(a.headers.get('retry-after-ms'), '2500');
            assert.deepEqual(a.json, statusErrorBody(429, 'bh-a'));
            const b = await post('bh-b');
            assert.equal(b.status, 200, 'another model is untouched');
            await mock.behave('bh-a', { status: 503 });
            const a2 = await post('bh-a');
            assert.equal(a2.status, 503, 'a new behaviour replaces the old one');
            assert.equal(a2.headers.get('retry-after'), null, 'no retry-after unless asked for');
            await mock.clearBehave('bh-a');
            assert.equal((await post('bh-a')).status, 200);
            const st = await mock.modelStats('bh-a');
            assert.equal(st.requests, 3);
            assert.deepEqual(st.byStatus, { 429: 1, 503: 1, 200: 1 });
            assert.equal(st.times.length, 3);
            assert.ok(st.times.every((t, i) => i === 0 || t >= st.times[i - 1]), 'times are in order');
        });

        it('context_error and content_policy_error answer OpenAI 400 bodies', T, async () => {
            await mock.behave([{ model: 'bh-ctx', context_error: true }, { model: 'bh-cp', content_policy_error: true }]);
            const c = await post('bh-ctx');
            assert.equal(c.status, 400);
            assert.deepEqual(c.json, CONTEXT_ERROR);
            const p = await post('bh-cp');
            assert.equal(p.status, 400);
            assert.deepEqual(p.json, CONTENT_POLICY_ERROR);
            assert.equal(p.json.error.code, 'content_policy_violation');
        });

        it('count limits a behaviour to the next N requests', T, async () => {
            await mock.behave('bh-count', { status: 500, count: 2 });
            const got = [];
            for (let i = 0; i < 4; i++) got.push((await post('bh-count')).status);
            assert.deepEqual(got, [500, 500, 200, 200]);
        });

        it('fail_rate is seeded: the same seed gives the same sequence, near the rate', T, async () => {
            const run = async (model) => {
                await mock.behave(model, { fail_rate: 0.3, status: 502, seed: 42 });
                const out = [];
                for (let i = 0; i < 60; i++) out.push((await post(model)).status);
                return out;
            };
            const x = await run('bh-rate-1');
            const y = await run('bh-rate-2');
            assert.deepEqual(x, y, 'same seed, same faults');
            const fails = x.filter((s) => s === 502).length;
            assert.ok(fails >= 8 && fails <= 30, `${fails}/60 failed for fail_rate 0.3`);
            assert.ok(x.every((s) => s === 502 || s === 200));
            await mock.behave('bh-rate-3', { fail_rate: 1 });
            assert.equal((await post('bh-rate-3')).status, 500, 'fail_rate without a fault means 500');
        });

        it('latency_ms (+ jitter) delays the answer; in-flight and maxInFlight are counted', T, async () => {
            await mock.behave('bh-slow', { latency_ms: 300, latency_jitter_ms: 50 });
            const t0 = Date.now();
            const rs = await Promise.all([post('bh-slow'), post('bh-slow'), post('bh-slow')]);
            const el = Date.now() - t0;
            assert.ok(rs.every((r) => r.status === 200));
            assert.ok(el >= 290 && el < 1500, `three parallel 300 ms requests took ${el} ms`);
            const st = await mock.modelStats('bh-slow');
            assert.equal(st.maxInFlight, 3);
            assert.equal(st.inFlight, 0);
        });

        it('refuse resets the connection without an answer; hang never answers', T, async () => {
            await mock.behave('bh-refuse', { refuse: true });
            await assert.rejects(post('bh-refuse'), (e) => e instanceof TypeError, 'fetch fails: no HTTP answer');
            await waitFor(async () => (await mock.modelStats('bh-refuse')).byStatus.refused === 1,
                          { what: 'refused counted' });
            await mock.behave('bh-hang', { hang: true });
            const r = request(`${mock.baseURL}/chat/completions`, {
                method: 'POST', timeout: 400, body: { model: 'bh-hang', messages: [{ role: 'user', content: 'x' }] },
            });
            await assert.rejects(r, (e) => e.name === 'TimeoutError', 'no answer within 400 ms');
            await waitFor(async () => (await mock.modelStats('bh-hang')).byStatus.closed === 1,
                          { what: 'closed counted' });
        });

        it('cut_after_chunks and stall_after_chunks, streaming and not', T, async () => {
            await mock.behave('bh-cut', { cut_after_chunks: 1 });
            const r = await fetch(`${mock.baseURL}/chat/completions`, {
                method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000),
                body: JSON.stringify({ model: 'bh-cut', stream: true, messages: [{ role: 'user', content: 'x' }] }),
            });
            const { text, ended } = await readAll(r, 3000);
            assert.match(ended, /^error/, 'the stream is cut');
            assert.ok(!text.includes('[DONE]'));
            await assert.rejects(post('bh-cut'), 'non-streaming: half a body, then the socket dies');

            await mock.behave('bh-stall', { stall_after_chunks: 1 });
            const s = await fetch(`${mock.baseURL}/chat/completions`, {
                method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000),
                body: JSON.stringify({ model: 'bh-stall', stream: true, messages: [{ role: 'user', content: 'x' }] }),
            });
            const st = await readAll(s, 600);
            assert.ok(st.timedOut, 'the stream stalls');
            assert.equal(parseSSE(st.text).length, 2, 'role chunk and one content chunk');
            await assert.rejects(request(`${mock.baseURL}/chat/completions`, {
                method: 'POST', timeout: 500, body: { model: 'bh-stall', messages: [{ role: 'user', content: 'x' }] },
            }), 'non-streaming: headers and half a body, then silence');
        });

        it('chunks and chunk_delay_ms shape normal answers', T, async () => {
            await mock.behave('bh-chunks', { chunks: 5, chunk_delay_ms: 60 });
            const t0 = Date.now();
            const r = await post('bh-chunks', { stream: true });
            assert.ok(Date.now() - t0 >= 290, 'five chunks 60 ms apart');
            const content = parseSSE(r.text).filter((e) => e.data !== '[DONE]')
                .map((e) => JSON.parse(e.data).choices[0].delta.content ?? '').join('');
            assert.equal(content, mockContent(5));
        });

        it('rejects unknown fields and bad values loudly; stats of an unseen model are zero', T, async () => {
            for (const bad of [{ model: 'x', statuss: 500 }, { status: 500 }, { model: 'x', fail_rate: 2 },
                               { model: 'x', latency_ms: -1 }, { model: 'x', refuse: 'yes' }]) {
                const r = await request(`${mock.url}/__mock/behave`, { method: 'POST', body: bad });
                assert.equal(r.status, 400, JSON.stringify(bad));
            }
            const st = await mock.modelStats('never-seen');
            assert.equal(st.requests, 0);
            assert.deepEqual(st.times, []);
            await pool(10, 5, () => post('bh-pool'));
            assert.equal((await mock.modelStats('bh-pool')).requests, 10);
            assert.equal((await mock.stats()).models['bh-pool'].requests, 10);
        });
    });
});
