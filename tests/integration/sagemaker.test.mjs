/*
 * The sagemaker provider end to end: the gateway with sagemaker/... (TGI-style containers) and
 * sagemaker_chat/... (Messages API containers) deployments pointing at tests/mock/sagemaker-mock.mjs,
 * which checks every request's SigV4 signature and streams container bytes inside event-stream
 * PayloadParts cut at awkward places.  Driven by the official openai SDK and by fetch; every test
 * checks both what the client gets and what the mock recorded upstream.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
    CONTEXT_ORIGINAL, CREDENTIALS, EMBED_VECTOR, INPUT_LENGTH, PIECES, PROMPT_TOKENS, REGION, TEXT,
} from '../mock/sagemaker-mock.mjs';
import {
    MASTER_KEY, REPO_ROOT, assertOpenAIError, chat, marker, parseSSE, readAll, startGateway, waitFor,
} from './harness.mjs';

const T = { timeout: 30_000 };
const MOCK = path.join(REPO_ROOT, 'tests', 'mock', 'sagemaker-mock.mjs');
const STATIC = CREDENTIALS.static;

/* Starts the SageMaker mock as a child process; {url, requests(marker), only(marker), stats(), stop()}. */
async function startSagemakerMock() {
    const child = spawn(process.execPath, [MOCK, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
        stderr += s;
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const port = await new Promise((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => {
            kill();
            reject(new Error(`sagemaker mock did not start: ${stderr}`));
        }, 5000);
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (s) => {
            buf += s;
            const m = /^LISTENING (\d+)$/m.exec(buf);
            if (m) {
                clearTimeout(timer);
                resolve(Number(m[1]));
            }
        });
        exited.then(() => {
            clearTimeout(timer);
            reject(new Error(`sagemaker mock exited early: ${stderr}`));
        });
    });
    const url = `http://127.0.0.1:${port}`;
    const getJson = async (p) => {
        const r = await fetch(`${url}${p}`, { signal: AbortSignal.timeout(5000) });
        return r.json();
    };
    return {
        url,
        requests: (contains) => getJson(`/__mock/requests?contains=${encodeURIComponent(contains)}`),
        stats: () => getJson('/__mock/stats'),
        /* The one upstream request carrying `m` (waits for it). */
        async only(m) {
            const list = await waitFor(async () => {
                const l = await this.requests(m);
                return l.length > 0 ? l : null;
            }, { timeout: 3000, what: `an upstream request containing ${m}` });
            assert.equal(list.length, 1, `exactly one upstream request for ${m}`);
            return list[0];
        },
        async stop() {
            if (child.exitCode === null && child.signalCode === null) {
                child.kill('SIGTERM');
                const t = setTimeout(kill, 3000);
                await exited;
                clearTimeout(t);
            }
            process.off('exit', kill);
        },
    };
}

function deployment(mock, name, model, params = {}) {
    return {
        model_name: name,
        litellm_params: {
            model,
            api_base: mock.url,
            aws_access_key_id: STATIC.accessKeyId,
            aws_secret_access_key: 'os.environ/SAGEMAKER_TEST_SECRET',
            aws_region_name: REGION,
            ...params,
        },
        model_info: { id: `dep-${name}` },
    };
}

/* Llama 3's format around one user message, as the gateway renders it by default. */
const llama3 = (user) => '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n' +
    `${user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`;
const estimate = (s) => Math.ceil(Buffer.byteLength(s) / 4);

/* The upstream request was signed by the gateway with `accessKeyId`, and the mock accepted it. */
function assertSigned(rec, accessKeyId = STATIC.accessKeyId) {
    assert.ok(rec.auth?.ok, `the mock refused the signature: ${JSON.stringify(rec.auth)}`);
    assert.match(rec.headers.authorization,
                 new RegExp(`^AWS4-HMAC-SHA256 Credential=${accessKeyId}/\\d{8}/${REGION}/sagemaker/aws4_request, `));
    for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256', 'content-type']) {
        assert.ok(rec.auth.signedHeaders.includes(h), `${h} is signed`);
    }
    assert.ok(!JSON.stringify(rec.headers).includes(MASTER_KEY), 'the master key must not reach SageMaker');
}

