/*
 * The gemini provider end to end: the gateway with gemini/... deployments pointing at
 * tests/mock/gemini-mock.mjs (Google's generateContent wire format, SSE streams framed with CRLF as
 * Google sends them), driven by the official openai SDK and raw HTTP.  Every test checks both
 * sides: what the client gets, and what the mock recorded as the upstream request.
 */
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
    CONTEXT_MESSAGE, MODEL_VERSION_SUFFIX, PROMPT_TOKENS, SIGNATURE, THOUGHT, THOUGHT_TOKENS, TOOL_CALL,
    mockContent, mockPieces,
} from '../mock/gemini-mock.mjs';
import {
    MASTER_KEY, REPO_ROOT, assertOpenAIError, chat, marker, parseSSE, startGateway, startMockProcess,
} from './harness.mjs';

const T = { timeout: 30_000 };
const KEY = 'AIzaSyMockKey-5e1f0c2d';
const MOCK = path.join(REPO_ROOT, 'tests', 'mock', 'gemini-mock.mjs');
const MODEL = 'gemini-2.5-flash';

/* Starts the Gemini mock as a child process; {url, requests(marker), only(marker), stop()}. */
function startGeminiMock() {
    return startMockProcess(MOCK, ['--port', '0', '--require-key', KEY]);
}

function deployment(mock, name, params = {}) {
    return {
        model_name: name,
        litellm_params: { model: `gemini/${MODEL}`, api_base: mock.url, api_key: 'os.environ/GEMINI_TEST_KEY', ...params },
        model_info: { id: `dep-${name}` },
    };
}

const user = (content) => [{ role: 'user', content }];

const WEATHER_TOOL = {
    type: 'function',
    function: {
        name: 'get_weather',
        description: 'Current weather of a city',
        strict: true,
        parameters: {
            $schema: 'http://json-schema.org/draft-07/schema#',
            type: 'object',
            properties: { city: { type: 'string' }, unit: { type: ['string', 'null'], enum: ['celsius', 'fahrenheit'] } },
            required: ['city', 'unit'],
            additionalProperties: false,
        },
    },
};
const WEATHER_DECLARATION = {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: {
        type: 'OBJECT',
        properties: { city: { type: 'STRING' }, unit: { nullable: true, type: 'STRING', enum: ['celsius', 'fahrenheit'] } },
        required: ['city', 'unit'],
    },
};

