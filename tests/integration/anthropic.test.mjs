/*
 * The anthropic provider end to end: the gateway with anthropic/... deployments pointing at
 * tests/mock/anthropic-mock.mjs (Anthropic's Messages wire format), driven by the official openai
 * SDK.  Every test checks both sides: what the client gets, and what the mock recorded as the
 * upstream request (the translated Messages body and its headers).
 */
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
    CACHE_USAGE, CONTEXT_MESSAGE, FORCED_INPUT, INPUT_TOKENS, PIECES, TEXT, THINKING, TOOL_TEXT, TOOL_USE,
} from '../mock/anthropic-mock.mjs';
import {
    MASTER_KEY, REPO_ROOT, assertOpenAIError, chat, marker, parseSSE, readAll, startGateway, startMockProcess,
} from './harness.mjs';

const T = { timeout: 30_000 };
const KEY = 'sk-ant-test-key-5e1f';
const MOCK = path.join(REPO_ROOT, 'tests', 'mock', 'anthropic-mock.mjs');

/* Starts the Anthropic mock as a child process; {url, requests(marker), stop()}. */
function startAnthropicMock() {
    return startMockProcess(MOCK, ['--port', '0', '--require-key', KEY]);
}

function deployment(mock, name, params = {}) {
    return {
        model_name: name,
        litellm_params: { model: 'anthropic/claude-sonnet-4-5', api_base: mock.url,
                          api_key: 'os.environ/ANTHROPIC_TEST_KEY', ...params },
        model_info: { id: `dep-${name}` },
    };
}

const textBlock = (text) => ({ type: 'text', text });

