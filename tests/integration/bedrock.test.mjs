/*
 * The bedrock provider through the real gateway, against tests/mock/bedrock-mock.mjs (which
 * checks every SigV4 signature and speaks Bedrock's JSON and event-stream wire formats), with the
 * official openai SDK as the client.  The mock itself is first checked with the official AWS SDK
 * (@aws-sdk/client-bedrock-runtime), so its signatures and event streams are the real thing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
    API_KEY, CONTAINER_CREDS, CONTENT, CREDS, INPUT_TOKENS, PIECES, REGION, SESSION_CREDS, SIGNATURE, THINKING, TOOL_INPUT, embeddingOf,
} from '../mock/bedrock-mock.mjs';
import {
    MASTER_KEY, REPO_ROOT, assertOpenAIError, authHeaders, chat, marker, parseSSE, readAll, request, sleep, startGateway,
    tempDir, userMessage,
} from './harness.mjs';

const T = { timeout: 30_000 };
const MOCK = path.join(REPO_ROOT, 'tests', 'mock', 'bedrock-mock.mjs');
const CLAUDE = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/* ---- the mock, as a child process printing LISTENING <port> ---- */

const children = new Set();
process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
});

async function startBedrock() {
    const child = spawn(process.execPath, [MOCK, '--port', '0', ...(process.env.GANTRY_TEST_VERBOSE === '1' ? ['--verbose'] : [])],
                        { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
        stderr += s;
        if (process.env.GANTRY_TEST_VERBOSE === '1') process.stderr.write(s);
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const port = await new Promise((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(`bedrock mock did not start\n${stderr}`)), 5000);
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (s) => {
            buf += s;
            const m = /^LISTENING (\d+)$/m.exec(buf);
            if (m) {
                clearTimeout(timer);
                resolve(Number(m[1]));
            }
        });
        exited.then((code) => reject(new Error(`bedrock mock exited (${code})\n${stderr}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    const getJson = async (p, init) => (await fetch(url + p, { ...init, signal: AbortSignal.timeout(5000) })).json();
    return {
        url,
        /* Recorded requests whose body or path contains `contains`, bodies parsed. */
        async requests(contains) {
            const list = await getJson(`/__mock/requests${contains ? `?contains=${encodeURIComponent(contains)}` : ''}`);
            return list.map((r) => ({ ...r, json: r.body ? JSON.parse(r.body) : undefined }));
        },
        async stop() {
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 3000);
            await exited;
            clearTimeout(t);
            children.delete(child);
        },
    };
}

/* ---- deployments ---- */

function dep(mock, name, model, params = {}) {
    return {
        model_name: name,
        litellm_params: {
            model: `bedrock/${model}`,
            aws_access_key_id: CREDS.accessKeyId,
            aws_secret_access_key: CREDS.secretAccessKey,
            aws_region_name: REGION,
            aws_bedrock_runtime_endpoint: mock.url,
            max_retries: 0,
            ...params,
        },
        model_info: { id: `dep-${name}` },
    };
}

/* Deployments whose credentials come from somewhere else: no keys in the entry. */
function keyless(mock, name, model, params = {}) {
    const d = dep(mock, name, model, params);
    delete d.litellm_params.aws_access_key_id;
    delete d.litellm_params.aws_secret_access_key;
    return d;
}

const PROMPT_ARN = (id) => `arn:aws:bedrock:${REGION}:123456789012:prompt/${id}`;

describe('bedrock provider', () => {
    let mock;
    let gw;
    let client;
    let dir;

    before(async () => {
        mock = await startBedrock();
        dir = tempDir('gantry-bedrock-');
        /* The shared files the credential chain reads: one profile, and an empty config file. */
        const credFile = path.join(dir, 'credentials');
        const confFile = path.join(dir, 'config');
        writeFileSync(credFile, `[mockprof]\naws_access_key_id = ${CREDS.accessKeyId}\n` +
                                `aws_secret_access_key = ${CREDS.secretAccessKey}\n`);
        writeFileSync(confFile, '');
        gw = await startGateway({
            model_list: [
                dep(mock, 'claude', CLAUDE),
                dep(mock, 'claude-stream-faults', CLAUDE),
                dep(mock, 'claude-profile', `converse/us.${CLAUDE}`),
                dep(mock, 'invoke-claude', `invoke/${CLAUDE}`),
                dep(mock, 'invoke-titan', 'invoke/amazon.titan-text-express-v1'),
                dep(mock, 'invoke-llama', 'invoke/us.meta.llama3-1-8b-instruct-v1:0'),
                dep(mock, 'invoke-mistral', 'invoke/mistral.mistral-large-2402-v1:0'),
                dep(mock, 'invoke-nova', 'invoke/us.amazon.nova-pro-v1:0'),
                dep(mock, 'titan-embed', 'amazon.titan-embed-text-v2:0'),
                dep(mock, 'cohere-embed', 'cohere.embed-english-v3'),
                dep(mock, 'wrong-secret', CLAUDE, { aws_secret_access_key: 'not-the-right-secret-0000000000' }),
                dep(mock, 'session', CLAUDE, { aws_access_key_id: SESSION_CREDS.accessKeyId,
                                               aws_secret_access_key: SESSION_CREDS.secretAccessKey,
                                               aws_session_token: SESSION_CREDS.sessionToken }),
                keyless(mock, 'bearer', CLAUDE, { api_key: API_KEY }),
                keyless(mock, 'env-creds', CLAUDE),
                keyless(mock, 'profile-creds', CLAUDE, { aws_profile_name: 'mockprof' }),
                dep(mock, 'throttle-retry', CLAUDE, { max_retries: 2 }),
                dep(mock, 'throttle-once', CLAUDE),
                dep(mock, 'prompt-text', PROMPT_ARN('PROMPTTEXT01'), { aws_bedrock_agent_endpoint: mock.url }),
                dep(mock, 'prompt-chat', `${PROMPT_ARN('PROMPTCHAT01')}:2`, { aws_bedrock_agent_endpoint: mock.url }),
                dep(mock, 'prompt-missing', PROMPT_ARN('NOSUCHPROMPT'), { aws_bedrock_agent_endpoint: mock.url }),
            ],
            router_settings: { retry_backoff_base: 0.02, retry_backoff_max: 0.05 },
            general_settings: { master_key: MASTER_KEY },
        }, {
            env: {
                /* The environment's keys are the session pair, so tests can tell the sources apart. */
                AWS_ACCESS_KEY_ID: SESSION_CREDS.accessKeyId,
                AWS_SECRET_ACCESS_KEY: SESSION_CREDS.secretAccessKey,
                AWS_SESSION_TOKEN: SESSION_CREDS.sessionToken,
                AWS_SHARED_CREDENTIALS_FILE: credFile,
                AWS_CONFIG_FILE: confFile,
                AWS_EC2_METADATA_DISABLED: 'true',
                AWS_PROFILE: '',
                AWS_BEARER_TOKEN_BEDROCK: '',
            },
        });
        client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 20_000 });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    /* The one upstream request carrying marker m (GetPrompt calls carry no body and are skipped). */
    async function upstream(m, count = 1) {
        const list = (await mock.requests(m)).filter((r) => r.operation !== 'GetPrompt');
        assert.equal(list.length, count, `expected ${count} upstream request(s) with ${m}, got ${list.length}`);
        return list[count - 1];
    }

    /* Streams a completion with the SDK; returns {text, reasoning, toolCalls, finish, usage, chunks}. */
    async function streamAll(params) {
        const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
        const out = { text: '', reasoning: '', toolCalls: [], finish: null, usage: null, chunks: [], argDeltas: 0 };
        for await (const c of stream) {
            out.chunks.push(c);
            if (c.usage) out.usage = c.usage;
            const ch = c.choices?.[0];
            if (!ch) continue;
            out.text += ch.delta?.content ?? '';
            out.reasoning += ch.delta?.reasoning_content ?? '';
            for (const tc of ch.delta?.tool_calls ?? []) {
                const slot = (out.toolCalls[tc.index] ??= { id: '', name: '', arguments: '' });
                if (tc.id) slot.id = tc.id;
                if (tc.function?.name) slot.name = tc.function.name;
                if (tc.function?.arguments) {
                    slot.arguments += tc.function.arguments;
                    out.argDeltas++;
                }
            }
            if (ch.finish_reason) out.finish = ch.finish_reason;
        }
        return out;
    }

    describe('the mock, checked with the AWS SDK', () => {
        const sdk = (secret = CREDS.secretAccessKey) => new BedrockRuntimeClient({
            region: REGION, endpoint: mock.url, maxAttempts: 1, requestHandler: new NodeHttpHandler(),
            credentials: { accessKeyId: CREDS.accessKeyId, secretAccessKey: secret },
        });

        it('accepts the SDK signature and answers Converse', T, async () => {
            const m = marker('sdk');
            const r = await sdk().send(new ConverseCommand({
                modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: `hi ${m}` }] }],
            }));
            assert.equal(r.output.message.content[0].text, CONTENT);
            assert.equal(r.usage.inputTokens, INPUT_TOKENS);
        });

        it('streams event-stream messages the SDK decodes', T, async () => {
            const r = await sdk().send(new ConverseStreamCommand({
                modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'hi' }] }],
            }));
            const names = [];
            let text = '';
            for await (const e of r.stream) {
                names.push(Object.keys(e)[0]);
                text += e.contentBlockDelta?.delta?.text ?? '';
            }
            assert.equal(text, CONTENT);
            assert.deepEqual([names[0], ...names.slice(-2)], ['messageStart', 'messageStop', 'metadata']);
        });

        it('refuses a wrong secret with InvalidSignatureException', T, async () => {
            await assert.rejects(sdk('wrong-secret').send(new ConverseCommand({
                modelId: CLAUDE, messages: [{ role: 'user', content: [{ text: 'hi' }] }],
            })), (e) => e.name === 'InvalidSignatureException' && e.$metadata.httpStatusCode === 403);
        });
    });

    describe('converse', () => {
        it('non-streaming: text, usage, and a signed Converse request', T, async () => {
            const m = marker('conv');
            const r = await client.chat.completions.create({
                model: 'claude', max_tokens: 64, temperature: 0.2,
                messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `Hello ${m}` }],
            });
            assert.equal(r.choices[0].message.content, CONTENT);
            assert.equal(r.choices[0].finish_reason, 'stop');
            assert.equal(r.model, CLAUDE);
            assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens],
                             [INPUT_TOKENS, PIECES.length, INPUT_TOKENS + PIECES.length]);
            const up = await upstream(m);
            assert.equal(up.operation, 'converse');
            assert.equal(up.modelId, CLAUDE);
            assert.equal(up.path, `/model/${encodeURIComponent(CLAUDE)}/converse`);
            assert.equal(up.auth, 'sigv4');
            assert.equal(up.accessKeyId, CREDS.accessKeyId);
            assert.deepEqual(up.json, {
                system: [{ text: 'Be brief.' }],
                messages: [{ role: 'user', content: [{ text: `Hello ${m}` }] }],
                inferenceConfig: { maxTokens: 64, temperature: 0.2 },
            });
        });

        it('streaming: chunks, finish reason and the usage chunk', T, async () => {
            const m = marker('stream');
            const out = await streamAll({ model: 'claude', messages: userMessage(`Hi ${m}`) });
            assert.equal(out.text, CONTENT);
            assert.equal(out.finish, 'stop');
            assert.deepEqual([out.usage.prompt_tokens, out.usage.completion_tokens], [INPUT_TOKENS, PIECES.length]);
            assert.equal(out.chunks[0].choices[0].delta.role, 'assistant');
            assert.equal((await upstream(m)).operation, 'converse-stream');
        });

        it('cross-region inference profile ids go URL-encoded', T, async () => {
            const m = marker('profile');
            const r = await client.chat.completions.create({ model: 'claude-profile', messages: userMessage(m) });
            assert.equal(r.choices[0].message.content, CONTENT);
            assert.equal((await upstream(m)).path, `/model/us.${CLAUDE.replace(':', '%3A')}/converse`);
        });

        it('tools: the call and its streamed argument fragments', T, async () => {
            const tools = [{ type: 'function', function: { name: 'get_weather', description: 'weather',
                                                           parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
            const m = marker('tool');
            const r = await client.chat.completions.create({ model: 'claude', tools, messages: userMessage(`${m} [[tool_call]]`) });
            const tc = r.choices[0].message.tool_calls;
            assert.equal(r.choices[0].finish_reason, 'tool_calls');
            assert.equal(tc.length, 1);
            assert.equal(tc[0].function.name, 'get_weather');
            assert.deepEqual(JSON.parse(tc[0].function.arguments), TOOL_INPUT);
            assert.deepEqual((await upstream(m)).json.toolConfig.tools[0].toolSpec.name, 'get_weather');

            const s = await streamAll({ model: 'claude', tools, messages: userMessage(`${m}-s [[tool_call]]`) });
            assert.equal(s.finish, 'tool_calls');
            assert.equal(s.toolCalls.length, 1);
            assert.equal(s.toolCalls[0].id, 'tooluse_mock_1');
            assert.deepEqual(JSON.parse(s.toolCalls[0].arguments), TOOL_INPUT);
            assert.ok(s.argDeltas >= 3, `arguments arrive as fragments (${s.argDeltas} deltas)`);

            /* The answer goes back as toolUse / toolResult blocks the mock validates. */
            const m2 = marker('toolres');
            const back = await client.chat.completions.create({
                model: 'claude', tools,
                messages: [{ role: 'user', content: 'Weather?' },
                           { role: 'assistant', content: null, tool_calls: [{ id: 'tooluse_mock_1', type: 'function',
                                                                              function: { name: 'get_weather', arguments: tc[0].function.arguments } }] },
                           { role: 'tool', tool_call_id: 'tooluse_mock_1', content: 'Sunny' },
                           { role: 'user', content: `Thanks ${m2}` }],
            });
            assert.equal(back.choices[0].message.content, CONTENT);
            const sent = (await upstream(m2)).json.messages;
            assert.deepEqual(sent[1].content, [{ toolUse: { toolUseId: 'tooluse_mock_1', name: 'get_weather', input: TOOL_INPUT } }]);
            assert.deepEqual(sent[2].content, [{ toolResult: { toolUseId: 'tooluse_mock_1', content: [{ text: 'Sunny' }] } },
                                               { text: `Thanks ${m2}` }]);
        });

        it('images go as base64 image blocks; an http URL is refused with 400', T, async () => {
            const m = marker('img');
            const r = await client.chat.completions.create({
                model: 'claude',
                messages: [{ role: 'user', content: [{ type: 'text', text: `What is it? ${m}` },
                                                     { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }],
            });
            assert.equal(r.choices[0].message.content, CONTENT);
            assert.deepEqual((await upstream(m)).json.messages[0].content[1], { image: { format: 'png', source: { bytes: PNG } } });

            const m2 = marker('imghttp');
            await assert.rejects(client.chat.completions.create({
                model: 'claude',
                messages: [{ role: 'user', content: [{ type: 'text', text: m2 },
                                                     { type: 'image_url', image_url: { url: 'https://example.com/x.png' } }] }],
            }), (e) => e instanceof OpenAI.BadRequestError && /image/.test(e.message));
            assert.equal((await mock.requests(m2)).length, 0, 'nothing went upstream');
        });

        it('thinking and prompt-cache usage', T, async () => {
            const r = await client.chat.completions.create({
                model: 'claude', messages: userMessage(`${marker('think')} [[thinking]] [[cache]]`), reasoning_effort: 'low',
            });
            const msg = r.choices[0].message;
            assert.equal(msg.content, CONTENT);
            assert.equal(msg.reasoning_content, THINKING);
            assert.deepEqual(msg.thinking_blocks, [{ type: 'thinking', thinking: THINKING, signature: SIGNATURE }]);
            assert.equal(r.usage.prompt_tokens, INPUT_TOKENS + 120);
            assert.equal(r.usage.prompt_tokens_details.cached_tokens, 100);
            assert.equal(r.usage.cache_read_input_tokens, 100);
            assert.equal(r.usage.cache_creation_input_tokens, 20);

            const s = await streamAll({ model: 'claude', messages: userMessage(`${marker('thinks')} [[thinking]]`) });
            assert.equal(s.reasoning, THINKING);
            assert.equal(s.text, CONTENT);
        });

        it('a prompt over the window is a context_length_exceeded 400', T, async () => {
            const r = await chat(gw, { model: 'claude', messages: userMessage(`${marker('ctx')} [[context]]`) });
            assert.equal(r.status, 400, r.text);
            assertOpenAIError(assert, r.json, { code: 'context_length_exceeded', messageIncludes: 'too long' });
        });
    });

    describe('invoke', () => {
        it('anthropic: Messages body, answer and stream', T, async () => {
            const m = marker('inv-claude');
            const r = await client.chat.completions.create({ model: 'invoke-claude', messages: userMessage(m) });
            assert.equal(r.choices[0].message.content, CONTENT);
            assert.equal(r.model, 'claude-mock', 'the model the upstream reports');
            const up = await upstream(m);
            assert.equal(up.operation, 'invoke');
            assert.equal(up.json.anthropic_version, 'bedrock-2023-05-31');
            assert.equal(up.json.max_tokens, 4096);

            const s = await streamAll({ model: 'invoke-claude', messages: userMessage(`${m}-s [[thinking]]`) });
            assert.equal(s.text, CONTENT);
            assert.equal(s.reasoning, THINKING);
            assert.equal(s.finish, 'stop');
            assert.deepEqual([s.usage.prompt_tokens, s.usage.completion_tokens], [INPUT_TOKENS, PIECES.length + 4]);
            assert.equal((await upstream(`${m}-s`)).operation, 'invoke-with-response-stream');
        });

        it('titan, llama and mistral: prompt templates, answers and streams', T, async () => {
            for (const [name, check] of [
                ['invoke-titan', (b, m) => assert.equal(b.inputText, `Be kind.\n\nUser: ${m}\nBot:`)],
                ['invoke-llama', (b, m) => assert.equal(b.prompt, '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>' +
                                                                  `<|start_header_id|>user<|end_header_id|>\n\n${m}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`)],
                ['invoke-mistral', (b, m) => assert.equal(b.prompt, `<s>[INST] Be kind.\n\n${m} [/INST]`)],
            ]) {
                const m = marker(name);
                const messages = [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: m }];
                const r = await client.chat.completions.create({ model: name, messages });
                assert.equal(r.choices[0].message.content, CONTENT, name);
                assert.equal(r.choices[0].finish_reason, 'stop', name);
                check((await upstream(m)).json, m);
                const s = await streamAll({ model: name, messages: userMessage(`${m}-s`) });
                assert.equal(s.text, CONTENT, `${name} stream`);
                assert.equal(s.finish, 'stop', `${name} stream`);
                assert.deepEqual([s.usage.prompt_tokens, s.usage.completion_tokens], [INPUT_TOKENS, PIECES.length], `${name} usage`);
            }
        });

        it('nova: messages-v1 body, answer and stream', T, async () => {
            const m = marker('nova');
            const r = await client.chat.completions.create({ model: 'invoke-nova', messages: userMessage(m), top_k: 5, max_tokens: 99 });
            assert.equal(r.choices[0].message.content, CONTENT);
            const up = await upstream(m);
            assert.equal(up.json.schemaVersion, 'messages-v1');
            assert.deepEqual(up.json.inferenceConfig, { maxTokens: 99, topK: 5 });
            const s = await streamAll({ model: 'invoke-nova', messages: userMessage(`${m}-s`) });
            assert.equal(s.text, CONTENT);
            assert.equal(s.finish, 'stop');
            assert.equal(s.usage.prompt_tokens, INPUT_TOKENS);
        });
    });

    describe('embeddings', () => {
        it('titan: one text, the SDK default (base64) decoded back to the vector', T, async () => {
            const text = `embed me ${marker('emb')}`;
            const r = await client.embeddings.create({ model: 'titan-embed', input: text });
            assert.equal(r.data.length, 1);
            const want = embeddingOf(text);
            assert.equal(r.data[0].embedding.length, want.length);
            r.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `component ${i}: ${x} vs ${want[i]}`));
            assert.equal(r.usage.prompt_tokens, 3);
            assert.deepEqual((await upstream(text)).json, { inputText: text });
        });

        it('titan: several inputs are refused with a 400 naming input', T, async () => {
            const r = await request(`${gw.baseURL}/embeddings`, { method: 'POST', headers: authHeaders(),
                                                                 body: { model: 'titan-embed', input: ['a', 'b'] } });
            assert.equal(r.status, 400, r.text);
            assertOpenAIError(assert, r.json, { messageIncludes: 'input' });
        });

        it('cohere: a list of texts as floats', T, async () => {
            const texts = [`first ${marker('co')}`, 'second'];
            const r = await client.embeddings.create({ model: 'cohere-embed', input: texts, encoding_format: 'float' });
            assert.equal(r.data.length, 2);
            assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
            assert.deepEqual(r.data[1].embedding, embeddingOf('second'));
            const up = await upstream(texts[0]);
            assert.deepEqual(up.json, { texts, input_type: 'search_document', embedding_types: ['float'] });
        });
    });

    describe('credentials and signing', () => {
        it('a wrong secret: the mock refuses the signature, the client gets an auth error', T, async () => {
            const r = await chat(gw, { model: 'wrong-secret', messages: userMessage(marker('badsig')) });
            assert.equal(r.status, 403, r.text);
            const e = assertOpenAIError(assert, r.json, { messageIncludes: 'signature' });
            assert.equal(e.type, 'authentication_error');
            assert.ok(!r.text.includes('not-the-right-secret'), 'the secret is not echoed');
        });

        it('temporary credentials send and sign the session token', T, async () => {
            const m = marker('sess');
            const r = await client.chat.completions.create({ model: 'session', messages: userMessage(m) });
            assert.equal(r.choices[0].message.content, CONTENT);
            const up = await upstream(m);
            assert.equal(up.accessKeyId, SESSION_CREDS.accessKeyId);
            assert.equal(up.headers['x-amz-security-token'], SESSION_CREDS.sessionToken);
            assert.match(up.headers.authorization, /SignedHeaders=[^,]*x-amz-security-token/);
        });

        it('a Bedrock API key goes as a bearer token, unsigned', T, async () => {
            const m = marker('bearer');
            const r = await client.chat.completions.create({ model: 'bearer', messages: userMessage(m) });
            assert.equal(r.choices[0].message.content, CONTENT);
            const up = await upstream(m);
            assert.equal(up.auth, 'bearer');
            assert.equal(up.headers.authorization, `Bearer ${API_KEY}`);
            assert.equal(up.headers['x-amz-date'], undefined);
        });

        it('credentials from the environment', T, async () => {
            const m = marker('env');
            const r = await client.chat.completions.create({ model: 'env-creds', messages: userMessage(m) });
            assert.equal(r.choices[0].message.content, CONTENT);
            const up = await upstream(m);
            assert.equal(up.accessKeyId, SESSION_CREDS.accessKeyId);
            assert.equal(up.headers['x-amz-security-token'], SESSION_CREDS.sessionToken);
        });

        it('credentials from a profile of the shared credentials file', T, async () => {
            const m = marker('prof');
            const r = await client.chat.completions.create({ model: 'profile-creds', messages: userMessage(m) });
            assert.equal(r.choices[0].message.content, CONTENT);
            const up = await upstream(m);
            assert.equal(up.accessKeyId, CREDS.accessKeyId, 'the named profile wins over the environment');
            assert.equal(up.headers['x-amz-security-token'], undefined);
        });
    });

    describe('throttling and broken streams', () => {
        it('ThrottlingException is a 429 the gateway retries', T, async () => {
            const m = marker('thr');
            const r = await chat(gw, { model: 'throttle-retry', messages: userMessage(`${m} [[throttle:1]]`) });
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.choices[0].message.content, CONTENT);
            assert.equal((await mock.requests(m)).length, 2, 'one throttled attempt, one retry');

            const m2 = marker('thr2');
            const r2 = await chat(gw, { model: 'throttle-once', messages: userMessage(`${m2} [[throttle]]`) });
            assert.equal(r2.status, 429, r2.text);
            assertOpenAIError(assert, r2.json, { messageIncludes: 'Too many requests' });
            assert.equal(r2.json.error.type, 'rate_limit_error');
        });

        for (const [fault, what] of [['bad_crc', 'a corrupt CRC'], ['truncate', 'a message cut in half'],
                                     ['stream_exception', 'a modelStreamErrorException']]) {
            it(`${what} mid-stream ends the stream with an error event; the gateway survives`, T, async () => {
                const m = marker(fault);
                const res = await fetch(`${gw.url}/v1/chat/completions`, {
                    method: 'POST', headers: authHeaders(), signal: AbortSignal.timeout(20_000),
                    body: JSON.stringify({ model: 'claude-stream-faults', stream: true, messages: userMessage(`${m} [[${fault}]]`) }),
                });
                const { text, timedOut } = await readAll(res);
                assert.ok(!timedOut, 'the stream terminates');
                if (res.status === 200) {
                    const events = parseSSE(text).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
                    const errorAt = events.findIndex((e) => e.error);
                    assert.ok(errorAt >= 0, `an error event: ${text}`);
                    assertOpenAIError(assert, events[errorAt]);
                    assert.equal(errorAt, events.length - 1, 'nothing but [DONE] after the error');
                    const before = events.slice(0, errorAt).map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
                    assert.equal(before, PIECES[0], 'the text sent before the fault reaches the client');
                } else {
                    /* The fault came before the first byte reached the client: a plain error answer. */
                    assert.ok(res.status >= 500, `${res.status} ${text}`);
                    assertOpenAIError(assert, JSON.parse(text));
                }
                assert.equal((await request(`${gw.url}/health/liveliness`)).status, 200);
                const ok = await client.chat.completions.create({ model: 'claude-stream-faults', messages: userMessage('after') });
                assert.equal(ok.choices[0].message.content, CONTENT);
            });
        }
    });

    describe('managed prompts', () => {
        it('a TEXT prompt is fetched, rendered with promptVariables and sent to its model', T, async () => {
            const m = marker('ptext');
            const r = await client.chat.completions.create({
                model: 'prompt-text', temperature: 0.9, messages: userMessage(`and mention ${m}`),
                promptVariables: { topic: { text: 'whales' } },
            });
            assert.equal(r.choices[0].message.content, CONTENT);
            const up = await upstream(m);
            assert.equal(up.modelId, CLAUDE, "the variant's model");
            assert.deepEqual(up.json.messages, [{ role: 'user', content: [{ text: 'Write one line about whales.' },
                                                                            { text: `and mention ${m}` }] }]);
            assert.deepEqual(up.json.inferenceConfig, { maxTokens: 77, temperature: 0.9 },
                             "the variant's settings under the request's");
            assert.equal('promptVariables' in up.json, false);
            const gets = (await mock.requests('PROMPTTEXT01')).filter((x) => x.operation === 'GetPrompt');
            assert.ok(gets.length >= 1 && gets[0].auth === 'sigv4' && gets[0].accessKeyId === CREDS.accessKeyId);
        });

        it('fetched prompts are cached per worker', T, async () => {
            for (let i = 0; i < 6; i++) {
                await client.chat.completions.create({ model: 'prompt-text', messages: userMessage(`again ${i}`),
                                                       promptVariables: { topic: { text: 'tea' } } });
            }
            const gets = (await mock.requests('PROMPTTEXT01')).filter((x) => x.operation === 'GetPrompt');
            assert.ok(gets.length <= 2, `at most one GetPrompt per worker (2 workers), saw ${gets.length}`);
        });

        it('a CHAT prompt version renders system and messages for the variant model', T, async () => {
            const m = marker('pchat');
            const r = await client.chat.completions.create({
                model: 'prompt-chat', messages: userMessage(m),
                promptVariables: { persona: { text: 'a pirate' }, name: { text: 'Ann' } },
            });
            assert.equal(r.choices[0].message.content, CONTENT);
            const up = await upstream(m);
            assert.equal(up.modelId, 'us.amazon.nova-lite-v1:0');
            assert.deepEqual(up.json.system, [{ text: 'You are a pirate.' }]);
            assert.deepEqual(up.json.messages, [{ role: 'user', content: [{ text: 'Greet Ann warmly.' }, { text: m }] }]);
            assert.deepEqual(up.json.inferenceConfig, { maxTokens: 55, topP: 0.5 });
            const gets = (await mock.requests('PROMPTCHAT01')).filter((x) => x.operation === 'GetPrompt');
            assert.ok(gets.every((g) => g.promptVersion === '2'));
        });

        it('a missing variable is a 400; an unknown prompt a 404', T, async () => {
            const r = await chat(gw, { model: 'prompt-chat', messages: userMessage('x'), promptVariables: { persona: { text: 'p' } } });
            assert.equal(r.status, 400, r.text);
            assertOpenAIError(assert, r.json, { messageIncludes: "'name'" });
            const r2 = await chat(gw, { model: 'prompt-missing', messages: userMessage('x') });
            assert.equal(r2.status, 404, r2.text);
            assertOpenAIError(assert, r2.json, { messageIncludes: 'NOSUCHPROMPT' });
        });
    });

    it('the gateway is still up', async () => {
        assert.ok(gw.alive());
        assert.equal((await request(`${gw.url}/health/liveliness`)).status, 200);
    });

    describe('credentials fetched in the background', () => {
        let gw2;

        before(async () => {
            gw2 = await startGateway({
                model_list: [
                    keyless(mock, 'container', CLAUDE),
                    keyless(mock, 'no-creds', CLAUDE, { aws_profile_name: 'no-such-profile' }),
                ],
                general_settings: { master_key: MASTER_KEY },
            }, {
                env: {
                    /* The only source: a container endpoint that holds its answer until released. */
                    AWS_CONTAINER_CREDENTIALS_FULL_URI: `${mock.url}/__creds/container?hold=1`,
                    AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '',
                    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'),
                    AWS_CONFIG_FILE: path.join(dir, 'config'),
                    AWS_EC2_METADATA_DISABLED: 'true',
                    AWS_BEARER_TOKEN_BEDROCK: '',
                },
            });
        });
        after(async () => {
            await gw2?.stop();
        });

        it('a request waits for the first fetch, then is signed with its credentials', T, async () => {
            const m = marker('container');
            let done = false;
            const pending = chat(gw2, { model: 'container', messages: userMessage(m) }, { timeout: 20_000 })
                .finally(() => {
                    done = true;
                });
            await sleep(300);
            assert.equal(done, false, 'the request waits while the credentials are being fetched');
            assert.equal((await mock.requests(m)).length, 0, 'nothing went upstream unsigned');
            const released = Date.now();
            await fetch(`${mock.url}/__mock/release-creds`, { method: 'POST' });
            const r = await pending;
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.choices[0].message.content, CONTENT);
            const served = (await mock.requests('/__creds/container')).filter((x) => x.operation === 'ContainerCredentials');
            assert.ok(served.length >= 1 && served.at(-1).time >= released, 'the credentials came after the release');
            const up = await upstream(m);
            assert.equal(up.accessKeyId, CONTAINER_CREDS.accessKeyId);
            assert.equal(up.headers['x-amz-security-token'], CONTAINER_CREDS.sessionToken);
        });

        it('a failed chain answers 503 "no AWS credentials" with the reason', T, async () => {
            const r = await chat(gw2, { model: 'no-creds', messages: userMessage(marker('nocreds')) });
            assert.equal(r.status, 503, r.text);
            assertOpenAIError(assert, r.json, { messageIncludes: 'no AWS credentials' });
            assert.match(r.json.error.message, /no-such-profile/);
        });
    });
});