/* Collects an SDK stream: the text, the finish reasons and the usage chunk. */
async function collect(stream) {
    const out = { text: '', chunks: 0, finish: [], usage: null, roles: [] };
    for await (const c of stream) {
        if (c.usage) out.usage = c.usage;
        for (const ch of c.choices ?? []) {
            if (ch.delta?.role) out.roles.push(ch.delta.role);
            if (typeof ch.delta?.content === 'string' && ch.delta.content !== '') {
                out.text += ch.delta.content;
                out.chunks++;
            }
            if (ch.finish_reason) out.finish.push(ch.finish_reason);
        }
    }
    return out;
}

describe('sagemaker provider', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startSagemakerMock();
        gw = await startGateway({
            model_list: [
                deployment(mock, 'tgi', 'sagemaker/tgi-ep', { inference_component_name: 'ic-tgi' }),
                deployment(mock, 'tgi-drop', 'sagemaker/tgi-ep', { drop_params: true }),
                deployment(mock, 'chat', 'sagemaker_chat/chat-ep', { model_id: 'ic-chat', target_variant: 'variant-a' }),
                deployment(mock, 'chat-as-tgi', 'sagemaker_chat/chat-ep', { sagemaker_api: 'tgi', prompt_template: 'chatml' }),
                deployment(mock, 'embed', 'sagemaker/embed-ep'),
                deployment(mock, 'missing', 'sagemaker_chat/missing-endpoint'),
                deployment(mock, 'bad-secret', 'sagemaker/tgi-ep', { aws_secret_access_key: 'not-the-secret' }),
                deployment(mock, 'unknown-key', 'sagemaker/tgi-ep', { aws_access_key_id: 'AKIDUNKNOWNKEY' }),
            ],
            general_settings: { master_key: MASTER_KEY },
            router_settings: { num_retries: 0 },
        }, { env: { SAGEMAKER_TEST_SECRET: STATIC.secretAccessKey } });
        client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 20_000 });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    describe('tgi containers (sagemaker/)', () => {
        it('non-streamed: the prompt template, TGI parameters, a signed request, the answer', T, async () => {
            const m = marker('tgi');
            const res = await client.chat.completions.create({
                model: 'tgi', messages: [{ role: 'user', content: `Say hello ${m}` }],
                max_tokens: 50, temperature: 0.5, stop: ['\n\n'], seed: 7,
            });
            assert.equal(res.object, 'chat.completion');
            assert.equal(res.model, 'tgi-ep');
            assert.equal(res.choices[0].message.role, 'assistant');
            assert.equal(res.choices[0].message.content, TEXT);
            assert.equal(res.choices[0].finish_reason, 'stop', 'eos_token is a stop');

            const rec = await mock.only(m);
            assertSigned(rec);
            assert.equal(rec.path, '/endpoints/tgi-ep/invocations');
            assert.equal(rec.headers.accept, 'application/json');
            assert.equal(rec.headers['x-amzn-sagemaker-inference-component'], 'ic-tgi');
            assert.deepEqual(rec.body, {
                inputs: llama3(`Say hello ${m}`),
                parameters: { max_new_tokens: 50, temperature: 0.5, do_sample: true, seed: 7, stop: ['\n\n'],
                              details: true, return_full_text: false },
            });
            /* TGI counts its eos token; the prompt's tokens are estimated from its length. */
            assert.equal(res.usage.completion_tokens, PIECES.length + 1);
            assert.equal(res.usage.prompt_tokens, estimate(rec.body.inputs));
        });

        it('streamed: SSE token events re-split from PayloadParts, finish and usage', T, async () => {
            const m = marker('tgi-stream');
            const out = await collect(await client.chat.completions.create({
                model: 'tgi', stream: true, stream_options: { include_usage: true },
                messages: [{ role: 'user', content: `Stream ${m}` }],
            }));
            assert.equal(out.text, TEXT);
            assert.equal(out.chunks, PIECES.length, 'one chunk per token; the special eos token is not text');
            assert.deepEqual(out.roles, ['assistant']);
            assert.deepEqual(out.finish, ['stop']);
            assert.deepEqual(out.usage && { p: out.usage.prompt_tokens, c: out.usage.completion_tokens },
                             { p: INPUT_LENGTH, c: PIECES.length + 1 });
            const rec = await mock.only(m);
            assertSigned(rec);
            assert.equal(rec.path, '/endpoints/tgi-ep/invocations-response-stream');
            assert.equal(rec.body.stream, true, 'TGI streams when the body says so');
        });

        it('max_tokens cuts the answer: finish_reason length, streamed and not', T, async () => {
            const m = marker('tgi-len');
            const res = await client.chat.completions.create({
                model: 'tgi', max_tokens: 2, messages: [{ role: 'user', content: `a ${m}` }],
            });
            assert.equal(res.choices[0].message.content, PIECES.slice(0, 2).join(''));
            assert.equal(res.choices[0].finish_reason, 'length');
            const out = await collect(await client.chat.completions.create({
                model: 'tgi', max_tokens: 2, stream: true, messages: [{ role: 'user', content: `b ${m}` }],
            }));
            assert.equal(out.text, PIECES.slice(0, 2).join(''));
            assert.deepEqual(out.finish, ['length']);
        });

        it('JSON lines in one-byte PayloadParts give the same answer', T, async () => {
            const m = marker('tgi-jsonl');
            const out = await collect(await client.chat.completions.create({
                model: 'tgi', stream: true, messages: [{ role: 'user', content: `[[jsonlines]] [[part:1]] ${m}` }],
            }));
            assert.equal(out.text, TEXT);
            assert.deepEqual(out.finish, ['stop']);
        });

        it('a Messages-API endpoint driven as tgi with sagemaker_api and a ChatML prompt', T, async () => {
            const m = marker('as-tgi');
            const res = await client.chat.completions.create({
                model: 'chat-as-tgi', messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: m }],
            });
            assert.equal(res.choices[0].message.content, TEXT);
            const rec = await mock.only(m);
            assert.equal(rec.path, '/endpoints/chat-ep/invocations');
            assert.equal(rec.body.inputs,
                         `<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\n${m}<|im_end|>\n<|im_start|>assistant\n`);
        });

        it('parameters TGI cannot honour are refused by name, or dropped with drop_params', T, async () => {
            const m = marker('tools');
            const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
            const r = await chat(gw, { model: 'tgi', messages: [{ role: 'user', content: m }], tools });
            assert.equal(r.status, 400, r.text);
            assertOpenAIError(assert, r.json, { messageIncludes: 'tools' });
            assert.equal((await mock.requests(m)).length, 0, 'a refused request never reaches SageMaker');

            const n = await chat(gw, { model: 'tgi', messages: [{ role: 'user', content: m }], n: 2 });
            assert.equal(n.status, 400, n.text);
            assertOpenAIError(assert, n.json, { messageIncludes: "'n'" });

            const ok = await chat(gw, { model: 'tgi-drop', messages: [{ role: 'user', content: m }], tools, logit_bias: { 1: 1 } });
            assert.equal(ok.status, 200, ok.text);
            assert.equal(ok.json.choices[0].message.content, TEXT);
            const rec = await mock.only(m);
            assert.deepEqual(Object.keys(rec.body).sort(), ['inputs', 'parameters']);
        });
    });

    describe('messages containers (sagemaker_chat/)', () => {
        it('non-streamed: the chat body without model, routing headers, the answer', T, async () => {
            const m = marker('chat');
            const res = await client.chat.completions.create({
                model: 'chat', messages: [{ role: 'user', content: `Hi ${m}` }], temperature: 0.3, max_tokens: 20,
            });
            assert.equal(res.choices[0].message.content, TEXT);
            assert.deepEqual({ p: res.usage.prompt_tokens, c: res.usage.completion_tokens }, { p: PROMPT_TOKENS, c: PIECES.length });
            const rec = await mock.only(m);
            assertSigned(rec);
            assert.equal(rec.path, '/endpoints/chat-ep/invocations');
            assert.equal(rec.headers['x-amzn-sagemaker-inference-component'], 'ic-chat', 'model_id is LiteLLM\'s name for it');
            assert.equal(rec.headers['x-amzn-sagemaker-target-variant'], 'variant-a');
            assert.deepEqual(rec.body, { messages: [{ role: 'user', content: `Hi ${m}` }], temperature: 0.3, max_tokens: 20 });
        });

        it('streamed: OpenAI chunks re-split from PayloadParts; usage asked upstream, hidden unless wanted', T, async () => {
            const m = marker('chat-stream');
            const out = await collect(await client.chat.completions.create({
                model: 'chat', stream: true, messages: [{ role: 'user', content: `Hi ${m}` }],
            }));
            assert.equal(out.text, TEXT);
            assert.deepEqual(out.finish, ['stop']);
            assert.equal(out.usage, null, 'no usage chunk for a client that did not ask');
            const rec = await mock.only(m);
            assert.equal(rec.path, '/endpoints/chat-ep/invocations-response-stream');
            assert.equal(rec.body.stream, true);
            assert.deepEqual(rec.body.stream_options, { include_usage: true });
            assert.equal(rec.body.model, undefined);

            const m2 = marker('chat-usage');
            const out2 = await collect(await client.chat.completions.create({
                model: 'chat', stream: true, stream_options: { include_usage: true },
                messages: [{ role: 'user', content: `[[part:2]] ${m2}` }],
            }));
            assert.equal(out2.text, TEXT);
            assert.equal(out2.usage?.completion_tokens, PIECES.length);
        });

        it('a container answer without id, created and model gets them', T, async () => {
            const m = marker('bare');
            const r = await chat(gw, { model: 'chat', messages: [{ role: 'user', content: `[[bare]] ${m}` }] });
            assert.equal(r.status, 200, r.text);
            assert.equal(typeof r.json.id, 'string');
            assert.ok(r.json.id.length > 0);
            assert.equal(typeof r.json.created, 'number');
            assert.equal(r.json.model, 'chat-ep');
            assert.equal(r.json.choices[0].message.content, TEXT);
        });
    });

    describe('embeddings', () => {
        it('the SDK (base64 by default) gets the container\'s vectors, list and wrapped answers', T, async () => {
            const m = marker('emb');
            const res = await client.embeddings.create({ model: 'embed', input: [`one ${m}`, `three ${m}`] });
            assert.equal(res.object, 'list');
            assert.equal(res.data.length, 2);
            assert.deepEqual(res.data.map((d) => d.index), [0, 1]);
            assert.deepEqual(res.data[0].embedding, EMBED_VECTOR(`one ${m}`));
            assert.deepEqual(res.data[1].embedding, EMBED_VECTOR(`three ${m}`));
            assert.equal(res.usage.prompt_tokens, 0);
            const rec = await mock.only(m);
            assertSigned(rec);
            assert.deepEqual(rec.body, { inputs: [`one ${m}`, `three ${m}`] });

            const m2 = marker('emb-wrapped');
            const r = await fetch(`${gw.baseURL}/embeddings`, {
                method: 'POST',
                headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
                body: JSON.stringify({ model: 'embed', input: `[[wrapped]] ${m2}`, encoding_format: 'float' }),
                signal: AbortSignal.timeout(15_000),
            });
            const j = await r.json();
            assert.equal(r.status, 200, JSON.stringify(j));
            assert.deepEqual(j.data[0].embedding, EMBED_VECTOR(`[[wrapped]] ${m2}`));
        });
    });

    describe('errors', () => {
        it('a ModelError gives the container\'s status and words', T, async () => {
            const m = marker('me');
            const r = await chat(gw, { model: 'tgi', messages: [{ role: 'user', content: `[[model_error:400]] ${m}` }] });
            assert.equal(r.status, 400, r.text);
            const e = assertOpenAIError(assert, r.json, { code: 'ModelError', messageIncludes: '`temperature` must be strictly positive' });
            assert.equal(e.type, 'invalid_request_error');
            assert.ok(!e.message.includes('arn:aws:logs'), 'the log stream ARN stays out of client errors');

            const r5 = await chat(gw, { model: 'chat', messages: [{ role: 'user', content: `[[model_error]] ${m}` }] });
            assert.equal(r5.status, 500, r5.text);
            assertOpenAIError(assert, r5.json, { messageIncludes: 'Mock container error (status 500)' });
        });

        it('a prompt too long for the model is a context-window error', T, async () => {
            const m = marker('ctx');
            const r = await chat(gw, { model: 'tgi', messages: [{ role: 'user', content: `[[context]] ${m}` }] });
            assert.equal(r.status, 422, r.text);
            assertOpenAIError(assert, r.json, { messageIncludes: CONTEXT_ORIGINAL.error.slice(0, 40) });
        });

        it('SageMaker throttling and unavailability', T, async () => {
            const m = marker('svc');
            await assert.rejects(client.chat.completions.create({ model: 'tgi', messages: [{ role: 'user', content: `[[status:429]] ${m}` }] }),
                                 (e) => e instanceof OpenAI.RateLimitError && /Rate exceeded/.test(e.message));
            const r = await chat(gw, { model: 'chat', messages: [{ role: 'user', content: `[[status:503]] ${m}` }] });
            assert.equal(r.status, 503, r.text);
            assertOpenAIError(assert, r.json, { messageIncludes: 'service is unavailable' });
        });

        it('an endpoint that does not exist is a 404', T, async () => {
            await assert.rejects(client.chat.completions.create({ model: 'missing', messages: [{ role: 'user', content: 'hi' }] }),
                                 (e) => e instanceof OpenAI.NotFoundError && /missing-endpoint/.test(e.message));
        });

        it('a wrong secret or an unknown key: the mock refuses the signature, the client gets an auth error', T, async () => {
            const m = marker('sig');
            await assert.rejects(client.chat.completions.create({ model: 'bad-secret', messages: [{ role: 'user', content: m }] }),
                                 (e) => e instanceof OpenAI.PermissionDeniedError && /signature we calculated does not match/.test(e.message));
            const rec = await mock.only(m);
            assert.equal(rec.auth.ok, false);
            assert.equal(rec.auth.type, 'InvalidSignatureException');
            assert.ok(!JSON.stringify(rec.headers).includes('not-the-secret'), 'the secret itself is never sent');

            const m2 = marker('key');
            const r = await chat(gw, { model: 'unknown-key', messages: [{ role: 'user', content: m2 }] });
            assert.equal(r.status, 403, r.text);
            const e = assertOpenAIError(assert, r.json, { messageIncludes: 'security token included in the request is invalid' });
            assert.equal(e.type, 'authentication_error');
        });

        it('exceptions in the event stream: before any output an error answer, after it an error event', T, async () => {
            const m = marker('exc');
            const early = await chat(gw, { model: 'chat', stream: true, messages: [{ role: 'user', content: `[[stream_exception]] ${m}` }] });
            assert.equal(early.status, 502, early.text);
            assertOpenAIError(assert, early.json, { code: 'ModelStreamError', messageIncludes: 'StreamBroken' });

            const r = await fetch(`${gw.baseURL}/chat/completions`, {
                method: 'POST',
                headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
                body: JSON.stringify({ model: 'tgi', stream: true, messages: [{ role: 'user', content: `[[stream_failure]] [[part:400]] ${m}` }] }),
                signal: AbortSignal.timeout(15_000),
            });
            assert.equal(r.status, 200);
            const { text } = await readAll(r);
            const events = parseSSE(text);
            const content = events.filter((e) => e.data.startsWith('{') && JSON.parse(e.data).choices)
                .map((e) => JSON.parse(e.data).choices[0]?.delta?.content ?? '').join('');
            assert.ok(content.length > 0 && TEXT.startsWith(content), `some text came first: ${text}`);
            const err = events.find((e) => e.data.includes('"error"'));
            assert.ok(err, `an error event ends the stream: ${text}`);
            assert.match(JSON.parse(err.data).error.message, /InternalStreamFailure/);
        });

        it('an error line from the container mid-stream ends the stream with its words', T, async () => {
            const m = marker('errline');
            const r = await fetch(`${gw.baseURL}/chat/completions`, {
                method: 'POST',
                headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
                body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: `[[error_line]] ${m}` }] }),
                signal: AbortSignal.timeout(15_000),
            });
            assert.equal(r.status, 200);
            const { text } = await readAll(r);
            const err = parseSSE(text).find((e) => e.data.includes('"error"'));
            assert.ok(err, text);
            assert.match(JSON.parse(err.data).error.message, /CUDA out of memory/);
            assert.ok(!text.includes(PIECES[2]), 'nothing after the error reaches the client');
        });
    });
});

