/*
 * Azure OpenAI through the gateway: clients speak the OpenAI API to Gantry (the openai SDK, curl),
 * Gantry speaks Azure to the mock (tests/mock/openai-mock.mjs serves /openai/deployments/... and
 * /openai/v1/...).  Covers the deployment URL with api-version, the api-key header (and Entra ID
 * tokens as bearer tokens), the v1 API, streams (Azure's prompt-filter event must not reach the
 * client), content filtering (400 content_filter is a content-policy error: it takes
 * content_policy_fallbacks; finish_reason content_filter passes through), secrets kept out of
 * error messages, embeddings and legacy completions, and the AZURE_* environment fallbacks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { AZURE_CONTENT_FILTER_ERROR, mockContent, mockEmbedding, mockPieces } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, assertOpenAIError, chat, fakeDeployment, marker, parseSSE, request, startGateway,
    startMock, userMessage,
} from './harness.mjs';

const T = { timeout: 20_000 };

/* The runner's own AZURE_* variables must not leak into the gateway (empty counts as unset). */
const NO_AZURE_ENV = { AZURE_API_BASE: '', AZURE_API_KEY: '', AZURE_OPENAI_API_KEY: '', AZURE_API_VERSION: '',
                       AZURE_AD_TOKEN: '' };

function azureDeployment(mock, name, deployment, params = {}) {
    return {
        model_name: name,
        litellm_params: {
            model: `azure/${deployment}`,
            api_base: mock.url,
            api_key: 'os.environ/UPSTREAM_KEY',
            ...params,
        },
        model_info: { id: `dep-${name}` },
    };
}

