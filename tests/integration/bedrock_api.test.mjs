/*
 * The Bedrock Runtime client API (/bedrock/model/{modelId}/...) with the official
 * @aws-sdk/client-bedrock-runtime: Converse and ConverseStream (text, tool use, system, multi-turn
 * and toolResult seen upstream, images and documents), InvokeModel and
 * InvokeModelWithResponseStream with Anthropic, Titan and Llama bodies, Bedrock's error types
 * (unknown model, bad key, throttling, validation, a broken stream), and the three ways to present
 * the key: a bearer token, a SigV4 signature made with the key as the access key id, and the raw
 * "AWS4-HMAC-SHA256 Credential=Bearer <key>/..." header.  The SDK speaks HTTP/2 (h2c) by default,
 * so that path is exercised too.  Upstreams: the openai mock and the built-in fake provider.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
    BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelCommand,
    InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { TOOL_CALL, mockContent } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, fakeDeployment, marker, mockDeployment, request, startGateway, startMock,
} from './harness.mjs';

const T = { timeout: 30_000 };
const FAKE_TEXT = 'Hi there friend';

/* A 1x1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
                        'base64');

const userText = (text) => [{ role: 'user', content: [{ text }] }];

/* Collects a ConverseStream into {events, text, tools, stopReason, metadata}. */
async function collectConverse(stream) {
    const out = { events: [], text: '', tools: {}, stopReason: null, metadata: null };
    for await (const ev of stream) {
        const [type] = Object.keys(ev).filter((k) => ev[k] !== undefined);
        out.events.push(type);
        const v = ev[type];
        if (type === 'contentBlockStart' && v.start?.toolUse) {
            out.tools[v.contentBlockIndex] = { ...v.start.toolUse, input: '' };
        } else if (type === 'contentBlockDelta') {
            if (v.delta.text !== undefined) out.text += v.delta.text;
            if (v.delta.toolUse) out.tools[v.contentBlockIndex].input += v.delta.toolUse.input;
        } else if (type === 'messageStop') {
            out.stopReason = v.stopReason;
        } else if (type === 'metadata') {
            out.metadata = v;
        }
    }
    return out;
}

/* The JSON objects inside InvokeModelWithResponseStream's chunk events. */
async function collectInvoke(body) {
    const chunks = [];
    for await (const ev of body) {
        assert.ok(ev.chunk, `only chunk events expected, got ${JSON.stringify(Object.keys(ev))}`);
        chunks.push(JSON.parse(Buffer.from(ev.chunk.bytes).toString('utf8')));
    }
    return chunks;
}

async function rejectsWith(promise, name, status) {
    let err;
    try {
        await promise;
    } catch (e) {
        err = e;
    }
    assert.ok(err, `expected ${name}, but the call succeeded`);
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    if (status !== undefined) assert.equal(err.$metadata?.httpStatusCode, status, err.message);
    assert.ok(typeof err.message === 'string' && err.message.length > 0);
    return err;
}

