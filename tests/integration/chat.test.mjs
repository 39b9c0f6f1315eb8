/*
 * Chat completions through the gateway, with curl and the official openai SDK: the mock upstream for
 * the openai provider, and the built-in fake provider.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { TOOL_CALL, mockContent, mockPieces } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, curl, fakeDeployment, marker, mockDeployment, parseSSE, startGateway, startMock,
    userMessage,
} from './harness.mjs';

const T = { timeout: 20_000 };

describe('chat completions', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        gw = await startGateway({
            model_list: [
                mockDeployment(mock, { id: 'dep-mock-1' }),
                /* The ${NAME} spelling of an environment reference, inside a string. */
                mockDeployment(mock, { name: 'gpt-mock-env', id: 'dep-mock-env',
                                       params: { api_key: '${UPSTREAM_KEY}' } }),
                fakeDeployment({ id: 'dep-fake-1' }),
                { model_name: 'fake-default', litellm_params: { model: 'fake/fake-1' }, model_info: { id: 'dep-fake-2' } },
                fakeDeployment({ name: 'fake-slow', id: 'dep-fake-3', response: null,
                                 params: { latency: '300ms', token_latency: '50ms', completion_tokens: 4 } }),
            ],
            general_settings: { master_key: MASTER_KEY },
        });
        client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    const curlChat = (path, body, headers = []) => curl([
        '-X', 'POST', `${gw.url}${path}`,
        '-H', `Authorization: Bearer ${MASTER_KEY}`,
        '-H', 'Content-Type: application/json',
        ...headers.flatMap((h) => ['-H', h]),
        '--data-binary', JSON.stringify(body),
    ]);

    function assertMockCompletion(json, completionTokens = 3) {
        assert.equal(json.object, 'chat.completion', JSON.stringify(json));
        assert.equal(json.choices.length, 1);
        assert.equal(json.choices[0].message.role, 'assistant');
        assert.equal(json.choices[0].message.content, mockContent(completionTokens));
        assert.equal(json.choices[0].finish_reason, 'stop');
        assert.equal(json.usage.prompt_tokens, 10);
        assert.equal(json.usage.completion_tokens, completionTokens);
        assert.equal(json.usage.total_tokens, 10 + completionTokens);
    }

    it('curl: non-streaming completion through the mock, with gateway headers', T, async () => {
        const m = marker('curl');
        const r = await curlChat('/v1/chat/completions', { model: 'gpt-mock', messages: userMessage(`hi ${m}`) });
        assert.equal(r.status, 200, r.body);
        assert.match(r.headers['content-type'] ?? '', /^application\/json/);
        assertMockCompletion(JSON.parse(r.body));
        assert.ok(r.headers['x-request-id'], 'x-request-id is present when the client sent none');
        assert.doesNotMatch(r.headers['x-request-id'], /^req_mock_/,
                            "x-request-id must be the gateway's id, not the upstream's x-request-id");
        assert.equal(r.headers['x-gantry-model-id'], 'dep-mock-1');
        assert.match(r.headers['x-gantry-overhead-duration-ms'] ?? '', /^\d+(\.\d+)?$/,
                     'x-gantry-overhead-duration-ms is a number');
        await mock.waitForRequest(m);
    });

    it('curl: echoes the client x-request-id', T, async () => {
        const id = `client-req-${marker()}`;
        const r = await curlChat('/v1/chat/completions', { model: 'gpt-mock', messages: userMessage('hi') },
                                 [`x-request-id: ${id}`]);
        assert.equal(r.status, 200, r.body);
        assert.equal(r.headers['x-request-id'], id);
    });

    it('curl: /chat/completions without /v1 works', T, async () => {
        const r = await curlChat('/chat/completions', { model: 'gpt-mock', messages: userMessage('hi') });
        assert.equal(r.status, 200, r.body);
        assertMockCompletion(JSON.parse(r.body));
    });

    it('SDK: non-streaming completion with usage and headers', T, async () => {
        const m = marker('sdk');
        const { data, response } = await client.chat.completions
            .create({ model: 'gpt-mock', messages: userMessage(`[[chunks:4]] ${m}`) })
            .withResponse();
        assert.equal(response.status, 200);
        assertMockCompletion(data, 4);
        assert.ok(response.headers.get('x-request-id'));
        assert.equal(response.headers.get('x-gantry-model-id'), 'dep-mock-1');
        assert.match(response.headers.get('x-gantry-overhead-duration-ms') ?? '', /^\d+(\.\d+)?$/);

        const sent = 'sdk-req-' + m;
        const again = await client.chat.completions
            .create({ model: 'gpt-mock', messages: userMessage('hi') }, { headers: { 'x-request-id': sent } })
            .withResponse();
        assert.equal(again.response.headers.get('x-request-id'), sent);
    });

    it('forwards the upstream model id and the upstream key, never the master key', T, async () => {
        const m = marker('fwd');
        await client.chat.completions.create({ model: 'gpt-mock', messages: userMessage(`hi ${m}`) });
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.method, 'POST');
        assert.equal(rec.path, '/v1/chat/completions');
        assert.equal(rec.body.model, 'gpt-4o-mini', 'config model openai/gpt-4o-mini → upstream gpt-4o-mini');
        assert.equal(rec.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        assert.ok(!JSON.stringify(rec.headers).includes(MASTER_KEY), 'the master key must not reach the upstream');
        assert.deepEqual(rec.body.messages, userMessage(`hi ${m}`));
    });

    it('SDK: streaming yields the mock text in order and ends cleanly', T, async () => {
        const m = marker('stream');
        const stream = await client.chat.completions.create({
            model: 'gpt-mock', messages: userMessage(`[[chunks:5]] ${m}`), stream: true,
        });
        const pieces = [];
        let finish = null;
        for await (const c of stream) {
            assert.equal(c.object, 'chat.completion.chunk', JSON.stringify(c));
            const choice = c.choices[0];
            if (choice?.delta?.content) pieces.push(choice.delta.content);
            if (choice?.finish_reason) finish = choice.finish_reason;
        }
        assert.equal(pieces.join(''), mockContent(5));
        assert.deepEqual(pieces, mockPieces(5), 'chunks arrive in order, as the upstream sent them');
        assert.equal(finish, 'stop');
    });

    it('curl: a stream is text/event-stream of JSON data events ending in [DONE]', T, async () => {
        const r = await curl(['-N', '-X', 'POST', `${gw.url}/v1/chat/completions`,
                              '-H', `Authorization: Bearer ${MASTER_KEY}`, '-H', 'Content-Type: application/json',
                              '--data-binary', JSON.stringify({ model: 'gpt-mock', messages: userMessage('hi'),
                                                                stream: true })]);
        assert.equal(r.status, 200, r.body);
        assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/);
        assert.ok(r.body.endsWith('data: [DONE]\n\n'), `stream must end with data: [DONE]; got ${JSON.stringify(r.body.slice(-200))}`);
        const events = parseSSE(r.body);
        assert.equal(events.filter((e) => e.data === '[DONE]').length, 1);
        const json = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
        assert.ok(json.every((j) => !j.error), 'no error events');
        assert.equal(json.map((j) => j.choices[0]?.delta?.content ?? '').join(''), mockContent(3));
        assert.ok(r.headers['x-request-id']);
        assert.equal(r.headers['x-gantry-model-id'], 'dep-mock-1');
    });

    it('stream_options.include_usage gives one final usage chunk', T, async () => {
        const stream = await client.chat.completions.create({
            model: 'gpt-mock', messages: userMessage('[[chunks:5]]'), stream: true,
            stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        const usageChunks = chunks.filter((c) => c.usage);
        assert.equal(usageChunks.length, 1, JSON.stringify(chunks));
        const last = chunks.at(-1);
        assert.equal(last, usageChunks[0], 'the usage chunk is the last one');
        assert.deepEqual(last.choices, []);
        assert.equal(last.usage.prompt_tokens, 10);
        assert.equal(last.usage.completion_tokens, 5);
        assert.equal(last.usage.total_tokens, 15);
    });

    it('without include_usage the client gets no usage chunk, though the upstream was asked for usage', T, async () => {
        const m = marker('nousage');
        const stream = await client.chat.completions.create({
            model: 'gpt-mock', messages: userMessage(`hi ${m}`), stream: true,
        });
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        assert.ok(chunks.length >= 2);
        for (const c of chunks) {
            assert.ok(c.choices.length > 0, `usage-only chunk leaked to the client: ${JSON.stringify(c)}`);
            assert.ok(c.usage === undefined || c.usage === null, `usage leaked: ${JSON.stringify(c)}`);
        }
        assert.equal(chunks.map((c) => c.choices[0].delta?.content ?? '').join(''), mockContent(3));
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.body.stream, true);
        assert.equal(rec.body.stream_options?.include_usage, true,
                     'the gateway asks the upstream for usage even when the client did not');
    });

    it('fake provider answers non-streaming deterministically without any upstream', T, async () => {
        const m = marker('fake');
        const first = await client.chat.completions
            .create({ model: 'fake-model', messages: userMessage(`hi ${m}`) }).withResponse();
        const second = await client.chat.completions.create({ model: 'fake-model', messages: userMessage(`hi ${m}`) });
        assert.equal(first.data.choices[0].message.content, 'Hi there friend');
        assert.equal(second.choices[0].message.content, 'Hi there friend');
        assert.equal(first.data.choices[0].finish_reason, 'stop');
        assert.equal(first.response.headers.get('x-gantry-model-id'), 'dep-fake-1');
        assert.equal((await mock.requests({ contains: m })).length, 0, 'the fake provider made no upstream call');
    });

    it('fake provider streams deterministically', T, async () => {
        const m = marker('fakestream');
        const runs = [];
        for (let i = 0; i < 2; i++) {
            const stream = await client.chat.completions.create({
                model: 'fake-model', messages: userMessage(`hi ${m}`), stream: true,
            });
            const pieces = [];
            let finish = null;
            for await (const c of stream) {
                if (c.choices[0]?.delta?.content) pieces.push(c.choices[0].delta.content);
                if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
            }
            assert.equal(pieces.join(''), 'Hi there friend');
            assert.equal(finish, 'stop');
            runs.push(pieces);
        }
        assert.deepEqual(runs[0], runs[1], 'same chunks both times');
        assert.equal((await mock.requests({ contains: m })).length, 0);
    });

    it('${UPSTREAM_KEY} inside a string resolves from the environment', T, async () => {
        const m = marker('env');
        const r = await client.chat.completions.create({ model: 'gpt-mock-env', messages: userMessage(`hi ${m}`) });
        assert.equal(r.choices[0].message.content, mockContent(3));
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    });

    it('fake provider defaults: 16 deterministic tokens, the same streamed and not', T, async () => {
        const a = await client.chat.completions.create({ model: 'fake-default', messages: userMessage('one') });
        const b = await client.chat.completions.create({ model: 'fake-default', messages: userMessage('one') });
        const text = a.choices[0].message.content;
        assert.equal(typeof text, 'string');
        assert.ok(text.length > 0);
        assert.equal(b.choices[0].message.content, text, 'deterministic');
        assert.equal(a.usage.completion_tokens, 16, 'completion_tokens defaults to 16');
        const stream = await client.chat.completions.create({
            model: 'fake-default', messages: userMessage('one'), stream: true, stream_options: { include_usage: true },
        });
        let streamed = '';
        let usage = null;
        for await (const c of stream) {
            streamed += c.choices[0]?.delta?.content ?? '';
            if (c.usage) usage = c.usage;
        }
        assert.equal(streamed, text);
        assert.equal(usage?.completion_tokens, 16, 'include_usage works for the fake provider too');
    });

    it('fake provider latency and token_latency pace the answer', T, async () => {
        let t0 = Date.now();
        const r = await client.chat.completions.create({ model: 'fake-slow', messages: userMessage('hi') });
        assert.ok(Date.now() - t0 >= 290, `latency: 300ms, answered after ${Date.now() - t0} ms`);
        assert.equal(r.usage.completion_tokens, 4);
        t0 = Date.now();
        const stream = await client.chat.completions.create({
            model: 'fake-slow', messages: userMessage('hi'), stream: true,
        });
        const times = [];
        for await (const c of stream) if (c.choices[0]?.delta?.content) times.push(Date.now() - t0);
        assert.ok(times.length >= 2, `several content chunks: ${times}`);
        assert.ok(times[0] >= 290, `first chunk after latency: 300ms, got ${times[0]} ms`);
        /* Lower bounds only: a busy machine may deliver late, never early. */
        assert.ok(times.at(-1) >= 300 + (times.length - 1) * 50 - 15,
                  `latency 300ms + token_latency 50ms between chunks, got chunks at ${times} ms`);
    });

    it('40 concurrent requests, streamed and not, each get their own answer', T, async () => {
        const jobs = Array.from({ length: 40 }, (_, i) => ({ i, m: marker(`conc${i}`), stream: i % 2 === 1 }));
        const results = await Promise.all(jobs.map(async ({ m, stream }) => {
            const body = { model: 'gpt-mock', messages: userMessage(`[[echo]][[chunks:3]][[chunk_delay:20]] ${m}`) };
            if (!stream) {
                const r = await client.chat.completions.create(body);
                return r.choices[0].message.content;
            }
            const s = await client.chat.completions.create({ ...body, stream: true });
            let text = '';
            for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
            return text;
        }));
        for (const [k, text] of results.entries()) {
            let echoed;
            assert.doesNotThrow(() => {
                echoed = JSON.parse(text);
            }, `answer ${k} is the echoed body: ${text}`);
            const sent = echoed.messages.at(-1).content;
            assert.ok(sent.endsWith(jobs[k].m), `request ${k} got another request's answer: ${sent}`);
            assert.equal(echoed.stream === true, jobs[k].stream);
        }
    });

    it('forwards OpenAI request parameters to the upstream unchanged', T, async () => {
        const m = marker('params');
        const params = {
            temperature: 0.25,
            top_p: 0.9,
            max_tokens: 33,
            stop: ['END', 'STOP'],
            seed: 1234,
            user: 'user-42',
            n: 1,
            presence_penalty: 0.5,
            frequency_penalty: -0.5,
            logit_bias: { 50256: -100 },
            response_format: { type: 'json_object' },
            logprobs: true,
            top_logprobs: 2,
            parallel_tool_calls: false,
            tool_choice: 'auto',
            tools: [{
                type: 'function',
                function: {
                    name: 'get_weather',
                    description: 'Weather for a city',
                    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
                },
            }],
        };
        const messages = [
            { role: 'system', content: 'You are terse.' },
            { role: 'user', content: [{ type: 'text', text: `part one ${m}` },
                                      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } }] },
            { role: 'assistant', content: null,
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
            { role: 'tool', tool_call_id: 'call_1', content: '{"temp":3}' },
            { role: 'user', content: `and now? ${m}` },
        ];
        await client.chat.completions.create({ model: 'gpt-mock', messages, ...params });
        const [rec] = await mock.waitForRequest(m);
        for (const [k, v] of Object.entries(params)) {
            assert.deepEqual(rec.body[k], v, `parameter ${k} reached the upstream unchanged`);
        }
        assert.deepEqual(rec.body.messages, messages, 'messages (parts, tool calls, tool results) unchanged');
    });

    it('SDK: a tool call comes back intact, non-streaming and streaming', T, async () => {
        const r = await client.chat.completions.create({ model: 'gpt-mock', messages: userMessage('[[tool_call]]') });
        assert.equal(r.choices[0].finish_reason, 'tool_calls');
        assert.deepEqual(r.choices[0].message.tool_calls, [TOOL_CALL]);

        const stream = await client.chat.completions.create({
            model: 'gpt-mock', messages: userMessage('[[tool_call]]'), stream: true,
        });
        const calls = [];
        let finish = null;
        for await (const c of stream) {
            for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
                calls[tc.index] ??= { id: '', type: '', function: { name: '', arguments: '' } };
                const acc = calls[tc.index];
                if (tc.id) acc.id = tc.id;
                if (tc.type) acc.type = tc.type;
                acc.function.name += tc.function?.name ?? '';
                acc.function.arguments += tc.function?.arguments ?? '';
            }
            finish = c.choices[0]?.finish_reason ?? finish;
        }
        assert.deepEqual(calls, [TOOL_CALL], 'tool call deltas reassemble to the upstream call');
        assert.equal(finish, 'tool_calls');
    });
});
