/*
 * The Anthropic-compatible client API (POST /v1/messages, /v1/messages/count_tokens) driven by the
 * official @anthropic-ai/sdk, against the mock OpenAI upstream and the built-in fake provider: the
 * request reaches the upstream in the canonical (OpenAI) shape, and answers, streams and errors come
 * back in Anthropic's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { TOOL_CALL, mockContent, mockPieces } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, fakeDeployment, marker, mockDeployment, parseSSE, request, startGateway,
    startMock,
} from './harness.mjs';

const T = { timeout: 20_000 };
const MAX_BYTES = 256 * 1024;

const WEATHER_TOOL = {
    name: 'get_weather',
    description: 'Current weather of a city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

describe('anthropic messages API', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        gw = await startGateway({
            model_list: [
                mockDeployment(mock, { name: 'gpt-mock', id: 'dep-anth-mock' }),
                fakeDeployment({ name: 'fake-model', id: 'dep-anth-fake', response: 'Hi there friend' }),
            ],
            general_settings: { master_key: MASTER_KEY },
            /* Errors reach the client at once: this file tests their shape, not retries. */
            router_settings: { num_retries: 0 },
            server: { max_request_bytes: MAX_BYTES },
        });
        client = new Anthropic({ baseURL: gw.url, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    /* The one upstream request this test made (found by its marker). */
    async function upstreamBody(m) {
        const list = await mock.waitForRequest(m);
        assert.equal(list.length, 1, 'exactly one upstream request');
        return list[0].body;
    }

    /* POST /v1/messages by hand, for what the SDK hides (raw events, headers). */
    const post = (body, headers = {}, path = '/v1/messages') => request(gw.url + path, {
        method: 'POST',
        headers: { 'x-api-key': MASTER_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json',
                   ...headers },
        body,
    });

    it('messages.create through the OpenAI mock: message shape, usage, upstream body', T, async () => {
        const m = marker('anth-create');
        const msg = await client.messages.create({
            model: 'gpt-mock',
            max_tokens: 100,
            temperature: 0.2,
            stop_sequences: ['STOP'],
            metadata: { user_id: 'user-42' },
            messages: [{ role: 'user', content: `hi ${m}` }],
        });
        assert.equal(msg.type, 'message');
        assert.equal(msg.role, 'assistant');
        assert.equal(msg.model, 'gpt-mock');
        assert.match(msg.id, /^msg_/);
        assert.deepEqual(msg.content, [{ type: 'text', text: mockContent(3) }]);
        assert.equal(msg.stop_reason, 'end_turn');
        assert.equal(msg.stop_sequence, null);
        assert.deepEqual(msg.usage, { input_tokens: 10, output_tokens: 3, cache_creation_input_tokens: 0,
                                      cache_read_input_tokens: 0 });
        const up = await upstreamBody(m);
        assert.deepEqual(up.messages, [{ role: 'user', content: `hi ${m}` }]);
        assert.equal(up.max_tokens, 100);
        assert.equal(up.temperature, 0.2);
        assert.deepEqual(up.stop, ['STOP']);
        assert.equal(up.user, 'user-42');
        assert.equal(up.model, 'gpt-4o-mini');
        assert.equal(up.stream, undefined);
    });

    it('messages.create through the fake provider', T, async () => {
        const msg = await client.messages.create({
            model: 'fake-model', max_tokens: 50, messages: [{ role: 'user', content: 'hello there' }],
        });
        assert.deepEqual(msg.content, [{ type: 'text', text: 'Hi there friend' }]);
        assert.equal(msg.stop_reason, 'end_turn');
        assert.equal(msg.usage.output_tokens, 3);
        assert.equal(msg.usage.input_tokens, 3); /* "hello there" is 11 bytes: ceil(11 / 4) */
    });

    it('a tool call comes back as a tool_use block with parsed input', T, async () => {
        const m = marker('anth-tool');
        const msg = await client.messages.create({
            model: 'gpt-mock',
            max_tokens: 100,
            tools: [WEATHER_TOOL],
            tool_choice: { type: 'auto', disable_parallel_tool_use: true },
            messages: [{ role: 'user', content: `weather in Paris? ${m} [[tool_call]]` }],
        });
        assert.equal(msg.stop_reason, 'tool_use');
        assert.deepEqual(msg.content, [{
            type: 'tool_use', id: TOOL_CALL.id, name: 'get_weather', input: JSON.parse(TOOL_CALL.function.arguments),
        }]);
        const up = await upstreamBody(m);
        assert.deepEqual(up.tools, [{ type: 'function', function: {
            name: 'get_weather', description: WEATHER_TOOL.description, parameters: WEATHER_TOOL.input_schema,
        } }]);
        assert.equal(up.tool_choice, 'auto');
        assert.equal(up.parallel_tool_calls, false);
    });

    it('messages.stream with text: events in order, finalMessage and usage', T, async () => {
        const m = marker('anth-stream');
        const stream = client.messages.stream({
            model: 'gpt-mock', max_tokens: 100, messages: [{ role: 'user', content: `stream ${m} [[chunks:4]]` }],
        });
        const texts = [];
        stream.on('text', (t) => texts.push(t));
        const msg = await stream.finalMessage();
        assert.deepEqual(texts, mockPieces(4));
        assert.deepEqual(msg.content, [{ type: 'text', text: mockContent(4) }]);
        assert.equal(msg.stop_reason, 'end_turn');
        assert.equal(msg.model, 'gpt-mock');
        assert.equal(msg.usage.input_tokens, 10);
        assert.equal(msg.usage.output_tokens, 4);
        const up = await upstreamBody(m);
        assert.equal(up.stream, true);
    });

    it('the raw stream: SSE event names match their data, block indexes and ping as Anthropic sends them', T,
       async () => {
           const m = marker('anth-raw');
           const r = await post({ model: 'gpt-mock', max_tokens: 10, stream: true,
                                  messages: [{ role: 'user', content: `raw ${m}` }] });
           assert.equal(r.status, 200, r.text);
           assert.match(r.headers.get('content-type'), /^text\/event-stream/);
           const events = parseSSE(r.text);
           for (const e of events) assert.equal(JSON.parse(e.data).type, e.event);
           assert.deepEqual(events.map((e) => e.event), [
               'message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_delta',
               'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
           ]);
           const data = events.map((e) => JSON.parse(e.data));
           assert.deepEqual(data[0].message.content, []);
           assert.equal(data[0].message.usage.output_tokens, 0);
           assert.deepEqual(data[2], { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
           assert.deepEqual(data[3].delta, { type: 'text_delta', text: mockPieces(3)[0] });
           assert.deepEqual(data[7].delta, { stop_reason: 'end_turn', stop_sequence: null });
           assert.equal(data[7].usage.output_tokens, 3);
           assert.equal(data[7].usage.input_tokens, 10);
       });

    it('messages.stream with a tool call: input_json_delta fragments build the input', T, async () => {
        const m = marker('anth-stream-tool');
        const stream = client.messages.stream({
            model: 'gpt-mock',
            max_tokens: 100,
            tools: [WEATHER_TOOL],
            messages: [{ role: 'user', content: `weather ${m} [[tool_call]]` }],
        });
        const fragments = [];
        stream.on('inputJson', (partial) => fragments.push(partial));
        const msg = await stream.finalMessage();
        assert.equal(fragments.length, 4, 'one input_json_delta per upstream argument fragment');
        assert.equal(msg.stop_reason, 'tool_use');
        assert.deepEqual(msg.content, [{
            type: 'tool_use', id: TOOL_CALL.id, name: 'get_weather', input: JSON.parse(TOOL_CALL.function.arguments),
        }]);
        assert.equal(msg.usage.input_tokens, 10);
        assert.equal(msg.usage.output_tokens, 4);
    });

    it('messages.stream through the fake provider', T, async () => {
        const msg = await client.messages.stream({
            model: 'fake-model', max_tokens: 50, messages: [{ role: 'user', content: 'stream please' }],
        }).finalMessage();
        assert.deepEqual(msg.content, [{ type: 'text', text: 'Hi there friend' }]);
        assert.equal(msg.usage.output_tokens, 3);
    });

    it('system prompt, multi-turn and a tool_result round trip reach the upstream in OpenAI shape', T, async () => {
        const m = marker('anth-turns');
        const msg = await client.messages.create({
            model: 'gpt-mock',
            max_tokens: 200,
            system: [{ type: 'text', text: 'You are terse.' },
                     { type: 'text', text: 'Cache me.', cache_control: { type: 'ephemeral' } }],
            tools: [WEATHER_TOOL],
            messages: [
                { role: 'user', content: 'What is the weather in Paris?' },
                { role: 'assistant', content: [
                    { type: 'text', text: 'Let me check.' },
                    { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
                ] },
                { role: 'user', content: [
                    { type: 'tool_result', tool_use_id: 'toolu_01', content: '18C and sunny' },
                    { type: 'text', text: `thanks ${m}` },
                ] },
            ],
        });
        assert.equal(msg.content[0].text, mockContent(3));
        const up = await upstreamBody(m);
        /* Whether cache_control reaches an OpenAI upstream is the provider's choice (the unit tests
         * check that the canonical request keeps it): compare without it. */
        const noCache = JSON.parse(JSON.stringify(up.messages, (k, v) => (k === 'cache_control' ? undefined : v)));
        assert.deepEqual(noCache, [
            { role: 'system', content: [{ type: 'text', text: 'You are terse.' },
                                        { type: 'text', text: 'Cache me.' }] },
            { role: 'user', content: 'What is the weather in Paris?' },
            { role: 'assistant', content: 'Let me check.', tool_calls: [
                { id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            ] },
            { role: 'tool', tool_call_id: 'toolu_01', content: '18C and sunny' },
            { role: 'user', content: [{ type: 'text', text: `thanks ${m}` }] },
        ]);
    });

    it('images (base64 and URL) become image_url parts', T, async () => {
        const m = marker('anth-image');
        const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
        await client.messages.create({
            model: 'gpt-mock',
            max_tokens: 20,
            messages: [{ role: 'user', content: [
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
                { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
                { type: 'text', text: `what is this? ${m}` },
            ] }],
        });
        const up = await upstreamBody(m);
        assert.deepEqual(up.messages[0].content, [
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            { type: 'text', text: `what is this? ${m}` },
        ]);
    });

    it('an unknown model is a NotFoundError with not_found_error', T, async () => {
        await assert.rejects(
            client.messages.create({ model: 'no-such-model', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
            (e) => {
                assert.ok(e instanceof Anthropic.NotFoundError, `got ${e?.constructor?.name}: ${e?.message}`);
                assert.equal(e.status, 404);
                assert.equal(e.type, 'not_found_error');
                assert.equal(e.error.type, 'error');
                assert.match(e.error.error.message, /no-such-model/);
                assert.ok(e.requestID, 'request-id header');
                return true;
            });
    });

    it('an upstream 429 is a RateLimitError with rate_limit_error', T, async () => {
        const m = marker('anth-429');
        await assert.rejects(
            client.messages.create({ model: 'gpt-mock', max_tokens: 5,
                                     messages: [{ role: 'user', content: `${m} [[status:429]]` }] }),
            (e) => {
                assert.ok(e instanceof Anthropic.RateLimitError, `got ${e?.constructor?.name}: ${e?.message}`);
                assert.equal(e.type, 'rate_limit_error');
                assert.equal(e.error.type, 'error');
                return true;
            });
    });

    it('an upstream 503 is a 529 overloaded_error, and a failure mid-stream is an error event', T, async () => {
        const r = await post({ model: 'gpt-mock', max_tokens: 5,
                               messages: [{ role: 'user', content: `${marker('anth-503')} [[status:503]]` }] });
        assert.equal(r.status, 529, 'overloaded is 529, as Anthropic answers it');
        assert.equal(r.json.type, 'error');
        assert.equal(r.json.error.type, 'overloaded_error');

        const stream = client.messages.stream({
            model: 'gpt-mock', max_tokens: 5, messages: [{ role: 'user', content: `${marker('anth-cut')} [[cut:2]]` }],
        });
        const texts = [];
        stream.on('text', (t) => texts.push(t));
        await assert.rejects(stream.finalMessage(), (e) => {
            assert.ok(e instanceof Anthropic.APIError, `got ${e?.constructor?.name}: ${e?.message}`);
            assert.equal(e.type, 'api_error');
            return true;
        });
        assert.deepEqual(texts, mockPieces(3).slice(0, 2));
    });

    it('bad bodies are BadRequestErrors with invalid_request_error', T, async () => {
        await assert.rejects(
            client.messages.create({ model: 'gpt-mock', messages: [{ role: 'user', content: 'x' }] }),
            (e) => {
                assert.ok(e instanceof Anthropic.BadRequestError, `got ${e?.constructor?.name}: ${e?.message}`);
                assert.equal(e.type, 'invalid_request_error');
                assert.match(e.message, /max_tokens/);
                return true;
            });
        await assert.rejects(
            client.messages.create({ model: 'gpt-mock', max_tokens: 5,
                                     tools: [{ type: 'web_search_20250305', name: 'web_search' }],
                                     messages: [{ role: 'user', content: 'x' }] }),
            (e) => e instanceof Anthropic.BadRequestError && /server tool/.test(e.message));
        const r = await post('{"model":', {});
        assert.equal(r.status, 400);
        assert.deepEqual(Object.keys(r.json).sort(), ['error', 'request_id', 'type']);
        assert.equal(r.json.error.type, 'invalid_request_error');
    });

    it('a body over max_request_bytes is 413 request_too_large; GET is 405', T, async () => {
        const r = await post({ model: 'fake-model', max_tokens: 5,
                               messages: [{ role: 'user', content: 'x'.repeat(MAX_BYTES + 4096) }] });
        assert.equal(r.status, 413, r.text);
        assert.equal(r.json.type, 'error');
        assert.equal(r.json.error.type, 'request_too_large');
        const g = await request(`${gw.url}/v1/messages`, { headers: { 'x-api-key': MASTER_KEY } });
        assert.equal(g.status, 405);
        assert.equal(g.json.error.type, 'invalid_request_error');
    });

    it('a wrong key is an AuthenticationError; Authorization: Bearer works as well as x-api-key', T, async () => {
        const bad = new Anthropic({ baseURL: gw.url, apiKey: 'sk-wrong', maxRetries: 0 });
        await assert.rejects(
            bad.messages.create({ model: 'gpt-mock', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
            (e) => e instanceof Anthropic.AuthenticationError && e.type === 'authentication_error');
        const bearer = new Anthropic({ baseURL: gw.url, apiKey: null, authToken: MASTER_KEY, maxRetries: 0 });
        const msg = await bearer.messages.create({ model: 'fake-model', max_tokens: 5,
                                                   messages: [{ role: 'user', content: 'x' }] });
        assert.equal(msg.content[0].text, 'Hi there friend');
        const r = await request(`${gw.url}/v1/messages`, {
            method: 'POST',
            headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
            body: { model: 'fake-model', max_tokens: 5, messages: [{ role: 'user', content: 'no version header' }] },
        });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.type, 'message');
    });

    it('any dated anthropic-version header is accepted', T, async () => {
        for (const v of ['2023-06-01', '2023-01-01', '2024-10-22']) {
            const r = await post({ model: 'fake-model', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
                                 { 'anthropic-version': v });
            assert.equal(r.status, 200, `${v}: ${r.text}`);
            assert.equal(r.json.content[0].text, 'Hi there friend');
        }
    });

    it('the beta client (POST /v1/messages?beta=true) works too', T, async () => {
        const msg = await client.beta.messages.create({
            model: 'fake-model', max_tokens: 5, messages: [{ role: 'user', content: 'beta' }],
            betas: ['token-efficient-tools-2025-02-19'],
        });
        assert.equal(msg.content[0].text, 'Hi there friend');
    });

    it('count_tokens gives an estimate; unknown models are 404', T, async () => {
        const small = await client.messages.countTokens({
            model: 'gpt-mock', messages: [{ role: 'user', content: 'Hello, how are you?' }],
        });
        assert.ok(Number.isInteger(small.input_tokens) && small.input_tokens > 0, JSON.stringify(small));
        const big = await client.messages.countTokens({
            model: 'gpt-mock', system: 'x'.repeat(4000), messages: [{ role: 'user', content: 'Hello, how are you?' }],
        });
        assert.ok(big.input_tokens >= small.input_tokens + 900, `${big.input_tokens} vs ${small.input_tokens}`);
        await assert.rejects(
            client.messages.countTokens({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
            (e) => e instanceof Anthropic.NotFoundError && e.type === 'not_found_error');
    });
});
