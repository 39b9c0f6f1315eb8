/*
 * Embeddings through the gateway (POST /v1/embeddings) with the openai SDK and raw HTTP, to the
 * openai provider's two upstream kinds: an OpenAI-style server and Azure OpenAI (both served by
 * the mock).  The upstream answer is relayed unchanged, so float lists and base64 strings both
 * arrive as the upstream sent them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { EMBEDDING_DIMENSIONS, mockEmbedding } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, assertOpenAIError, authHeaders, marker, request, startGateway, startMock,
} from './harness.mjs';

const T = { timeout: 20_000 };

/* The base64 text of a vector as the mock encodes it: little-endian float32. */
const base64Of = (v) => Buffer.from(new Float32Array(v).buffer).toString('base64');

describe('embeddings', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        gw = await startGateway({
            model_list: [
                {
                    model_name: 'emb',
                    litellm_params: {
                        model: 'openai/text-embedding-3-small',
                        api_base: mock.baseURL,
                        api_key: 'os.environ/UPSTREAM_KEY',
                    },
                    model_info: { id: 'dep-emb-openai', mode: 'embedding' },
                },
                {
                    model_name: 'emb-azure',
                    litellm_params: {
                        model: 'azure/emb-deployment',
                        api_base: mock.url,
                        api_key: 'os.environ/UPSTREAM_KEY',
                        api_version: '2024-10-21',
                    },
                    model_info: { id: 'dep-emb-azure', mode: 'embedding' },
                },
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

    const post = (body, headers = authHeaders()) =>
        request(`${gw.url}/v1/embeddings`, { method: 'POST', headers, body });

    /* Float32 values compare exactly: the mock's numbers are representable. */
    const assertVector = (got, text, dims = EMBEDDING_DIMENSIONS) =>
        assert.deepEqual(Array.from(got), mockEmbedding(text, dims), `embedding of ${JSON.stringify(text)}`);

    it('SDK: the default (base64) request is decoded to the upstream vectors', T, async () => {
        const m = marker('emb-sdk');
        const res = await client.embeddings.create({ model: 'emb', input: `hello ${m}` });
        assert.equal(res.object, 'list');
        assert.equal(res.data.length, 1);
        assert.equal(res.data[0].index, 0);
        assertVector(res.data[0].embedding, `hello ${m}`);
        assert.equal(res.model, 'text-embedding-3-small');
        assert.deepEqual(res.usage, { prompt_tokens: 2, total_tokens: 2 });

        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/v1/embeddings');
        assert.equal(rec.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
        assert.ok(!JSON.stringify(rec.headers).includes(MASTER_KEY), 'the master key must not reach the upstream');
        assert.deepEqual(rec.body, { model: 'text-embedding-3-small', input: `hello ${m}`, encoding_format: 'base64' });
    });

    it('base64 answers pass through unchanged', T, async () => {
        const m = marker('emb-b64');
        const inputs = [`one ${m}`, `two words ${m}`];
        const r = await post({ model: 'emb', input: inputs, encoding_format: 'base64' });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.data.length, 2);
        r.json.data.forEach((d, i) => {
            assert.equal(d.object, 'embedding');
            assert.equal(d.index, i);
            assert.equal(typeof d.embedding, 'string', 'a base64 embedding stays a string');
            assert.equal(d.embedding, base64Of(mockEmbedding(inputs[i])));
        });
        assert.deepEqual(r.json.usage, { prompt_tokens: 5, total_tokens: 5 });
    });

    it('float answers, dimensions and user are forwarded', T, async () => {
        const m = marker('emb-float');
        const res = await client.embeddings.create({
            model: 'emb', input: [`a ${m}`, `b ${m}`, `c ${m}`], encoding_format: 'float', dimensions: 3, user: 'user-7',
        });
        assert.equal(res.data.length, 3);
        res.data.forEach((d, i) => {
            assert.equal(d.index, i);
            assert.ok(Array.isArray(d.embedding), 'float embeddings are JSON arrays');
            assertVector(d.embedding, `${'abc'[i]} ${m}`, 3);
        });
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.body.dimensions, 3);
        assert.equal(rec.body.user, 'user-7');
        assert.equal(rec.body.encoding_format, 'float');
    });

    it('token-id input is forwarded as it is', T, async () => {
        const before = (await mock.requests({ path: '/v1/embeddings' })).length;
        const r = await post({ model: 'emb', input: [[101, 2023, 102], [7]], encoding_format: 'float' });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.data.map((d) => d.embedding), [mockEmbedding([101, 2023, 102]), mockEmbedding([7])]);
        assert.deepEqual(r.json.usage, { prompt_tokens: 4, total_tokens: 4 });
        const recs = await mock.requests({ path: '/v1/embeddings' });
        assert.equal(recs.length, before + 1);
        assert.deepEqual(recs.at(-1).body.input, [[101, 2023, 102], [7]]);
    });

    it('gateway-only fields are not forwarded, and no stream is asked for', T, async () => {
        const m = marker('emb-strip');
        const r = await post({ model: 'emb', input: m, metadata: { tag: 'x' }, tags: ['t'], num_retries: 0 });
        assert.equal(r.status, 200, r.text);
        const [rec] = await mock.waitForRequest(m);
        assert.deepEqual(Object.keys(rec.body).sort(), ['input', 'model']);
    });

    it('Azure: SDK embeddings go to the deployment path with api-key and api-version', T, async () => {
        const m = marker('emb-az');
        const res = await client.embeddings.create({ model: 'emb-azure', input: [`x ${m}`, `y ${m}`] });
        assert.equal(res.data.length, 2);
        assertVector(res.data[0].embedding, `x ${m}`);
        assertVector(res.data[1].embedding, `y ${m}`);
        const [rec] = await mock.waitForRequest(m);
        assert.equal(rec.path, '/openai/deployments/emb-deployment/embeddings');
        assert.equal(rec.query, '?api-version=2024-10-21');
        assert.equal(rec.headers['api-key'], UPSTREAM_KEY);
        assert.equal(rec.headers.authorization, undefined, 'Azure takes the key in api-key, not Authorization');
        assert.equal(rec.body.model, 'emb-deployment');
    });

    it('missing input → 400 from the gateway, nothing sent upstream', T, async () => {
        const before = (await mock.stats()).requests;
        const r = await post({ model: 'emb' });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json);
        assert.match(e.message, /input/);
        const empty = await post({ model: 'emb', input: [] });
        assert.equal(empty.status, 400, empty.text);
        assertOpenAIError(assert, empty.json);
        assert.equal((await mock.stats()).requests, before, 'a bad request never reaches the upstream');
    });

    it('unknown model → an OpenAI error, and the SDK raises it', T, async () => {
        const r = await post({ model: 'no-such-embedding-model', input: 'hi' });
        assert.ok(r.status === 404 || r.status === 400, `status ${r.status}: ${r.text}`);
        assertOpenAIError(assert, r.json);
        await assert.rejects(client.embeddings.create({ model: 'no-such-embedding-model', input: 'hi' }),
                             (err) => err instanceof OpenAI.APIError && err.status === r.status);
    });

    it('upstream errors keep their status and OpenAI body; the upstream key never leaks', T, async () => {
        const limited = await post({ model: 'emb', input: `[[status:429]] ${marker()}` });
        assert.equal(limited.status, 429, limited.text);
        assertOpenAIError(assert, limited.json, { code: 'rate_limit_exceeded' });

        const leak = await post({ model: 'emb-azure', input: `[[leak_key]] ${marker()}` });
        assert.equal(leak.status, 401, leak.text);
        const e = assertOpenAIError(assert, leak.json);
        assert.ok(!leak.text.includes(UPSTREAM_KEY), `the api-key leaked: ${leak.text}`);
        assert.match(e.message, /\[redacted\]/);
    });
});