describe('gemini provider', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startGeminiMock();
        gw = await startGateway({
            model_list: [
                deployment(mock, 'gem'),
                deployment(mock, 'gem-v1beta', {
                    api_base: `${mock.url}/v1beta/`,
                    extra_headers: { 'X-Team': 'research' },
                    safety_settings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }],
                }),
                deployment(mock, 'gem-drop', { drop_params: true }),
                deployment(mock, 'gem-badkey', { api_key: 'AIzaWrongKey-00000000' }),
            ],
            general_settings: { master_key: MASTER_KEY },
            /* Each failure is pinned down as it is, without the router's retries or cooldowns. */
            router_settings: { num_retries: 0, disable_cooldowns: true },
        }, { env: { GEMINI_TEST_KEY: KEY } });
        client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 20_000 });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    it('non-streaming completion, and the upstream request it was translated to', T, async () => {
        const m = marker('basic');
        const r = await client.chat.completions.create({
            model: 'gem',
            messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Hello ${m}` }],
            temperature: 0.3, max_tokens: 50, stop: ['END'], user: 'end-user-1',
        });
        assert.equal(r.object, 'chat.completion');
        assert.equal(r.model, MODEL + MODEL_VERSION_SUFFIX, 'model is the upstream modelVersion');
        assert.match(r.id, /^mockresp\d+$/, 'id is the upstream responseId');
        assert.equal(r.choices.length, 1);
        assert.equal(r.choices[0].message.role, 'assistant');
        assert.equal(r.choices[0].message.content, mockContent());
        assert.equal(r.choices[0].finish_reason, 'stop');
        assert.equal(r.usage.prompt_tokens, PROMPT_TOKENS);
        assert.equal(r.usage.completion_tokens, mockPieces().length);
        assert.equal(r.usage.total_tokens, PROMPT_TOKENS + mockPieces().length);

        const up = await mock.only(m);
        assert.equal(up.path, `/v1beta/models/${MODEL}:generateContent`);
        assert.equal(up.query, '', 'nothing in the query string, the key least of all');
        assert.equal(up.headers['x-goog-api-key'], KEY);
        assert.equal(up.headers.authorization, undefined);
        assert.match(up.headers['content-type'], /^application\/json/);
        assert.deepEqual(up.body, {
            contents: [{ role: 'user', parts: [{ text: `Hello ${m}` }] }],
            systemInstruction: { parts: [{ text: 'Be brief.' }] },
            generationConfig: { temperature: 0.3, maxOutputTokens: 50, stopSequences: ['END'] },
        });
    });

    it('deployment options: api_base with /v1beta, extra_headers, safety_settings', T, async () => {
        const m = marker('opts');
        const r = await client.chat.completions.create({ model: 'gem-v1beta', messages: user(m) });
        assert.equal(r.choices[0].message.content, mockContent());
        const up = await mock.only(m);
        assert.equal(up.path, `/v1beta/models/${MODEL}:generateContent`);
        assert.equal(up.headers['x-team'], 'research');
        assert.deepEqual(up.body.safetySettings, [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }]);
    });

    it('the upstream sees the translated body ([[echo]])', T, async () => {
        const m = marker('echo');
        const r = await client.chat.completions.create({ model: 'gem', messages: user(`${m} [[echo]]`), seed: 7 });
        const seen = JSON.parse(r.choices[0].message.content);
        assert.deepEqual(seen, { contents: [{ role: 'user', parts: [{ text: `${m} [[echo]]` }] }],
                                 generationConfig: { seed: 7 } });
    });

    it('streaming with usage: role first, text deltas, finish, usage chunk, clean end', T, async () => {
        const m = marker('stream');
        const stream = await client.chat.completions.create({
            model: 'gem', stream: true, stream_options: { include_usage: true }, messages: user(m),
        });
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        const withChoices = chunks.filter((c) => c.choices.length > 0);
        assert.equal(withChoices[0].choices[0].delta.role, 'assistant');
        assert.equal(withChoices.map((c) => c.choices[0].delta.content ?? '').join(''), mockContent());
        assert.equal(withChoices.at(-1).choices[0].finish_reason, 'stop');
        const last = chunks.at(-1);
        assert.deepEqual(last.choices, []);
        assert.equal(last.usage.prompt_tokens, PROMPT_TOKENS);
        assert.equal(last.usage.completion_tokens, mockPieces().length);
        for (const c of chunks) assert.equal(c.model, MODEL + MODEL_VERSION_SUFFIX);

        const up = await mock.only(m);
        assert.equal(up.path, `/v1beta/models/${MODEL}:streamGenerateContent`);
        assert.equal(up.query, '?alt=sse');
        assert.equal(up.body.stream, undefined);
        assert.equal(up.body.stream_options, undefined);
    });

    it('raw stream: ends with [DONE], no error, and no usage chunk unless asked for', T, async () => {
        const m = marker('raw');
        const r = await chat(gw, { model: 'gem', stream: true, messages: user(m) });
        assert.equal(r.status, 200, r.text);
        const events = parseSSE(r.text);
        assert.equal(events.at(-1).data, '[DONE]', 'the stream was completed, not cut');
        assert.ok(events.every((e) => e.event !== 'error' && !e.data.includes('"error"')), r.text);
        const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
        assert.ok(chunks.every((c) => c.usage === undefined || c.usage === null), 'no usage for this client');
        assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), mockContent());
    });

    it('thinking: reasoning_content and reasoning tokens, streamed and not', T, async () => {
        const m = marker('think');
        const r = await client.chat.completions.create({
            model: 'gem', reasoning_effort: 'medium', messages: user(`${m} [[thinking]]`),
        });
        assert.equal(r.choices[0].message.content, mockContent());
        assert.equal(r.choices[0].message.reasoning_content, THOUGHT);
        assert.equal(r.usage.completion_tokens_details.reasoning_tokens, THOUGHT_TOKENS);
        assert.equal(r.usage.completion_tokens, mockPieces().length + THOUGHT_TOKENS);
        const up = await mock.only(m);
        assert.deepEqual(up.body.generationConfig, { thinkingConfig: { thinkingBudget: 2048, includeThoughts: true } });

        const stream = await client.chat.completions.create({
            model: 'gem', stream: true, stream_options: { include_usage: true },
            messages: user(`${marker('thinks')} [[thinking]]`),
        });
        let reasoning = '';
        let content = '';
        let usage;
        for await (const c of stream) {
            reasoning += c.choices[0]?.delta?.reasoning_content ?? '';
            content += c.choices[0]?.delta?.content ?? '';
            usage = c.usage ?? usage;
        }
        assert.equal(reasoning, THOUGHT);
        assert.equal(content, mockContent());
        assert.equal(usage.completion_tokens_details.reasoning_tokens, THOUGHT_TOKENS);
    });

    it('tools: a function call, then its result sent back (with the thought signature)', T, async () => {
        const m = marker('tools');
        const first = await client.chat.completions.create({
            model: 'gem', messages: user(`Weather in Paris? ${m} [[tool_call]]`), tools: [WEATHER_TOOL], tool_choice: 'auto',
        });
        const msg = first.choices[0].message;
        assert.equal(first.choices[0].finish_reason, 'tool_calls');
        assert.equal(msg.tool_calls.length, 1);
        const call = msg.tool_calls[0];
        assert.equal(call.type, 'function');
        assert.equal(call.function.name, TOOL_CALL.name);
        assert.deepEqual(JSON.parse(call.function.arguments), TOOL_CALL.args);
        assert.match(call.id, /^call_/);
        assert.deepEqual(msg.thinking_blocks, [{ type: 'thinking', thinking: '', signature: SIGNATURE }]);
        const up = await mock.only(m);
        assert.deepEqual(up.body.tools, [{ functionDeclarations: [WEATHER_DECLARATION] }]);
        assert.deepEqual(up.body.toolConfig, { functionCallingConfig: { mode: 'AUTO' } });

        const m2 = marker('toolresult');
        const second = await client.chat.completions.create({
            model: 'gem', tools: [WEATHER_TOOL],
            messages: [
                { role: 'user', content: 'Weather in Paris?' },
                msg,
                { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temp: 21, sky: 'clear' }) },
                { role: 'user', content: `Thanks ${m2}` },
            ],
        });
        assert.equal(second.choices[0].message.content, mockContent());
        const up2 = await mock.only(m2);
        assert.deepEqual(up2.body.contents, [
            { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
            { role: 'model', parts: [{ functionCall: { name: TOOL_CALL.name, args: TOOL_CALL.args }, thoughtSignature: SIGNATURE }] },
            { role: 'user', parts: [
                { functionResponse: { name: TOOL_CALL.name, response: { temp: 21, sky: 'clear' } } },
                { text: `Thanks ${m2}` }] },
        ]);
    });

    it('tools streamed: one delta with id, name and the whole arguments', T, async () => {
        const m = marker('toolstream');
        const stream = await client.chat.completions.create({
            model: 'gem', stream: true, messages: user(`${m} [[tool_call]]`), tools: [WEATHER_TOOL], tool_choice: 'required',
        });
        const calls = {};
        let finish = null;
        for await (const c of stream) {
            for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
                calls[tc.index] ??= { id: '', name: '', args: '' };
                if (tc.id) calls[tc.index].id = tc.id;
                if (tc.function?.name) calls[tc.index].name += tc.function.name;
                calls[tc.index].args += tc.function?.arguments ?? '';
            }
            finish = c.choices[0]?.finish_reason ?? finish;
        }
        assert.equal(finish, 'tool_calls');
        assert.deepEqual(Object.keys(calls), ['0']);
        assert.match(calls[0].id, /^call_/);
        assert.equal(calls[0].name, TOOL_CALL.name);
        assert.deepEqual(JSON.parse(calls[0].args), TOOL_CALL.args);
        const up = await mock.only(m);
        assert.deepEqual(up.body.toolConfig, { functionCallingConfig: { mode: 'ANY' } });
    });

    it('images: data: URLs inline, https URLs as fileData', T, async () => {
        const m = marker('img');
        const r = await client.chat.completions.create({
            model: 'gem',
            messages: [{ role: 'user', content: [
                { type: 'text', text: `Describe ${m}` },
                { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==' } },
                { type: 'image_url', image_url: { url: 'https://example.com/cat.jpeg', detail: 'low' } },
            ] }],
        });
        assert.equal(r.choices[0].message.content, mockContent());
        const up = await mock.only(m);
        assert.deepEqual(up.body.contents[0].parts, [
            { text: `Describe ${m}` },
            { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgoAAAANSUhEUg==' } },
            { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/cat.jpeg' } },
        ]);
    });

    it('n: several candidates become several choices', T, async () => {
        const r = await client.chat.completions.create({ model: 'gem', n: 2, messages: user(marker('n')) });
        assert.deepEqual(r.choices.map((c) => [c.index, c.message.content, c.finish_reason]),
                         [[0, mockContent(), 'stop'], [1, mockContent(), 'stop']]);
    });

    it('429: a rate-limit error with retry-after from RetryInfo, which the SDK retries', T, async () => {
        const m = marker('ratelimit');
        const retrying = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 1, timeout: 20_000 });
        await assert.rejects(
            retrying.chat.completions.create({ model: 'gem', messages: user(`${m} [[status:429]]`) }),
            (e) => {
                assert.equal(e.status, 429);
                assert.equal(e.type, 'rate_limit_error');
                assert.match(e.message, /exceeded your current quota/);
                return true;
            });
        assert.equal((await mock.requests(m)).length, 2, 'the SDK retried once after retry-after');

        const raw = await chat(gw, { model: 'gem', messages: user(`${marker('ra')} [[status:429]]`) });
        assert.equal(raw.status, 429);
        assert.equal(raw.headers.get('retry-after'), '1');
        assertOpenAIError(assert, raw.json, { code: 'RESOURCE_EXHAUSTED' });
    });

    it('503 and 404 keep their status and say why', T, async () => {
        const r = await chat(gw, { model: 'gem', messages: user(`${marker('503')} [[status:503]]`) });
        assert.equal(r.status, 503, r.text);
        assertOpenAIError(assert, r.json, { messageIncludes: 'overloaded', code: 'UNAVAILABLE' });
        const nf = await chat(gw, { model: 'gem', messages: user(`${marker('404')} [[status:404]]`) });
        assert.equal(nf.status, 404, nf.text);
        assert.equal(assertOpenAIError(assert, nf.json, { code: 'NOT_FOUND' }).type, 'not_found_error');
    });

    it('context window: 400 context_length_exceeded', T, async () => {
        const m = marker('context');
        await assert.rejects(
            client.chat.completions.create({ model: 'gem', messages: user(`${m} [[context]]`) }),
            (e) => {
                assert.equal(e.status, 400);
                assert.equal(e.code, 'context_length_exceeded');
                assert.equal(e.type, 'invalid_request_error');
                assert.ok(e.message.includes(CONTEXT_MESSAGE), e.message);
                return true;
            });
    });

    it('safety stop: finish_reason content_filter, streamed and not', T, async () => {
        const r = await client.chat.completions.create({ model: 'gem', messages: user(`${marker('safe')} [[safety]]`) });
        assert.equal(r.choices[0].finish_reason, 'content_filter');
        assert.equal(r.choices[0].message.content, null);

        const stream = await client.chat.completions.create({
            model: 'gem', stream: true, messages: user(`${marker('safes')} [[safety]]`),
        });
        let content = '';
        let finish = null;
        for await (const c of stream) {
            content += c.choices[0]?.delta?.content ?? '';
            finish = c.choices[0]?.finish_reason ?? finish;
        }
        assert.equal(content, mockPieces()[0]);
        assert.equal(finish, 'content_filter');
    });

    it('blocked prompt: 400 content policy error, streamed and not', T, async () => {
        const r = await chat(gw, { model: 'gem', messages: user(`${marker('blocked')} [[blocked]]`) });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'content_policy_violation', messageIncludes: 'blockReason: SAFETY' });
        assert.equal(e.type, 'invalid_request_error');

        const s = await chat(gw, { model: 'gem', stream: true, messages: user(`${marker('blockeds')} [[blocked]]`) });
        assert.equal(s.status, 400, 'nothing was streamed yet, so the error is a plain answer');
        assertOpenAIError(assert, s.json, { code: 'content_policy_violation' });
    });

    it('an error event mid-stream ends the stream with an error', T, async () => {
        const r = await chat(gw, { model: 'gem', stream: true, messages: user(`${marker('midstream')} [[stream_error]]`) });
        assert.equal(r.status, 200);
        const events = parseSSE(r.text);
        const first = JSON.parse(events[0].data);
        assert.equal(first.choices[0].delta.content, mockPieces()[0]);
        const err = events.find((e) => e.data.includes('"error"'));
        assert.ok(err, `an error event: ${r.text}`);
        assert.match(JSON.parse(err.data).error.message, /internal error has occurred mid-stream/);
    });

    it('a stream cut by the upstream is reported, not passed off as complete', T, async () => {
        const r = await chat(gw, { model: 'gem', stream: true, messages: user(`${marker('cut')} [[cut:1]]`) });
        assert.equal(r.status, 200);
        const events = parseSSE(r.text);
        assert.ok(events.some((e) => e.data.includes('"error"')), r.text);
        assert.ok(!events.some((e) => e.data.includes('"finish_reason":"stop"')), r.text);
    });

    it('authentication error: 401, and the key is never echoed', T, async () => {
        const m = marker('auth');
        const r = await chat(gw, { model: 'gem-badkey', messages: user(m) });
        assert.equal(r.status, 401, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'invalid_api_key', messageIncludes: 'API key not valid' });
        assert.equal(e.type, 'authentication_error');
        assert.ok(!r.text.includes('AIzaWrongKey'), r.text);
        assert.ok(!gw.stderr().includes('AIzaWrongKey') && !gw.stderr().includes(KEY), 'keys stay out of the logs');
        const up = await mock.only(m);
        assert.equal(up.headers['x-goog-api-key'], 'AIzaWrongKey-00000000');
    });

    it('unsupported parameters: 400 naming them, or dropped with drop_params', T, async () => {
        const m = marker('unsupported');
        const r = await chat(gw, { model: 'gem', logit_bias: { 50256: -100 }, messages: user(m) });
        assert.equal(r.status, 400, r.text);
        assertOpenAIError(assert, r.json, { messageIncludes: 'logit_bias' });
        assert.equal((await mock.requests(m)).length, 0, 'refused before any upstream call');

        const m2 = marker('dropped');
        const ok = await client.chat.completions.create({
            model: 'gem-drop', logit_bias: { 50256: -100 }, parallel_tool_calls: false, tools: [WEATHER_TOOL],
            messages: user(m2),
        });
        assert.equal(ok.choices[0].message.content, mockContent());
        const up = await mock.only(m2);
        assert.equal(up.body.logit_bias, undefined);
        assert.equal(up.body.generationConfig, undefined);
    });
});
