/*
 * The bundled plugins configured the documented way: jsonl access log, regex guardrail (mask and
 * block), memory cache.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { mockContent } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, assertOpenAIError, chat, fakeDeployment, marker, mockDeployment, parseSSE,
    startGateway, startMock, tempDir, userMessage, waitFor,
} from './harness.mjs';

const T = { timeout: 20_000 };
const SSN = '123-45-6789';

describe('plugins: jsonl, regex, memory', () => {
    let mock;
    let gw;
    let dir;
    let logPath;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        dir = tempDir('gantry-plugins-');
        logPath = path.join(dir, 'requests.jsonl');
        gw = await startGateway({
            model_list: [
                mockDeployment(mock, { id: 'dep-mock-1' }),
                fakeDeployment({ name: 'fake-ssn', id: 'dep-fake-ssn', response: `call ${SSN} now` }),
            ],
            general_settings: { master_key: MASTER_KEY },
            plugins: {
                load: [
                    { plugin: 'jsonl', config: { path: logPath } },
                    {
                        plugin: 'regex',
                        config: {
                            patterns: [
                                { name: 'ssn', pattern: '[0-9]{3}-[0-9]{2}-[0-9]{4}', action: 'mask' },
                                { name: 'bad', pattern: 'forbidden', action: 'block' },
                            ],
                        },
                    },
                    { plugin: 'memory', config: { ttl: 60 } },
                ],
            },
        });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
            if (dir) rmSync(dir, { recursive: true, force: true });
        }
    });

    /* The log lines so far; every line must be one JSON object. */
    function logLines() {
        if (!existsSync(logPath)) return [];
        const text = readFileSync(logPath, 'utf8');
        const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
        return complete.split('\n').filter((l) => l !== '').map((l) => {
            let obj;
            assert.doesNotThrow(() => {
                obj = JSON.parse(l);
            }, `jsonl line is not JSON: ${l}`);
            assert.ok(obj && typeof obj === 'object' && !Array.isArray(obj), `jsonl line is not an object: ${l}`);
            return obj;
        });
    }

    /* Log writes are buffered: poll up to 2 s for the line of `requestId`. */
    function logLineFor(requestId) {
        return waitFor(() => logLines().find((l) => l.request_id === requestId),
                       { timeout: 2000, what: `a jsonl line with request_id ${requestId}` });
    }

    it('jsonl: one line per request with request_id, status, model_group, and no keys or prompt text', T, async () => {
        const requestId = `plug-req-${marker()}`;
        const prompt = `PROMPT-TEXT-${marker()}`;
        const r = await chat(gw, { model: 'gpt-mock', messages: userMessage(prompt) },
                             { headers: { 'x-request-id': requestId } });
        assert.equal(r.status, 200, r.text);
        const line = await logLineFor(requestId);
        assert.equal(Number(line.status), 200, JSON.stringify(line));
        assert.equal(line.model_group, 'gpt-mock');
        assert.equal(logLines().filter((l) => l.request_id === requestId).length, 1, 'exactly one line');
        const text = readFileSync(logPath, 'utf8');
        assert.ok(!text.includes(MASTER_KEY), 'the master key is not logged');
        assert.ok(!text.includes(UPSTREAM_KEY), 'the upstream key is not logged');
        assert.ok(!text.includes(prompt), 'the prompt text is not logged');
    });

    it('regex: a blocked word → 400 guardrail_violation, never reaches the upstream, still logged', T, async () => {
        const m = marker('block');
        const requestId = `plug-block-${m}`;
        const r = await chat(gw, { model: 'gpt-mock', messages: userMessage(`this is forbidden ${m}`) },
                             { headers: { 'x-request-id': requestId } });
        assert.equal(r.status, 400, r.text);
        assertOpenAIError(assert, r.json, { code: 'pattern_matched' });
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /regex/,
                     'x-gantry-applied-guardrails names the regex guardrail');
        assert.equal((await mock.requests({ contains: m })).length, 0, 'the blocked prompt never reached the mock');
        const line = await logLineFor(requestId);
        assert.equal(Number(line.status), 400, `a denied request is logged with its status: ${JSON.stringify(line)}`);
    });

    it('regex: an SSN in the prompt reaches the upstream masked', T, async () => {
        const m = marker('mask-in');
        const r = await chat(gw, { model: 'gpt-mock', messages: userMessage(`my ssn is ${SSN} ok ${m}`) });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.choices[0].message.content, mockContent(3));
        const [rec] = await mock.waitForRequest(m);
        const sent = rec.body.messages.at(-1).content;
        const text = typeof sent === 'string' ? sent : JSON.stringify(sent);
        assert.ok(!rec.rawBody?.includes(SSN) && !JSON.stringify(rec.body).includes(SSN),
                  `the SSN reached the upstream: ${text}`);
        assert.ok(text.startsWith('my ssn is '), `the rest of the prompt is intact: ${text}`);
        assert.ok(text.endsWith(` ok ${m}`), `the rest of the prompt is intact: ${text}`);
    });

    it('regex: an SSN in a completion is masked in the response', T, async () => {
        const r = await chat(gw, { model: 'fake-ssn', messages: userMessage(`hi ${marker()}`) });
        assert.equal(r.status, 200, r.text);
        const content = r.json.choices[0].message.content;
        assert.ok(!content.includes(SSN), `the SSN reached the client: ${content}`);
        assert.ok(content.startsWith('call ') && content.endsWith(' now'), `the rest is intact: ${content}`);
    });

    it('regex: an SSN in a streamed completion is masked too', T, async () => {
        const client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
        const stream = await client.chat.completions.create({
            model: 'fake-ssn', messages: userMessage(`hi ${marker()}`), stream: true,
        });
        let content = '';
        for await (const c of stream) content += c.choices[0]?.delta?.content ?? '';
        assert.ok(!content.includes(SSN), `the SSN reached the client in the stream: ${content}`);
        assert.ok(content.startsWith('call ') && content.endsWith(' now'), `the rest is intact: ${content}`);
    });

    it('memory: the same request twice → second is a cache hit, upstream called once', T, async () => {
        const m = marker('cache');
        const body = { model: 'gpt-mock', messages: userMessage(`cache me ${m}`) };
        const first = await chat(gw, body);
        assert.equal(first.status, 200, first.text);
        assert.notEqual(first.headers.get('x-gantry-cache-hit'), 'true', 'the first request is not a hit');
        const second = await chat(gw, body);
        assert.equal(second.status, 200, second.text);
        assert.equal(second.headers.get('x-gantry-cache-hit'), 'true');
        assert.equal(second.json.choices[0].message.content, first.json.choices[0].message.content);
        assert.equal((await mock.requests({ contains: m })).length, 1, 'the mock saw only one request');
    });

    it('regex: a blocked word in a streaming request → 400 JSON before any stream starts', T, async () => {
        const m = marker('block-stream');
        const r = await chat(gw, { model: 'gpt-mock', messages: userMessage(`forbidden ${m}`), stream: true });
        assert.equal(r.status, 400, r.text);
        assertOpenAIError(assert, r.json, { code: 'pattern_matched' });
        assert.equal((await mock.requests({ contains: m })).length, 0);
    });

    it('memory: the cache key includes the model', T, async () => {
        const m = marker('cache-model');
        const messages = userMessage(`same words ${m}`);
        const a = await chat(gw, { model: 'gpt-mock', messages });
        assert.equal(a.status, 200, a.text);
        const b = await chat(gw, { model: 'fake-ssn', messages });
        assert.equal(b.status, 200, b.text);
        assert.notEqual(b.headers.get('x-gantry-cache-hit'), 'true', 'another model must not hit this entry');
        assert.ok(b.json.choices[0].message.content.startsWith('call '), 'the fake model answered itself');
    });

    it('memory: a cached answer is not served past authentication', T, async () => {
        const m = marker('cache-auth');
        const body = { model: 'gpt-mock', messages: userMessage(`cached secret ${m}`) };
        assert.equal((await chat(gw, body)).status, 200);
        assert.equal((await chat(gw, body)).headers.get('x-gantry-cache-hit'), 'true', 'now cached');
        const r = await chat(gw, body, { key: 'sk-not-the-key' });
        assert.equal(r.status, 401, `a cache hit was served without a valid key: ${r.text}`);
        assertOpenAIError(assert, r.json);
    });

    it('jsonl: a request the client aborted is logged too', T, async () => {
        const m = marker('abort-log');
        const requestId = `plug-abort-${m}`;
        const ac = new AbortController();
        const pending = fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json',
                       'x-request-id': requestId },
            body: JSON.stringify({ model: 'gpt-mock', messages: userMessage(`[[delay:3000]] ${m}`) }),
            signal: ac.signal,
        }).catch((e) => e);
        await mock.waitForRequest(m);
        ac.abort();
        await pending;
        const line = await logLineFor(requestId);
        assert.equal(line.model_group, 'gpt-mock', JSON.stringify(line));
    });

    it('jsonl: odd characters in client-supplied fields keep every line valid JSON', T, async () => {
        const requestId = `odd"id\\with\tquote-${marker()}-é`;
        const r = await chat(gw, { model: 'gpt-mock', messages: userMessage('hi') },
                             { headers: { 'x-request-id': requestId } });
        assert.equal(r.status, 200, r.text);
        const weirdModel = `no"such\nmodel\\${marker()}`;
        const r2 = await chat(gw, { model: weirdModel, messages: userMessage('hi') },
                              { headers: { 'x-request-id': `weird-model-${marker()}` } });
        assert.equal(r2.status, 404, r2.text);
        /* logLines() asserts that every complete line parses as one JSON object. */
        await waitFor(() => logLines().some((l) => l.model_group === weirdModel),
                      { timeout: 2000, what: 'the line of the request for the odd model name' });
        const echoed = r.headers.get('x-request-id');
        await waitFor(() => logLines().some((l) => l.request_id === echoed),
                      { timeout: 2000, what: 'the line of the odd request id' });
    });

    it('memory: a streaming request is answered as a stream, also when the same body was cached', T, async () => {
        const m = marker('cache-stream');
        const body = { model: 'gpt-mock', messages: userMessage(`stream or not ${m}`) };
        assert.equal((await chat(gw, body)).status, 200);
        const r = await chat(gw, { ...body, stream: true });
        assert.equal(r.status, 200, r.text);
        assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/, `a stream client got: ${r.text}`);
        const content = parseSSE(r.text).filter((e) => e.data !== '[DONE]')
            .map((e) => JSON.parse(e.data).choices?.[0]?.delta?.content ?? '').join('');
        assert.equal(content, mockContent(3));
    });
});
