/*
 * The openai provider's request rules, end to end through the gateway and the mock:
 *   - legacy text completions: text-completion-openai deployments call POST /v1/completions natively
 *     (for /v1/completions clients and chat clients alike) and answers and stream events come back
 *     translated; chat deployments answer /v1/completions through the chat API without the
 *     completion-only members;
 *   - what an OpenAI upstream would refuse is not sent: top_k (400 unless drop_params), thinking,
 *     cache_control markers, reasoning_content and thinking_blocks of assistant messages.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { mockContent, mockPieces } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, assertOpenAIError, chat, marker, parseSSE, startGateway, startMock, userMessage,
} from './harness.mjs';

const T = { timeout: 20_000 };

describe('openai provider: text completions and parameter rules', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        const dep = (name, model, params = {}) => ({
            model_name: name,
            litellm_params: { model, api_base: mock.baseURL, api_key: 'os.environ/UPSTREAM_KEY', ...params },
            model_info: { id: `dep-${name}` },
        });
        gw = await startGateway({
            model_list: [
                dep('instruct', 'text-completion-openai/gpt-3.5-turbo-instruct'),
                dep('chat', 'openai/gpt-4o-mini'),
                dep('chat-drop', 'openai/gpt-4o-mini', { drop_params: true }),
                dep('vllm', 'hosted_vllm/llama-3'),
                dep('vllm-cache', 'hosted_vllm/llama-3', { forward_cache_control: true }),
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

    it('/v1/completions to a completion model: native request, text_completion answer', T, async () => {
        const m = marker('tc');
        const res = await client.completions.create({
            model: 'instruct', prompt: `Say hi ${m}`, max_tokens: 16, temperature: 0, stop: ['\n'], user: 'u1',
        });
        assert.equal(res.object, 'text_completion');
        assert.equal(res.choices.length, 1);
        assert.equal(res.choices[0].text, mockContent());
        assert.equal(res.choices[0].finish_reason, 'stop');
        assert.equal(res.usage.prompt_tokens, 10);
        assert.equal(res.usage.completion_tokens, 3);

        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/v1/completions');
        assert.equal(rec.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        assert.deepEqual(rec.body, {
            model: 'gpt-3.5-turbo-instruct', prompt: `Say hi ${m}`, max_tokens: 16, temperature: 0, stop: ['\n'], user: 'u1',
        });
    });

    it('/v1/completions stream: events translated in order, usage asked for upstream', T, async () => {
        const m = marker('tc-stream');
        const stream = await client.completions.create({
            model: 'instruct', prompt: `[[chunks:4]] ${m}`, stream: true, stream_options: { include_usage: true },
        });
        const texts = [];
        let finish = null;
        let usage = null;
        for await (const c of stream) {
            assert.equal(c.object, 'text_completion', JSON.stringify(c));
            if (c.choices[0]?.text) texts.push(c.choices[0].text);
            finish = c.choices[0]?.finish_reason ?? finish;
            usage = c.usage ?? usage;
        }
        assert.deepEqual(texts, mockPieces(4));
        assert.equal(finish, 'stop');
        assert.equal(usage?.completion_tokens, 4);
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/v1/completions');
        assert.equal(rec.body.stream, true);
        assert.deepEqual(rec.body.stream_options, { include_usage: true });
    });

    it('max_tokens and echo reach the completion API', T, async () => {
        const m = marker('tc-echo');
        const res = await client.completions.create({ model: 'instruct', prompt: `P ${m}`, max_tokens: 1, echo: true });
        assert.equal(res.choices[0].text, `P ${m}${mockPieces(3)[0]}`);
        assert.equal(res.choices[0].finish_reason, 'length');
    });

    it('chat clients of a completion model: messages become the prompt, answers the chat shape', T, async () => {
        const m = marker('tc-chat');
        const res = await client.chat.completions.create({
            model: 'instruct',
            messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Hi ${m}` }],
            logprobs: true, top_logprobs: 1,
        });
        assert.equal(res.object, 'chat.completion');
        assert.equal(res.choices[0].message.role, 'assistant');
        assert.equal(res.choices[0].message.content, mockContent());
        /* Completion logprobs, re-laid in the chat layout. */
        const lp = res.choices[0].logprobs?.content;
        assert.ok(Array.isArray(lp), JSON.stringify(res.choices[0]));
        assert.deepEqual(lp.map((t) => t.token), mockPieces(3));
        assert.equal(lp[0].logprob, -0.25);
        assert.deepEqual(lp[0].top_logprobs.map((t) => t.token), [mockPieces(3)[0], ' alt']);

        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/v1/completions');
        assert.deepEqual(rec.body, { model: 'gpt-3.5-turbo-instruct', prompt: `Be brief.\nHi ${m}`, logprobs: 1 });

        const s = await chat(gw, { model: 'instruct', messages: userMessage(`[[chunks:2]] ${m}`), stream: true });
        assert.equal(s.status, 200, s.text);
        const chunks = parseSSE(s.text).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
        assert.equal(chunks[0].object, 'chat.completion.chunk');
        assert.equal(chunks[0].choices[0].delta.role, 'assistant');
        assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), mockContent(2));
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    });

    it('tools cannot go to a completion model: 400 naming them', T, async () => {
        const r = await chat(gw, {
            model: 'instruct', messages: userMessage('hi'),
            tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
        });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json);
        assert.match(e.message, /tools/);
    });

    it('/v1/completions to a chat model: chat request without the prompt member', T, async () => {
        const m = marker('tc-as-chat');
        const res = await client.completions.create({ model: 'chat', prompt: `Hello ${m}`, max_tokens: 5 });
        assert.equal(res.object, 'text_completion');
        assert.equal(res.choices[0].text, mockContent());
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/v1/chat/completions');
        assert.equal(rec.body.prompt, undefined, 'the prompt member is not a chat parameter');
        assert.deepEqual(rec.body.messages, userMessage(`Hello ${m}`));
        assert.equal(rec.body.max_tokens, 5);
    });

    it('/v1/completions to a chat model: echo is refused, unless drop_params', T, async () => {
        const r = await request(gw, '/v1/completions', { model: 'chat', prompt: 'x', echo: true });
        assert.equal(r.status, 400, r.text);
        assert.match(assertOpenAIError(assert, r.json).message, /echo/);
        const m = marker('tc-drop');
        const ok = await request(gw, '/v1/completions', { model: 'chat-drop', prompt: m, echo: true });
        assert.equal(ok.status, 200, ok.text);
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.body.echo, undefined);
    });

    it('OpenAI: top_k is refused unless drop_params; thinking is not sent', T, async () => {
        const r = await chat(gw, { model: 'chat', messages: userMessage('hi'), top_k: 5 });
        assert.equal(r.status, 400, r.text);
        assert.match(assertOpenAIError(assert, r.json).message, /top_k/);

        const m = marker('thinking');
        const ok = await chat(gw, {
            model: 'chat-drop', messages: userMessage(m), top_k: 5, thinking: { type: 'enabled', budget_tokens: 1024 },
        });
        assert.equal(ok.status, 200, ok.text);
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.body.top_k, undefined);
        assert.equal(rec.body.thinking, undefined);
    });

    it('cache_control, reasoning_content and thinking_blocks are not sent', T, async () => {
        const m = marker('strip');
        const body = {
            messages: [
                { role: 'system', content: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }] },
                { role: 'user', content: 'q1', cache_control: { type: 'ephemeral' } },
                {
                    role: 'assistant', content: 'a1', reasoning_content: 'thought',
                    thinking_blocks: [{ type: 'thinking', thinking: 'thought', signature: 'sig' }],
                },
                { role: 'user', content: [{ type: 'text', text: m }] },
            ],
            tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } },
                      cache_control: { type: 'ephemeral' } }],
        };
        const r = await chat(gw, { model: 'chat', ...body });
        assert.equal(r.status, 200, r.text);
        const [rec] = await mock.waitForRequest(m);
        assert.deepEqual(rec.body.messages, [
            { role: 'system', content: [{ type: 'text', text: 'sys' }] },
            { role: 'user', content: 'q1' },
            { role: 'assistant', content: 'a1' },
            { role: 'user', content: [{ type: 'text', text: m }] },
        ]);
        assert.deepEqual(rec.body.tools, [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }]);

        /* A compatible server keeps top_k and thinking; forward_cache_control keeps the markers. */
        const v = marker('vllm');
        const rv = await chat(gw, { model: 'vllm-cache', ...body, messages: [...body.messages.slice(0, 3), userMessage(v)[0]],
                                    top_k: 5, thinking: { type: 'enabled' } });
        assert.equal(rv.status, 200, rv.text);
        const [recv] = await mock.waitForRequest(v);
        assert.equal(recv.body.top_k, 5);
        assert.deepEqual(recv.body.thinking, { type: 'enabled' });
        assert.deepEqual(recv.body.messages[0].content[0].cache_control, { type: 'ephemeral' });
        assert.deepEqual(recv.body.tools[0].cache_control, { type: 'ephemeral' });
        assert.equal(recv.body.messages[2].reasoning_content, undefined, 'reasoning_content is never sent back');
    });
});

/* POST a body to a gateway path with the master key. */
function request(gw, path, body) {
    return chat(gw, body, { path });
}