describe('Bedrock client API', () => {
    let mock;
    let gw;
    let client;

    const newClient = (opts) => new BedrockRuntimeClient({
        region: 'us-east-1', endpoint: `${gw.url}/bedrock`, maxAttempts: 1, ...opts,
    });

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        gw = await startGateway({
            model_list: [
                mockDeployment(mock, { name: 'gpt-mock', id: 'dep-brk-mock' }),
                mockDeployment(mock, { name: 'team/gpt-mock', id: 'dep-brk-mock-slash' }),
                /* Fault tests use their own group: a cooldown there cannot touch the others. */
                mockDeployment(mock, { name: 'gpt-faults', id: 'dep-brk-faults' }),
                fakeDeployment({ name: 'fake-model', id: 'dep-brk-fake', response: FAKE_TEXT }),
            ],
            general_settings: { master_key: MASTER_KEY },
            router_settings: { num_retries: 0, disable_cooldowns: true },
        });
        client = newClient({ token: { token: MASTER_KEY }, authSchemePreference: ['httpBearerAuth'] });
    });
    after(async () => {
        client?.destroy();
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    /* The one upstream request whose body contains marker m. */
    async function upstream(m) {
        const list = await mock.waitForRequest(m);
        assert.equal(list.length, 1, `one upstream request for ${m}`);
        return list[0].body;
    }

    it('Converse: text answer, stop reason, usage, latency, and the upstream request', T, async () => {
        const m = marker('conv');
        const r = await client.send(new ConverseCommand({
            modelId: 'gpt-mock',
            messages: userText(`hello ${m}`),
            inferenceConfig: { maxTokens: 64, temperature: 0.3, topP: 0.9, stopSequences: ['END'] },
        }));
        assert.equal(r.$metadata.httpStatusCode, 200);
        assert.ok(r.$metadata.requestId, 'x-amzn-requestid is the request id');
        assert.deepEqual(r.output.message, { role: 'assistant', content: [{ text: mockContent(3) }] });
        assert.equal(r.stopReason, 'end_turn');
        assert.deepEqual(r.usage, { inputTokens: 10, outputTokens: 3, totalTokens: 13 });
        assert.equal(typeof r.metrics.latencyMs, 'number');
        const body = await upstream(m);
        assert.equal(body.model, 'gpt-4o-mini');
        assert.deepEqual(body.messages, [{ role: 'user', content: `hello ${m}` }]);
        assert.equal(body.max_tokens, 64);
        assert.equal(body.temperature, 0.3);
        assert.equal(body.top_p, 0.9);
        assert.deepEqual(body.stop, ['END']);
        assert.notEqual(body.stream, true);
    });

    it('Converse: a URL-encoded model id naming a group with a slash', T, async () => {
        const m = marker('slash');
        const r = await client.send(new ConverseCommand({ modelId: 'team/gpt-mock', messages: userText(m) }));
        assert.equal(r.output.message.content[0].text, mockContent(3));
        await upstream(m);
    });

    it('Converse: the fake provider answers too', T, async () => {
        const r = await client.send(new ConverseCommand({ modelId: 'fake-model', messages: userText('hi') }));
        assert.equal(r.output.message.content[0].text, FAKE_TEXT);
        assert.equal(r.usage.outputTokens, 3);
        assert.equal(r.usage.totalTokens, r.usage.inputTokens + 3);
    });

    it('ConverseStream: text deltas, block stop, stop reason and the usage metadata event', T, async () => {
        const m = marker('cstream');
        const r = await client.send(new ConverseStreamCommand({ modelId: 'gpt-mock', messages: userText(`hi ${m}`) }));
        const s = await collectConverse(r.stream);
        assert.equal(s.text, mockContent(3));
        assert.equal(s.events[0], 'messageStart');
        assert.deepEqual(s.events.slice(-3), ['contentBlockStop', 'messageStop', 'metadata']);
        assert.equal(s.stopReason, 'end_turn');
        assert.deepEqual(s.metadata.usage, { inputTokens: 10, outputTokens: 3, totalTokens: 13 });
        assert.equal(typeof s.metadata.metrics.latencyMs, 'number');
        const body = await upstream(m);
        assert.equal(body.stream, true);
    });

    it('ConverseStream: tool use reassembles to the upstream call', T, async () => {
        const m = marker('ctool');
        const r = await client.send(new ConverseStreamCommand({
            modelId: 'gpt-mock',
            messages: userText(`weather? ${m} [[tool_call]]`),
            toolConfig: {
                tools: [{ toolSpec: { name: 'get_weather', description: 'Weather for a city',
                                      inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } } } } } }],
            },
        }));
        const s = await collectConverse(r.stream);
        const tools = Object.values(s.tools);
        assert.equal(tools.length, 1);
        assert.equal(tools[0].toolUseId, TOOL_CALL.id);
        assert.equal(tools[0].name, TOOL_CALL.function.name);
        assert.deepEqual(JSON.parse(tools[0].input), JSON.parse(TOOL_CALL.function.arguments));
        assert.equal(s.stopReason, 'tool_use');
        assert.ok(s.events.includes('contentBlockStart'));
        assert.equal(s.metadata.usage.inputTokens, 10);
        assert.ok(s.metadata.usage.outputTokens > 0);
        const body = await upstream(m);
        assert.equal(body.tools[0].function.name, 'get_weather');
    });

    it('Converse: a tool call answer is a toolUse block with the parsed input', T, async () => {
        const m = marker('tooluse');
        const r = await client.send(new ConverseCommand({
            modelId: 'gpt-mock',
            messages: userText(`${m} [[tool_call]]`),
            toolConfig: { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }] },
        }));
        assert.equal(r.stopReason, 'tool_use');
        const tu = r.output.message.content.find((b) => b.toolUse)?.toolUse;
        assert.deepEqual(tu, { toolUseId: TOOL_CALL.id, name: 'get_weather',
                               input: JSON.parse(TOOL_CALL.function.arguments) });
    });

    it('Converse: system, multi-turn, toolUse and toolResult reach the upstream in OpenAI shape', T, async () => {
        const m = marker('turns');
        await client.send(new ConverseCommand({
            modelId: 'gpt-mock',
            system: [{ text: 'You are terse.' }],
            messages: [
                { role: 'user', content: [{ text: 'Weather in Paris?' }] },
                { role: 'assistant', content: [{ text: 'Checking.' },
                                               { toolUse: { toolUseId: 'tu-1', name: 'get_weather', input: { city: 'Paris' } } }] },
                { role: 'user', content: [{ toolResult: { toolUseId: 'tu-1', content: [{ json: { temp: 21 } }], status: 'success' } },
                                          { text: `and tomorrow? ${m}` }] },
            ],
            toolConfig: {
                tools: [{ toolSpec: { name: 'get_weather', description: 'Weather', inputSchema: { json: { type: 'object' } } } }],
                toolChoice: { auto: {} },
            },
            requestMetadata: { team: 'blue' },
        }));
        const body = await upstream(m);
        assert.deepEqual(body.messages, [
            { role: 'system', content: 'You are terse.' },
            { role: 'user', content: 'Weather in Paris?' },
            { role: 'assistant', content: 'Checking.',
              tool_calls: [{ id: 'tu-1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
            { role: 'tool', tool_call_id: 'tu-1', content: '{"temp":21}' },
            { role: 'user', content: `and tomorrow? ${m}` },
        ]);
        assert.deepEqual(body.tools, [{ type: 'function',
                                        function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } } }]);
        assert.equal(body.tool_choice, 'auto');
    });

    it('Converse: images and documents become data URLs', T, async () => {
        const m = marker('image');
        await client.send(new ConverseCommand({
            modelId: 'gpt-mock',
            messages: [{ role: 'user', content: [
                { text: `what is this? ${m}` },
                { image: { format: 'png', source: { bytes: PNG } } },
                { document: { format: 'pdf', name: 'report', source: { bytes: Buffer.from('%PDF-1.4') } } },
            ] }],
        }));
        const body = await upstream(m);
        const parts = body.messages[0].content;
        assert.deepEqual(parts[0], { type: 'text', text: `what is this? ${m}` });
        assert.deepEqual(parts[1], { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG.toString('base64')}` } });
        assert.deepEqual(parts[2], { type: 'file', file: { file_data: `data:application/pdf;base64,${Buffer.from('%PDF-1.4').toString('base64')}`,
                                                           filename: 'report' } });
    });

    it('InvokeModel: an Anthropic Messages body gets an Anthropic message back', T, async () => {
        const m = marker('ianth');
        const r = await client.send(new InvokeModelCommand({
            modelId: 'gpt-mock',
            contentType: 'application/json',
            accept: 'application/json',
            body: JSON.stringify({
                anthropic_version: 'bedrock-2023-05-31', max_tokens: 50, system: 'Be brief.',
                messages: [{ role: 'user', content: [{ type: 'text', text: `hi ${m}` }] }],
            }),
        }));
        const msg = JSON.parse(Buffer.from(r.body).toString('utf8'));
        assert.equal(msg.type, 'message');
        assert.equal(msg.role, 'assistant');
        assert.equal(msg.model, 'gpt-mock');
        assert.deepEqual(msg.content, [{ type: 'text', text: mockContent(3) }]);
        assert.equal(msg.stop_reason, 'end_turn');
        assert.equal(msg.usage.input_tokens, 10);
        assert.equal(msg.usage.output_tokens, 3);
        const body = await upstream(m);
        assert.equal(body.max_tokens, 50);
        assert.deepEqual(body.messages[0], { role: 'system', content: 'Be brief.' });
        assert.equal(body.anthropic_version, undefined);
    });

    it('InvokeModel: a Titan body gets a Titan answer', T, async () => {
        const r = await client.send(new InvokeModelCommand({
            modelId: 'fake-model',
            body: JSON.stringify({ inputText: 'User: hi\nBot:', textGenerationConfig: { maxTokenCount: 50 } }),
        }));
        const out = JSON.parse(Buffer.from(r.body).toString('utf8'));
        assert.equal(out.results.length, 1);
        assert.equal(out.results[0].outputText, FAKE_TEXT);
        assert.equal(out.results[0].tokenCount, 3);
        assert.equal(out.results[0].completionReason, 'FINISH');
        assert.ok(out.inputTextTokenCount > 0);
    });

    it('InvokeModelWithResponseStream: Anthropic events in chunks, with invocation metrics', T, async () => {
        const m = marker('isanth');
        const r = await client.send(new InvokeModelWithResponseStreamCommand({
            modelId: 'gpt-mock',
            body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 50,
                                   messages: [{ role: 'user', content: `stream ${m}` }] }),
        }));
        const chunks = await collectInvoke(r.body);
        const types = chunks.map((c) => c.type).filter((t) => t !== 'ping');
        assert.deepEqual([types[0], ...types.slice(-3)], ['message_start', 'content_block_stop', 'message_delta', 'message_stop']);
        const text = chunks.filter((c) => c.type === 'content_block_delta').map((c) => c.delta.text).join('');
        assert.equal(text, mockContent(3));
        const last = chunks.at(-1);
        assert.equal(last['amazon-bedrock-invocationMetrics'].inputTokenCount, 10);
        assert.equal(last['amazon-bedrock-invocationMetrics'].outputTokenCount, 3);
        assert.equal(typeof last['amazon-bedrock-invocationMetrics'].invocationLatency, 'number');
        assert.equal(chunks.find((c) => c.type === 'message_delta').delta.stop_reason, 'end_turn');
        assert.equal((await upstream(m)).stream, true);
    });

    it('InvokeModelWithResponseStream: Llama chunks from the fake provider', T, async () => {
        const r = await client.send(new InvokeModelWithResponseStreamCommand({
            modelId: 'fake-model',
            body: JSON.stringify({ prompt: 'hello', max_gen_len: 64 }),
        }));
        const chunks = await collectInvoke(r.body);
        assert.equal(chunks.map((c) => c.generation).join(''), FAKE_TEXT);
        const last = chunks.at(-1);
        assert.equal(last.stop_reason, 'stop');
        assert.equal(last.generation_token_count, 3);
        assert.ok(last.prompt_token_count > 0);
        assert.equal(last['amazon-bedrock-invocationMetrics'].outputTokenCount, 3);
    });

    it('errors: an unknown model is ResourceNotFoundException', T, async () => {
        await rejectsWith(client.send(new ConverseCommand({ modelId: 'no-such-model', messages: userText('x') })),
                          'ResourceNotFoundException', 404);
    });

    it('errors: a wrong key is UnrecognizedClientException, before any validation', T, async () => {
        const bad = newClient({ token: { token: 'sk-wrong' }, authSchemePreference: ['httpBearerAuth'] });
        try {
            await rejectsWith(bad.send(new ConverseCommand({ modelId: 'gpt-mock', messages: userText('x') })),
                              'UnrecognizedClientException', 403);
            await rejectsWith(bad.send(new ConverseCommand({ modelId: 'gpt-mock', messages: [] })),
                              'UnrecognizedClientException', 403);
        } finally {
            bad.destroy();
        }
    });

    it('errors: an upstream 429 is ThrottlingException (Converse and ConverseStream)', T, async () => {
        await rejectsWith(client.send(new ConverseCommand({ modelId: 'gpt-faults', messages: userText(`${marker('429')} [[status:429]]`) })),
                          'ThrottlingException', 429);
        await rejectsWith(client.send(new ConverseStreamCommand({ modelId: 'gpt-faults', messages: userText(`${marker('429s')} [[status:429]]`) })),
                          'ThrottlingException', 429);
    });

    it('errors: invalid bodies are ValidationException', T, async () => {
        const e = await rejectsWith(client.send(new ConverseCommand({ modelId: 'gpt-mock', messages: [] })),
                                    'ValidationException', 400);
        assert.match(e.message, /messages/);
        await rejectsWith(client.send(new ConverseCommand({
            modelId: 'gpt-mock', messages: userText('x'), inferenceConfig: { maxTokens: 0 },
        })), 'ValidationException', 400);
        await rejectsWith(client.send(new InvokeModelCommand({ modelId: 'gpt-mock', body: JSON.stringify({ hello: 1 }) })),
                          'ValidationException', 400);
        await rejectsWith(client.send(new InvokeModelCommand({ modelId: 'gpt-mock', body: 'not json' })),
                          'ValidationException', 400);
    });

    it('errors: a stream broken mid-way ends in a modelStreamErrorException event', T, async () => {
        const m = marker('cut');
        const r = await client.send(new ConverseStreamCommand({ modelId: 'gpt-faults', messages: userText(`${m} [[cut:1]]`) }));
        let text = '';
        const err = await rejectsWith((async () => {
            for await (const ev of r.stream) {
                if (ev.contentBlockDelta?.delta?.text) text += ev.contentBlockDelta.delta.text;
            }
        })(), 'ModelStreamErrorException');
        assert.equal(text, 'Hello', 'the text before the cut arrived');
        assert.match(err.message, /upstream/);
    });

    it('auth: SigV4 signed with the key as the access key id (plain and "Bearer <key>")', T, async () => {
        for (const accessKeyId of [MASTER_KEY, `Bearer ${MASTER_KEY}`]) {
            const sig = newClient({ credentials: { accessKeyId, secretAccessKey: 'not-checked' } });
            try {
                const r = await sig.send(new ConverseCommand({ modelId: 'fake-model', messages: userText('hi') }));
                assert.equal(r.output.message.content[0].text, FAKE_TEXT);
            } finally {
                sig.destroy();
            }
        }
        const wrong = newClient({ credentials: { accessKeyId: 'sk-wrong', secretAccessKey: 'x' } });
        try {
            await rejectsWith(wrong.send(new ConverseCommand({ modelId: 'fake-model', messages: userText('hi') })),
                              'UnrecognizedClientException', 403);
        } finally {
            wrong.destroy();
        }
    });

    it('auth: AWS_BEARER_TOKEN_BEDROCK, as a Bedrock API key user would set it', T, async () => {
        /* The SDK prefers the bearer scheme by itself when this variable is set. */
        process.env.AWS_BEARER_TOKEN_BEDROCK = MASTER_KEY;
        const env = newClient({});
        try {
            const r = await env.send(new ConverseCommand({ modelId: 'fake-model', messages: userText('hi') }));
            assert.equal(r.output.message.content[0].text, FAKE_TEXT);
        } finally {
            env.destroy();
            delete process.env.AWS_BEARER_TOKEN_BEDROCK;
        }
    });

    it('auth: a raw "AWS4-HMAC-SHA256 Credential=Bearer <key>/..." header', T, async () => {
        const url = `${gw.url}/bedrock/model/fake-model/converse`;
        const body = { messages: userText('hi') };
        const scope = '20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00ff';
        const ok = await request(url, {
            method: 'POST', body,
            headers: { authorization: `AWS4-HMAC-SHA256 Credential=Bearer ${MASTER_KEY}/${scope}` },
        });
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.output.message.content[0].text, FAKE_TEXT);
        const bad = await request(url, {
            method: 'POST', body,
            headers: { authorization: `AWS4-HMAC-SHA256 Credential=Bearer sk-nope/${scope}` },
        });
        assert.equal(bad.status, 403);
        assert.equal(bad.headers.get('x-amzn-errortype'), 'UnrecognizedClientException');
        assert.deepEqual(Object.keys(bad.json), ['message']);
    });

    it('routes: an unknown operation and a GET are refused in Bedrock shape', T, async () => {
        const headers = { authorization: `Bearer ${MASTER_KEY}` };
        const unknown = await request(`${gw.url}/bedrock/model/gpt-mock/explode`, { method: 'POST', headers, body: {} });
        assert.equal(unknown.status, 404);
        assert.equal(unknown.headers.get('x-amzn-errortype'), 'ResourceNotFoundException');
        const get = await request(`${gw.url}/bedrock/model/gpt-mock/converse`, { headers });
        assert.equal(get.status, 405);
        assert.equal(get.headers.get('x-amzn-errortype'), 'ValidationException');
        assert.equal(typeof get.json.message, 'string');
    });
});