describe('azure', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        gw = await startGateway({
            model_list: [
                azureDeployment(mock, 'azure-chat', 'gpt4o-prod'),
                azureDeployment(mock, 'azure-dated', 'gpt4o-dated', { api_version: '2025-04-01-preview' }),
                azureDeployment(mock, 'azure-v1', 'gpt4o-v1', { api_version: 'v1' }),
                azureDeployment(mock, 'azure-preview', 'gpt4o-preview', { api_version: 'preview' }),
                /* An Entra ID token instead of a key (the mock takes the key's value as a token). */
                azureDeployment(mock, 'azure-ad', 'gpt4o-ad', { api_key: null, azure_ad_token: 'os.environ/UPSTREAM_KEY' }),
                azureDeployment(mock, 'azure-guarded', 'gpt4o-guarded'),
                azureDeployment(mock, 'azure-emb', 'emb-prod'),
                {
                    ...azureDeployment(mock, 'azure-instruct', 'instruct-prod'),
                    litellm_params: { model: 'azure_text/instruct-prod', api_base: mock.url,
                                      api_key: 'os.environ/UPSTREAM_KEY' },
                },
                fakeDeployment({ name: 'fb-policy', id: 'dep-fb-policy' }),
            ].map((d) => {
                /* null means "leave the key out" */
                const p = Object.fromEntries(Object.entries(d.litellm_params).filter(([, v]) => v !== null));
                return { ...d, litellm_params: p };
            }),
            router_settings: {
                num_retries: 0,
                content_policy_fallbacks: [{ 'azure-guarded': ['fb-policy'] }],
            },
            general_settings: { master_key: MASTER_KEY },
        }, { env: NO_AZURE_ENV });
        client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    it('chat: deployment path, default api-version, api-key header', T, async () => {
        const m = marker('az-chat');
        const { data, response } = await client.chat.completions
            .create({ model: 'azure-chat', messages: userMessage(`hi ${m}`) })
            .withResponse();
        assert.equal(data.object, 'chat.completion');
        assert.equal(data.choices[0].message.content, mockContent());
        assert.equal(data.choices[0].finish_reason, 'stop');
        assert.equal(data.usage.prompt_tokens, 10);
        assert.equal(data.usage.completion_tokens, 3);
        assert.equal(response.headers.get('x-gantry-model-id'), 'dep-azure-chat');

        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/openai/deployments/gpt4o-prod/chat/completions');
        assert.equal(rec.query, '?api-version=2024-10-21');
        assert.deepEqual(rec.azure, { deployment: 'gpt4o-prod', apiVersion: '2024-10-21', v1: false, auth: 'api-key' });
        assert.equal(rec.headers['api-key'], UPSTREAM_KEY);
        assert.equal(rec.headers.authorization, undefined, 'the key goes in api-key, not Authorization');
        assert.ok(!JSON.stringify(rec.headers).includes(MASTER_KEY), 'the master key must not reach Azure');
        assert.equal(rec.body.model, 'gpt4o-prod');
        assert.deepEqual(rec.body.messages, userMessage(`hi ${m}`));
    });

    it('chat: a configured api_version is sent as it is', T, async () => {
        const m = marker('az-dated');
        await client.chat.completions.create({ model: 'azure-dated', messages: userMessage(m) });
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/openai/deployments/gpt4o-dated/chat/completions');
        assert.equal(rec.azure.apiVersion, '2025-04-01-preview');
    });

    it('stream: text in order, the prompt-filter event dropped, usage when asked', T, async () => {
        const m = marker('az-stream');
        const stream = await client.chat.completions.create({
            model: 'azure-chat', messages: userMessage(`[[chunks:4]] ${m}`), stream: true,
            stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const c of stream) chunks.push(c);
        for (const c of chunks) {
            assert.equal(c.object, 'chat.completion.chunk', JSON.stringify(c));
            assert.equal(c.prompt_filter_results, undefined, `Azure's annotation event reached the client: ${JSON.stringify(c)}`);
        }
        const pieces = chunks.flatMap((c) => (c.choices[0]?.delta?.content ? [c.choices[0].delta.content] : []));
        assert.deepEqual(pieces, mockPieces(4));
        assert.equal(chunks.find((c) => c.choices[0]?.delta?.role)?.choices[0].delta.role, 'assistant');
        assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'stop');
        const last = chunks.at(-1);
        assert.deepEqual(last.choices, []);
        assert.equal(last.usage.completion_tokens, 4);
        /* Only the usage chunk may have no choices. */
        assert.equal(chunks.filter((c) => c.choices.length === 0).length, 1);

        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.body.stream, true);
        assert.equal(rec.body.stream_options.include_usage, true);
        assert.equal(rec.query, '?api-version=2024-10-21');
    });

    it('stream without include_usage: no empty-choices chunk at all', T, async () => {
        const r = await chat(gw, { model: 'azure-chat', messages: userMessage(`hi ${marker()}`), stream: true });
        assert.equal(r.status, 200, r.text);
        const events = parseSSE(r.text);
        assert.equal(events.at(-1).data, '[DONE]');
        const data = events.slice(0, -1).map((e) => JSON.parse(e.data));
        assert.ok(data.length >= 4, r.text);
        for (const d of data) assert.ok(d.choices.length > 0, `a chunk without choices reached the client: ${JSON.stringify(d)}`);
        assert.equal(data.map((d) => d.choices[0].delta.content ?? '').join(''), mockContent());
    });

    it('v1 API: /openai/v1/chat/completions, deployment as model, no api-version', T, async () => {
        const m = marker('az-v1');
        const res = await client.chat.completions.create({ model: 'azure-v1', messages: userMessage(m) });
        assert.equal(res.choices[0].message.content, mockContent());
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/openai/v1/chat/completions');
        assert.equal(rec.query, '');
        assert.equal(rec.body.model, 'gpt4o-v1');
        assert.equal(rec.headers['api-key'], UPSTREAM_KEY);

        const p = marker('az-preview');
        await client.chat.completions.create({ model: 'azure-preview', messages: userMessage(p) });
        const [prev] = await mock.waitForRequest(p);
        assert.equal(prev.path, '/openai/v1/chat/completions');
        assert.equal(prev.query, '?api-version=preview');
    });

    it('azure_ad_token: sent as a bearer token instead of api-key', T, async () => {
        const m = marker('az-ad');
        const res = await client.chat.completions.create({ model: 'azure-ad', messages: userMessage(m) });
        assert.equal(res.choices[0].message.content, mockContent());
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        assert.equal(rec.headers['api-key'], undefined);
        assert.equal(rec.azure.auth, 'bearer');
    });

    it('content filter: 400 with code content_filter reaches the client', T, async () => {
        const r = await chat(gw, { model: 'azure-chat', messages: userMessage(`[[content_filter]] ${marker()}`) });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'content_filter' });
        assert.ok(e.message.includes('content management policy'), e.message);
        assert.equal(e.param, AZURE_CONTENT_FILTER_ERROR.error.param);

        await assert.rejects(
            client.chat.completions.create({ model: 'azure-chat', messages: userMessage('[[content_filter]]') }),
            (err) => err instanceof OpenAI.BadRequestError && err.code === 'content_filter');
    });

    it('content filter: a content-policy error takes content_policy_fallbacks', T, async () => {
        const m = marker('az-guard');
        const r = await chat(gw, { model: 'azure-guarded', messages: userMessage(`[[content_filter]] ${m}`) });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('x-gantry-model-id'), 'dep-fb-policy');
        assert.equal(r.json.choices[0].message.content, 'Hi there friend');
        assert.equal((await mock.waitForRequest(m)).length, 1, 'Azure was asked first, once');

        /* A plain 400 is the client's fault: no fallback. */
        const plain = await chat(gw, { model: 'azure-guarded', messages: userMessage(`[[status:400]] ${marker()}`) });
        assert.equal(plain.status, 400, plain.text);
        assert.notEqual(plain.headers.get('x-gantry-model-id'), 'dep-fb-policy', 'a plain 400 must not fall back');
        assertOpenAIError(assert, plain.json);
    });

    it('finish_reason content_filter passes through, streamed or not', T, async () => {
        const res = await client.chat.completions.create({ model: 'azure-chat', messages: userMessage('[[filter_finish]]') });
        assert.equal(res.choices[0].finish_reason, 'content_filter');

        const stream = await client.chat.completions.create({
            model: 'azure-chat', messages: userMessage('[[filter_finish]]'), stream: true,
        });
        let finish = null;
        for await (const c of stream) finish = c.choices[0]?.finish_reason ?? finish;
        assert.equal(finish, 'content_filter');
    });

    it('the api-key never appears in an error, even when Azure quotes it', T, async () => {
        for (const model of ['azure-chat', 'azure-ad']) {
            const r = await chat(gw, { model, messages: userMessage(`[[leak_key]] ${marker()}`) });
            assert.equal(r.status, 401, r.text);
            assert.ok(!r.text.includes(UPSTREAM_KEY), `${model}: the credential leaked: ${r.text}`);
            const e = assertOpenAIError(assert, r.json);
            assert.match(e.message, /Access denied/);
            assert.match(e.message, /\[redacted\]/);
        }
        const s = await chat(gw, { model: 'azure-chat', messages: userMessage('[[leak_key]]'), stream: true });
        assert.ok(!s.text.includes(UPSTREAM_KEY), `a stream error leaked the credential: ${s.text}`);
    });

    it('embeddings: deployment embeddings path, vectors relayed', T, async () => {
        const m = marker('az-emb');
        const res = await client.embeddings.create({ model: 'azure-emb', input: m });
        assert.deepEqual(Array.from(res.data[0].embedding), mockEmbedding(m));
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/openai/deployments/emb-prod/embeddings');
        assert.equal(rec.query, '?api-version=2024-10-21');
        assert.equal(rec.headers['api-key'], UPSTREAM_KEY);
    });

    it('azure_text: /v1/completions go to the deployment completions path', T, async () => {
        const m = marker('az-text');
        const res = await client.completions.create({ model: 'azure-instruct', prompt: `Say hi ${m}`, max_tokens: 2 });
        assert.equal(res.object, 'text_completion');
        assert.equal(res.choices[0].text, mockPieces(3).slice(0, 2).join(''));
        assert.equal(res.choices[0].finish_reason, 'length');
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/openai/deployments/instruct-prod/completions');
        assert.equal(rec.query, '?api-version=2024-10-21');
        assert.deepEqual(rec.body, { model: 'instruct-prod', prompt: `Say hi ${m}`, max_tokens: 2 });

        /* A chat client of the same deployment is answered from the text completion. */
        const c = await client.chat.completions.create({ model: 'azure-instruct', messages: userMessage(`chat ${m}`) });
        assert.equal(c.choices[0].message.content, mockContent());
        assert.equal(c.choices[0].message.role, 'assistant');
    });

    it('curl-style raw request: the answer keeps the OpenAI chat shape', T, async () => {
        const r = await request(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'api-key': MASTER_KEY, 'content-type': 'application/json' },
            body: { model: 'azure-chat', messages: userMessage('hello') },
        });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.object, 'chat.completion');
        assert.equal(r.json.choices[0].message.content, mockContent());
    });
});

describe('azure: AZURE_* environment fallbacks', () => {
    let mock;
    let gw;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        gw = await startGateway({
            model_list: [{ model_name: 'azure-env', litellm_params: { model: 'azure/env-dep' }, model_info: { id: 'dep-env' } }],
            general_settings: { master_key: MASTER_KEY },
        }, { env: { ...NO_AZURE_ENV, AZURE_API_BASE: mock.url, AZURE_API_KEY: UPSTREAM_KEY,
                    AZURE_API_VERSION: '2024-06-01' } });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    it('api_base, api_key and api_version come from AZURE_API_BASE, AZURE_API_KEY, AZURE_API_VERSION', T, async () => {
        const m = marker('az-env');
        const r = await chat(gw, { model: 'azure-env', messages: userMessage(m) });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.choices[0].message.content, mockContent());
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/openai/deployments/env-dep/chat/completions');
        assert.equal(rec.query, '?api-version=2024-06-01');
        assert.equal(rec.headers['api-key'], UPSTREAM_KEY);
    });
});