/*
 * Credentials from the default chain: the container credentials endpoint of the mock answers only
 * after a delay, so the first requests find no credentials yet; prepare() pauses and polls, and
 * they go out signed with the session credentials once they arrive.  A chain that fails answers
 * with the reason.
 */
describe('sagemaker credentials from the default chain', () => {
    const DELAY_MS = 3000; /* under the chain's 5 s timeout for the container endpoint */
    let mock;
    let gw;
    let failing;

    /* No keys, files, profiles or metadata service: only the container endpoint is left. */
    const chainEnv = (uri) => ({
        AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '',
        AWS_DEFAULT_PROFILE: '', AWS_WEB_IDENTITY_TOKEN_FILE: '', AWS_ROLE_ARN: '',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/gantry-test/credentials', AWS_CONFIG_FILE: '/nonexistent/gantry-test/config',
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '', AWS_CONTAINER_AUTHORIZATION_TOKEN: '',
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '', AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONTAINER_CREDENTIALS_FULL_URI: uri,
    });
    const chainDeployment = (name) => ({
        model_name: name,
        litellm_params: { model: 'sagemaker_chat/chat-ep', api_base: mock.url, aws_region_name: REGION },
        model_info: { id: `dep-${name}` },
    });

    before(async () => {
        mock = await startSagemakerMock();
        failing = await startGateway({
            model_list: [chainDeployment('chain-fail')],
            general_settings: { master_key: MASTER_KEY },
            router_settings: { num_retries: 0 },
        }, { env: chainEnv(`${mock.url}/__mock/creds?fail=1`) });
        /* Started last: its credential delay must outlast only its own start-up. */
        gw = await startGateway({
            model_list: [chainDeployment('chain')],
            general_settings: { master_key: MASTER_KEY },
            router_settings: { num_retries: 0 },
        }, { env: chainEnv(`${mock.url}/__mock/creds?delay=${DELAY_MS}`) });
    });
    after(async () => {
        try {
            await gw?.stop();
            await failing?.stop();
        } finally {
            await mock?.stop();
        }
    });

    it('requests wait for the first fetch, then go out with the session credentials', { timeout: 40_000 }, async () => {
        const stats = await mock.stats();
        assert.equal(stats.credsServed, 0, 'the credentials were not served yet when the requests were sent');
        const m = marker('chain');
        const results = await Promise.all([0, 1, 2].map((i) => chat(gw, { model: 'chain', messages: [{ role: 'user', content: `${m}-${i}` }] },
                                                                 { timeout: 30_000 })));
        for (const r of results) {
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.choices[0].message.content, TEXT);
        }
        const recs = await waitFor(async () => {
            const l = await mock.requests(m);
            return l.length === 3 ? l : null;
        }, { timeout: 3000, what: 'three signed requests' });
        for (const rec of recs) {
            assertSigned(rec, CREDENTIALS.session.accessKeyId);
            assert.equal(rec.headers['x-amz-security-token'], CREDENTIALS.session.sessionToken);
            assert.ok(rec.auth.signedHeaders.includes('x-amz-security-token'));
        }
    });

    it('a chain that fails answers with its reason', T, async () => {
        /* The first fetch fails quickly; wait for it rather than racing it. */
        const r = await waitFor(async () => {
            const x = await chat(failing, { model: 'chain-fail', messages: [{ role: 'user', content: 'hi' }] });
            return x.status !== 504 ? x : null;
        }, { timeout: 10_000, what: 'the failed credential fetch' });
        assert.equal(r.status, 500, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'aws_credentials_unavailable', messageIncludes: 'container' });
        assert.equal(e.type, 'authentication_error');
    });
});