describe('anthropic provider', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startAnthropicMock();
        gw = await startGateway({
            model_list: [
                deployment(mock, 'claude'),
                deployment(mock, 'claude-v1', {
                    api_base: `${mock.url}/v1/`,
                    anthropic_beta: ['prompt-caching-2024-07-31', 'pdfs-2024-09-25'],
                    extra_headers: { 'X-Team': 'research' },
                    default_max_tokens: 777,
                }),
                deployment(mock, 'claude-drop', { drop_params: true }),
                deployment(mock, 'claude-retry', { max_retries: 1 }),
                deployment(mock, 'claude-badkey', { api_key: 'sk-ant-wrong-key-0000' }),
            ],
            general_settings: { master_key: MASTER_KEY },
            /* Each failure is pinned down as it is; claude-retry asks for its retry itself. */
            router_settings: { num_retries: 0, disable_cooldowns: true, retry_backoff_base: '50ms' },
        }, { env: { ANTHROPIC_TEST_KEY: KEY } });
        client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 20_000 });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    it('non-streaming: text, usage and the translated upstream request', T, async () => {
        const m = marker('plain');
        const r = await client.chat.completions.create({
            model: 'claude',
            messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Hi ${m}` }],
            max_tokens: 50, temperature: 0.2, stop: ['END'], user: 'user-7',
        });
        assert.equal(r.object, 'chat.completion');
        assert.match(r.id, /^msg_mock_\d+$/);
        assert.equal(r.model, 'claude-sonnet-4-5');
        assert.equal(r.choices[0].message.role, 'assistant');
        assert.equal(r.choices[0].message.content, TEXT);
        assert.equal(r.choices[0].finish_reason, 'stop');
        assert.equal(r.usage.prompt_tokens, INPUT_TOKENS);
        assert.equal(r.usage.completion_tokens, PIECES.length);
        assert.equal(r.usage.total_tokens, INPUT_TOKENS + PIECES.length);

        const up = await mock.only(m);
        assert.equal(up.method, 'POST');
        assert.equal(up.path, '/v1/messages');
        assert.equal(up.headers['x-api-key'], KEY);
        assert.equal(up.headers['anthropic-version'], '2023-06-01');
        assert.match(up.headers['content-type'], /^application\/json/);
        assert.equal(up.headers.authorization, undefined, 'no Authorization header goes to Anthropic');
        assert.equal(up.headers['anthropic-beta'], undefined);
        assert.deepEqual(up.body, {
            model: 'claude-sonnet-4-5',
            max_tokens: 50,
            system: [textBlock('Be brief.')],
            messages: [{ role: 'user', content: [textBlock(`Hi ${m}`)] }],
            temperature: 0.2,
            stop_sequences: ['END'],
            metadata: { user_id: 'user-7' },
        });
    });

    it('max_tokens defaults to 4096 (Anthropic requires it); consecutive user messages merge', T, async () => {
        const m = marker('merge');
        const r = await client.chat.completions.create({
            model: 'claude',
            messages: [{ role: 'user', content: 'one' }, { role: 'user', content: `two ${m}` }],
        });
        assert.equal(r.choices[0].message.content, TEXT);
        const up = await mock.only(m);
        assert.equal(up.body.max_tokens, 4096);
        assert.deepEqual(up.body.messages, [{ role: 'user', content: [textBlock('one'), textBlock(`two ${m}`)] }]);
    });

    it('api_base ending in /v1, anthropic_beta, extra_headers and default_max_tokens', T, async () => {
        const m = marker('v1');
        const r = await client.chat.completions.create({ model: 'claude-v1', messages: [{ role: 'user', content: m }] });
        assert.equal(r.choices[0].message.content, TEXT);
        const up = await mock.only(m);
        assert.equal(up.path, '/v1/messages');
        assert.equal(up.headers['anthropic-beta'], 'prompt-caching-2024-07-31,pdfs-2024-09-25');
        assert.equal(up.headers['x-team'], 'research');
        assert.equal(up.body.max_tokens, 777);
    });

    it('streaming: role chunk, content deltas, finish reason and usage with include_usage', T, async () => {
        const m = marker('stream');
        const stream = await client.chat.completions.create({
            model: 'claude', stream: true, stream_options: { include_usage: true },
            messages: [{ role: 'user', content: `Hi ${m}` }],
        });
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        assert.equal(chunks[0].choices[0].delta.role, 'assistant');
        const pieces = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).filter((s) => s !== '');
        assert.deepEqual(pieces, PIECES, 'every text_delta arrives as its own content delta');
        const finish = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean);
        assert.deepEqual(finish, ['stop']);
        const last = chunks.at(-1);
        assert.deepEqual(last.choices, []);
        assert.equal(last.usage.prompt_tokens, INPUT_TOKENS);
        assert.equal(last.usage.completion_tokens, PIECES.length);
        assert.ok(chunks.every((c) => c.id === chunks[0].id && /^msg_mock_/.test(c.id)), 'one id for the stream');

        const up = await mock.only(m);
        assert.equal(up.body.stream, true);
        assert.equal(up.body.stream_options, undefined, 'stream_options is not an Anthropic field');
    });

    it('streaming without include_usage: no usage chunk reaches the client', T, async () => {
        const m = marker('nousage');
        const stream = await client.chat.completions.create({
            model: 'claude', stream: true, messages: [{ role: 'user', content: m }],
        });
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        assert.ok(chunks.every((c) => !c.usage), 'no chunk carries usage');
        assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), TEXT);
    });

    const WEATHER_TOOL = {
        type: 'function',
        function: {
            name: 'get_weather', description: 'Weather for a city',
            parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
        },
    };

    it('tools, non-streaming: tool_use becomes tool_calls; tools are translated', T, async () => {
        const m = marker('tool');
        const r = await client.chat.completions.create({
            model: 'claude', tools: [WEATHER_TOOL], tool_choice: 'auto', parallel_tool_calls: false,
            messages: [{ role: 'user', content: `Weather in Paris? ${m} [[tool_call]]` }],
        });
        const msg = r.choices[0].message;
        assert.equal(r.choices[0].finish_reason, 'tool_calls');
        assert.equal(msg.content, TOOL_TEXT);
        assert.equal(msg.tool_calls.length, 1);
        assert.equal(msg.tool_calls[0].id, TOOL_USE.id);
        assert.equal(msg.tool_calls[0].type, 'function');
        assert.equal(msg.tool_calls[0].function.name, TOOL_USE.name);
        assert.deepEqual(JSON.parse(msg.tool_calls[0].function.arguments), TOOL_USE.input);

        const up = await mock.only(m);
        assert.deepEqual(up.body.tools, [{
            name: 'get_weather', description: 'Weather for a city', input_schema: WEATHER_TOOL.function.parameters,
        }]);
        assert.deepEqual(up.body.tool_choice, { type: 'auto', disable_parallel_tool_use: true });
    });

    it('tools, streaming: argument fragments are reassembled by the SDK', T, async () => {
        const m = marker('toolstream');
        const stream = client.chat.completions.stream({
            model: 'claude', tools: [WEATHER_TOOL], tool_choice: { type: 'function', function: { name: 'get_weather' } },
            messages: [{ role: 'user', content: `Weather? ${m} [[tool_call]]` }],
        });
        const fragments = [];
        stream.on('chunk', (c) => {
            for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
                if (tc.function?.arguments) fragments.push(tc.function.arguments);
            }
        });
        const final = await stream.finalChatCompletion();
        const msg = final.choices[0].message;
        assert.equal(final.choices[0].finish_reason, 'tool_calls');
        assert.equal(msg.content, TOOL_TEXT);
        assert.equal(msg.tool_calls.length, 1);
        assert.equal(msg.tool_calls[0].id, TOOL_USE.id);
        assert.equal(msg.tool_calls[0].function.name, TOOL_USE.name);
        assert.deepEqual(JSON.parse(msg.tool_calls[0].function.arguments), TOOL_USE.input);
        assert.ok(fragments.length >= 4, `the arguments arrived in fragments (${fragments.length})`);

        const up = await mock.only(m);
        assert.deepEqual(up.body.tool_choice, { type: 'tool', name: 'get_weather' });
    });

    it('a tool round trip: tool_calls -> tool_use blocks, tool results -> one user turn', T, async () => {
        const m = marker('roundtrip');
        const r = await client.chat.completions.create({
            model: 'claude', tools: [WEATHER_TOOL],
            messages: [
                { role: 'user', content: 'Weather in Paris and Rome?' },
                { role: 'assistant', content: null, tool_calls: [
                    { id: 'toolu_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
                    { id: 'toolu_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
                ] },
                { role: 'tool', tool_call_id: 'toolu_a', content: '18 C' },
                { role: 'tool', tool_call_id: 'toolu_b', content: `21 C ${m}` },
            ],
        });
        assert.equal(r.choices[0].message.content, TEXT);
        const up = await mock.only(m);
        assert.deepEqual(up.body.messages, [
            { role: 'user', content: [textBlock('Weather in Paris and Rome?')] },
            { role: 'assistant', content: [
                { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'Paris' } },
                { type: 'tool_use', id: 'toolu_b', name: 'get_weather', input: { city: 'Rome' } },
            ] },
            { role: 'user', content: [
                { type: 'tool_result', tool_use_id: 'toolu_a', content: '18 C' },
                { type: 'tool_result', tool_use_id: 'toolu_b', content: `21 C ${m}` },
            ] },
        ]);
    });

    it('images: data: URLs become base64 sources, https URLs url sources', T, async () => {
        const m = marker('image');
        const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
        const r = await client.chat.completions.create({
            model: 'claude',
            messages: [{ role: 'user', content: [
                { type: 'text', text: `Describe ${m}` },
                { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
                { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'low' } },
            ] }],
        });
        assert.equal(r.choices[0].message.content, TEXT);
        const up = await mock.only(m);
        assert.deepEqual(up.body.messages[0].content, [
            textBlock(`Describe ${m}`),
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ]);
    });

    it('thinking: reasoning_content and signed thinking_blocks; reasoning_effort sets the budget', T, async () => {
        const m = marker('think');
        const r = await client.chat.completions.create({
            model: 'claude', reasoning_effort: 'low', messages: [{ role: 'user', content: `${m} [[thinking]]` }],
        });
        const msg = r.choices[0].message;
        assert.equal(msg.content, TEXT);
        assert.equal(msg.reasoning_content, THINKING.thinking);
        assert.deepEqual(msg.thinking_blocks, [{ type: 'thinking', ...THINKING }]);
        const up = await mock.only(m);
        assert.deepEqual(up.body.thinking, { type: 'enabled', budget_tokens: 1024 });

        /* The next turn sends the signed block back first in the assistant turn. */
        const m2 = marker('think2');
        await client.chat.completions.create({
            model: 'claude',
            messages: [
                { role: 'user', content: 'first' },
                { role: 'assistant', content: msg.content, thinking_blocks: msg.thinking_blocks },
                { role: 'user', content: m2 },
            ],
        });
        const up2 = await mock.only(m2);
        assert.deepEqual(up2.body.messages[1], {
            role: 'assistant', content: [{ type: 'thinking', ...THINKING }, textBlock(TEXT)],
        });
    });

    it('thinking, streaming: reasoning deltas and the signature', T, async () => {
        const m = marker('thinkstream');
        const stream = await client.chat.completions.create({
            model: 'claude', stream: true, messages: [{ role: 'user', content: `${m} [[thinking]]` }],
        });
        let reasoning = '';
        let content = '';
        const signatures = [];
        for await (const c of stream) {
            const d = c.choices[0]?.delta ?? {};
            reasoning += d.reasoning_content ?? '';
            content += d.content ?? '';
            for (const b of d.thinking_blocks ?? []) signatures.push(b.signature);
        }
        assert.equal(reasoning, THINKING.thinking);
        assert.equal(content, TEXT);
        assert.deepEqual(signatures, [THINKING.signature]);
    });

    it('prompt caching: usage counts cache reads and writes', T, async () => {
        const m = marker('cache');
        const r = await client.chat.completions.create({
            model: 'claude',
            messages: [{ role: 'user', content: [{ type: 'text', text: `${m} [[cache]]`, cache_control: { type: 'ephemeral' } }] }],
        });
        const total = INPUT_TOKENS + CACHE_USAGE.cache_read_input_tokens + CACHE_USAGE.cache_creation_input_tokens;
        assert.equal(r.usage.prompt_tokens, total);
        assert.equal(r.usage.prompt_tokens_details.cached_tokens, CACHE_USAGE.cache_read_input_tokens);
        assert.equal(r.usage.cache_read_input_tokens, CACHE_USAGE.cache_read_input_tokens);
        assert.equal(r.usage.cache_creation_input_tokens, CACHE_USAGE.cache_creation_input_tokens);
        assert.equal(r.usage.total_tokens, total + PIECES.length);
        const up = await mock.only(m);
        assert.deepEqual(up.body.messages[0].content[0].cache_control, { type: 'ephemeral' });
    });

    it('response_format json_schema: a forced tool whose input is the answer', T, async () => {
        const m = marker('json');
        const schema = { type: 'object', properties: { name: { type: 'string' }, ok: { type: 'boolean' } } };
        const r = await client.chat.completions.create({
            model: 'claude', response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
            messages: [{ role: 'user', content: m }],
        });
        assert.equal(r.choices[0].finish_reason, 'stop');
        assert.equal(r.choices[0].message.tool_calls, undefined);
        assert.deepEqual(JSON.parse(r.choices[0].message.content), FORCED_INPUT);
        const up = await mock.only(m);
        assert.deepEqual(up.body.tools, [{ name: 'json_tool_call', input_schema: schema }]);
        assert.deepEqual(up.body.tool_choice, { type: 'tool', name: 'json_tool_call' });

        const m2 = marker('jsonstream');
        const stream = await client.chat.completions.create({
            model: 'claude', stream: true, response_format: { type: 'json_object' },
            messages: [{ role: 'user', content: m2 }],
        });
        let content = '';
        let finish = null;
        for await (const c of stream) {
            content += c.choices[0]?.delta?.content ?? '';
            finish = c.choices[0]?.finish_reason ?? finish;
        }
        assert.deepEqual(JSON.parse(content), FORCED_INPUT);
        assert.equal(finish, 'stop');
    });

    it('429: an OpenAI rate-limit error with retry-after, which the SDK retries', T, async () => {
        const m = marker('ratelimit');
        const retrying = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 1, timeout: 20_000 });
        await assert.rejects(
            retrying.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: `${m} [[status:429]]` }] }),
            (e) => {
                assert.equal(e.status, 429);
                assert.equal(e.type, 'rate_limit_error');
                assert.match(e.message, /rate limit/);
                return true;
            });
        const list = await mock.requests(m);
        assert.equal(list.length, 2, 'the SDK retried once after retry-after');

        const raw = await chat(gw, { model: 'claude', messages: [{ role: 'user', content: `${marker('ra')} [[status:429]]` }] });
        assert.equal(raw.status, 429);
        assert.equal(raw.headers.get('retry-after'), '1');
        assertOpenAIError(assert, raw.json);
    });

    it('529 overloaded: status kept, retried by the deployment\'s max_retries', T, async () => {
        const m = marker('overloaded');
        const r = await chat(gw, { model: 'claude-retry', messages: [{ role: 'user', content: `${m} [[overloaded]]` }] });
        assert.equal(r.status, 529, r.text);
        const e = assertOpenAIError(assert, r.json, { messageIncludes: 'Overloaded' });
        assert.equal(e.type, 'overloaded_error');
        assert.equal((await mock.requests(m)).length, 2, 'one retry after the 529');
    });

    it('context window: 400 context_length_exceeded', T, async () => {
        const m = marker('context');
        await assert.rejects(
            client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: `${m} [[context]]` }] }),
            (e) => {
                assert.equal(e.status, 400);
                assert.equal(e.code, 'context_length_exceeded');
                assert.equal(e.type, 'invalid_request_error');
                assert.ok(e.message.includes(CONTEXT_MESSAGE), e.message);
                return true;
            });
    });

    it('authentication error: 401, and the key is never echoed', T, async () => {
        const m = marker('auth');
        const r = await chat(gw, { model: 'claude-badkey', messages: [{ role: 'user', content: m }] });
        assert.equal(r.status, 401, r.text);
        const e = assertOpenAIError(assert, r.json);
        assert.equal(e.type, 'authentication_error');
        assert.ok(!r.text.includes('sk-ant-wrong-key-0000'));
        const up = await mock.only(m);
        assert.equal(up.headers['x-api-key'], 'sk-ant-wrong-key-0000');
    });

    it('unsupported parameters: 400 naming the parameter, nothing sent upstream', T, async () => {
        const m = marker('unsupported');
        await assert.rejects(
            client.chat.completions.create({ model: 'claude', seed: 42, messages: [{ role: 'user', content: m }] }),
            (e) => {
                assert.equal(e.status, 400);
                assert.match(e.message, /'seed'/);
                assert.equal(e.code, 'unsupported_parameter');
                return true;
            });
        await assert.rejects(
            client.chat.completions.create({ model: 'claude', n: 2, messages: [{ role: 'user', content: m }] }),
            (e) => e.status === 400 && /'n'/.test(e.message));
        assert.equal((await mock.requests(m)).length, 0);
    });

    it('drop_params: unsupported parameters are dropped', T, async () => {
        const m = marker('drop');
        const r = await client.chat.completions.create({
            model: 'claude-drop', seed: 42, presence_penalty: 0.5, frequency_penalty: 0.2, logit_bias: { 1: 1 },
            messages: [{ role: 'user', content: m }],
        });
        assert.equal(r.choices[0].message.content, TEXT);
        const up = await mock.only(m);
        for (const k of ['seed', 'presence_penalty', 'frequency_penalty', 'logit_bias']) {
            assert.equal(up.body[k], undefined, `${k} is not sent`);
        }
    });

    it('invalid tool_call arguments: 400 before any upstream call', T, async () => {
        const m = marker('badargs');
        const r = await chat(gw, { model: 'claude', messages: [
            { role: 'user', content: m },
            { role: 'assistant', tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{oops' } }] },
            { role: 'tool', tool_call_id: 't1', content: 'x' },
        ] });
        assert.equal(r.status, 400, r.text);
        assertOpenAIError(assert, r.json, { messageIncludes: 'arguments' });
        assert.equal((await mock.requests(m)).length, 0);
    });

    it('[[echo]]: the answer is the upstream body, developer messages are system blocks', T, async () => {
        const m = marker('echo');
        const r = await client.chat.completions.create({
            model: 'claude', top_p: 0.5,
            messages: [{ role: 'developer', content: 'Rules.' }, { role: 'user', content: `${m} [[echo]]` }],
        });
        const seen = JSON.parse(r.choices[0].message.content);
        assert.deepEqual(seen, (await mock.only(m)).body);
        assert.deepEqual(seen.system, [textBlock('Rules.')]);
        assert.equal(seen.top_p, 0.5);
    });

    it('a stream cut mid-answer ends with an error event after the text so far', T, async () => {
        const m = marker('cut');
        const r = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'claude', stream: true, messages: [{ role: 'user', content: `${m} [[cut:1]]` }] }),
            signal: AbortSignal.timeout(15_000),
        });
        assert.equal(r.status, 200);
        const { text } = await readAll(r);
        const events = parseSSE(text).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
        assert.equal(events.map((e) => e.choices?.[0]?.delta?.content ?? '').join(''), PIECES[0]);
        assert.ok(events.some((e) => e.error), `the stream ends with an error event: ${text}`);
        assert.ok(!events.some((e) => e.choices?.[0]?.finish_reason), 'no finish_reason for a broken stream');

        const cut = await chat(gw, { model: 'claude', messages: [{ role: 'user', content: `${marker('cut2')} [[cut:1]]` }] });
        assert.equal(cut.status, 502, cut.text);
        assertOpenAIError(assert, cut.json);
    });

    it('an error event mid-stream ends the stream with the mapped error', T, async () => {
        const m = marker('streamerr');
        const r = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'claude', stream: true, messages: [{ role: 'user', content: `${m} [[stream_error]]` }] }),
            signal: AbortSignal.timeout(15_000),
        });
        assert.equal(r.status, 200);
        const { text } = await readAll(r);
        const events = parseSSE(text).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
        const content = events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
        assert.equal(content, PIECES[0], 'the text before the error reached the client');
        const err = events.find((e) => e.error);
        assert.ok(err, `an error event follows: ${text}`);
        assert.equal(err.error.type, 'overloaded_error');
        assert.match(err.error.message, /Overloaded/);

        /* The SDK surfaces it as an error while iterating. */
        const stream = await client.chat.completions.create({
            model: 'claude', stream: true, messages: [{ role: 'user', content: `${marker('se2')} [[stream_error]]` }],
        });
        await assert.rejects((async () => {
            for await (const c of stream) void c;
        })(), /Overloaded/);
    });
});
