/*
 * Response caching: LiteLLM's `litellm_settings.cache: true` + `cache_params` (type local, the
 * memory plugin), against the OpenAI mock.  Upstream requests are counted in the mock's records
 * (each test puts its own marker in the prompt), so "served from the cache" means "the upstream
 * never saw it", not only a header.
 *
 * Covered: hits and misses and what the key covers, every per-request control (no-cache, no-store,
 * ttl, s-maxage, namespace, use-cache with mode: default_off) and their 400s, scope team vs shared,
 * streamed answers stored and replayed (text and tool calls, parsed by the openai SDK), stream and
 * non-stream sharing entries, embeddings, the Anthropic client API (SDK, streamed and not), the
 * log record of a hit, /cache/ping and /cache/delete, and config errors in cache_params.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { TOOL_CALL, mockContent } from '../mock/openai-mock.mjs';
import {
    GANTRY_BIN, MASTER_KEY, REPO_ROOT, UPSTREAM_KEY, chat, marker, mockDeployment, parseSSE, request, sleep,
    startGateway, startMock, tempDir, userMessage, waitFor,
} from './harness.mjs';

const T = { timeout: 30_000 };
const HEX64 = /^[0-9a-f]{64}$/;

function embDeployment(mock) {
    return {
        model_name: 'emb',
        litellm_params: { model: 'openai/text-embedding-3-small', api_base: mock.baseURL, api_key: 'os.environ/UPSTREAM_KEY' },
        model_info: { id: 'dep-cache-emb', mode: 'embedding' },
    };
}

const isHit = (r) => r.headers.get('x-gantry-cache-hit') === 'true';

describe('response cache', () => {
    let mock;
    let gw; /* master key, scope team, mode default_on */
    let anonOff; /* no keys, scope team, mode default_off */
    let sharedNs; /* master key, scope shared, namespace ns-one */
    let sharedAnon; /* no keys, scope shared, no namespace */
    let client;
    let dir;
    let logPath;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        dir = tempDir('gantry-cache-');
        logPath = path.join(dir, 'requests.jsonl');
        const models = [mockDeployment(mock, { name: 'gpt-mock', id: 'dep-cache-mock' }), embDeployment(mock)];
        [gw, anonOff, sharedNs, sharedAnon] = await Promise.all([
            startGateway({
                model_list: models,
                general_settings: { master_key: MASTER_KEY },
                litellm_settings: {
                    cache: true,
                    cache_params: {
                        type: 'local',
                        ttl: 60,
                        supported_call_types: ['acompletion', 'completion', 'aembedding', 'embedding',
                                               'atext_completion', 'text_completion'],
                    },
                },
                router_settings: { num_retries: 0 },
                plugins: { load: [{ plugin: 'jsonl', config: { path: logPath } }] },
            }),
            startGateway({
                model_list: models,
                litellm_settings: { cache: true, cache_params: { type: 'local', mode: 'default_off' } },
            }),
            startGateway({
                model_list: models,
                general_settings: { master_key: MASTER_KEY },
                litellm_settings: { cache: true, cache_params: { scope: 'shared', namespace: 'ns-one' } },
            }),
            startGateway({
                model_list: models,
                litellm_settings: { cache: true, cache_params: { scope: 'shared' } },
            }),
        ]);
        client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
    });
    after(async () => {
        try {
            await Promise.all([gw, anonOff, sharedNs, sharedAnon].map((g) => g?.stop()));
        } finally {
            await mock?.stop();
            if (dir) rmSync(dir, { recursive: true, force: true });
        }
    });

    const upstream = async (m) => (await mock.requests({ contains: m })).length;

    function logLines() {
        if (!existsSync(logPath)) return [];
        const text = readFileSync(logPath, 'utf8');
        return text.split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l));
    }
    const logLineFor = (id) => waitFor(() => logLines().find((l) => l.request_id === id),
                                       { timeout: 3000, what: `the log line of ${id}` });

    /* Reads an openai SDK stream: the text, tool calls by index, finish reason, usage, chunk count. */
    async function readStream(stream) {
        const out = { content: '', tools: [], finish: null, usage: null, chunks: 0, roleFirst: null };
        for await (const c of stream) {
            out.chunks++;
            if (c.usage) out.usage = c.usage;
            const ch = c.choices?.[0];
            if (!ch) continue;
            if (out.roleFirst === null) out.roleFirst = ch.delta?.role ?? '';
            out.content += ch.delta?.content ?? '';
            for (const tc of ch.delta?.tool_calls ?? []) {
                const t = (out.tools[tc.index] ??= { id: '', type: '', name: '', arguments: '' });
                t.id += tc.id ?? '';
                t.type += tc.type ?? '';
                t.name += tc.function?.name ?? '';
                t.arguments += tc.function?.arguments ?? '';
            }
            if (ch.finish_reason) out.finish = ch.finish_reason;
        }
        return out;
    }

    async function sdkStream(body) {
        const { data, response } = await client.chat.completions.create({ ...body, stream: true }).withResponse();
        return { ...(await readStream(data)), hit: response.headers.get('x-gantry-cache-hit') === 'true',
                 key: response.headers.get('x-gantry-cache-key') };
    }

    describe('hits and keys', () => {
        it('the same request twice: one upstream call, the second a hit with the key and the same answer', T, async () => {
            const m = marker('hit');
            const body = { model: 'gpt-mock', messages: userMessage(`cache me ${m}`) };
            const first = await chat(gw, body, { headers: { 'x-request-id': `cache-miss-${m}` } });
            assert.equal(first.status, 200, first.text);
            assert.ok(!isHit(first), 'the first request is a miss');
            assert.match(first.headers.get('x-gantry-cache-key') ?? '', HEX64, 'a miss reports the key it stored under');
            const second = await chat(gw, body, { headers: { 'x-request-id': `cache-hit-${m}` } });
            assert.equal(second.status, 200, second.text);
            assert.ok(isHit(second), 'the second request is a hit');
            assert.equal(second.headers.get('x-gantry-cache-key'), first.headers.get('x-gantry-cache-key'));
            assert.deepEqual(second.json, first.json, 'the cached answer is the original one');
            assert.equal(await upstream(m), 1, 'the upstream saw one request');

            /* The log: the miss counted tokens, the hit is marked and costs nothing. */
            const miss = await logLineFor(`cache-miss-${m}`);
            const hit = await logLineFor(`cache-hit-${m}`);
            assert.equal(miss.cache_hit, false, JSON.stringify(miss));
            assert.equal(miss.total_tokens, first.json.usage.total_tokens, JSON.stringify(miss));
            assert.equal(hit.cache_hit, true, JSON.stringify(hit));
            assert.equal(hit.total_tokens, 0, `a hit reports no upstream usage: ${JSON.stringify(hit)}`);
            assert.equal(hit.prompt_tokens, 0, JSON.stringify(hit));
        });

        it('the key covers every parameter that changes the answer, not those that do not', T, async () => {
            const m = marker('params');
            const base = { model: 'gpt-mock', messages: userMessage(`params ${m}`), temperature: 0.2, max_tokens: 50 };
            assert.equal((await chat(gw, base)).status, 200);
            const changed = [
                { ...base, temperature: 0.3 },
                { ...base, top_p: 0.5 },
                { ...base, max_tokens: 51 },
                { ...base, seed: 7 },
                { ...base, stop: ['END'] },
                { ...base, n: 1 },
                { ...base, response_format: { type: 'json_object' } },
                { ...base, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] },
                { ...base, messages: userMessage(`params ${m} !`) },
                { ...base, messages: [{ role: 'system', content: 'be brief' }, ...userMessage(`params ${m}`)] },
            ];
            for (const b of changed) {
                const r = await chat(gw, b);
                assert.equal(r.status, 200, r.text);
                assert.ok(!isHit(r), `a request differing from the cached one must miss: ${JSON.stringify(b)}`);
            }
            assert.equal(await upstream(m), 1 + changed.length);
            /* Same content, other key order, other user/metadata/stream_options: one entry. */
            const same = [
                { max_tokens: 50, temperature: 0.2, messages: userMessage(`params ${m}`), model: 'gpt-mock' },
                { ...base, user: 'someone-else', metadata: { trace: 'x' }, stream_options: { include_usage: true } },
                /* The same numbers spelled otherwise. */
                JSON.stringify(base).replace('"temperature":0.2', '"temperature":2e-1').replace('"max_tokens":50', '"max_tokens":50.0'),
            ];
            for (const b of same) {
                const r = await chat(gw, b);
                assert.equal(r.status, 200, r.text);
                assert.ok(isHit(r), `an equivalent request must hit: ${JSON.stringify(b)}`);
            }
            assert.equal(await upstream(m), 1 + changed.length);
        });

        it('the key includes the model group and the endpoint', T, async () => {
            const m = marker('endpoint');
            const text = `same words ${m}`;
            assert.equal((await chat(gw, { model: 'gpt-mock', messages: userMessage(text) })).status, 200);
            const c = await chat(gw, { model: 'gpt-mock', prompt: text }, { path: '/v1/completions' });
            assert.equal(c.status, 200, c.text);
            assert.ok(!isHit(c), 'a text completion must not be answered from a chat entry');
            assert.equal(c.json.object, 'text_completion');
            const c2 = await chat(gw, { model: 'gpt-mock', prompt: text }, { path: '/v1/completions' });
            assert.ok(isHit(c2), 'the completion itself is cached');
            assert.equal(c2.json.choices[0].text, c.json.choices[0].text);
            assert.equal(await upstream(m), 2);
        });

        it('the cache controls never reach the upstream', T, async () => {
            const m = marker('strip');
            const r = await chat(gw, { model: 'gpt-mock', messages: userMessage(`strip ${m}`), cache: { ttl: 30, 'no-cache': true } });
            assert.equal(r.status, 200, r.text);
            const [rec] = await mock.requests({ contains: m });
            assert.equal(rec.body.cache, undefined, `upstream body: ${JSON.stringify(rec.body)}`);
        });

        it('embeddings are cached', T, async () => {
            const m = marker('emb');
            const a = await client.embeddings.create({ model: 'emb', input: [`vector ${m}`, 'two'] }).withResponse();
            const b = await client.embeddings.create({ model: 'emb', input: [`vector ${m}`, 'two'] }).withResponse();
            assert.equal(a.response.headers.get('x-gantry-cache-hit'), null);
            assert.equal(b.response.headers.get('x-gantry-cache-hit'), 'true');
            assert.deepEqual(b.data.data.map((d) => d.embedding), a.data.data.map((d) => d.embedding));
            assert.equal(b.data.data.length, 2);
            const c = await client.embeddings.create({ model: 'emb', input: [`vector ${m}`, 'three'] }).withResponse();
            assert.equal(c.response.headers.get('x-gantry-cache-hit'), null, 'other input, other entry');
            assert.equal(await upstream(m), 2);
        });
    });

    describe('controls', () => {
        it('no-cache skips the lookup but stores the fresh answer', T, async () => {
            const m = marker('nocache');
            const body = { model: 'gpt-mock', messages: userMessage(`nocache ${m}`) };
            await chat(gw, body);
            const r = await chat(gw, { ...body, cache: { 'no-cache': true } });
            assert.equal(r.status, 200, r.text);
            assert.ok(!isHit(r), 'no-cache must not be served from the cache');
            assert.equal(await upstream(m), 2);
            assert.ok(isHit(await chat(gw, body)), 'a later request hits');
            assert.equal(await upstream(m), 2);
        });

        it('no-store answers from the upstream without keeping the answer', T, async () => {
            const m = marker('nostore');
            const body = { model: 'gpt-mock', messages: userMessage(`nostore ${m}`) };
            const r = await chat(gw, { ...body, cache: { 'no-store': true } });
            assert.equal(r.status, 200, r.text);
            assert.ok(!isHit(await chat(gw, body)), 'nothing was stored');
            assert.ok(isHit(await chat(gw, body)), 'the request without no-store did store');
            /* no-store does not stop a lookup. */
            assert.ok(isHit(await chat(gw, { ...body, cache: { 'no-store': true } })));
            assert.equal(await upstream(m), 2);
        });

        it('ttl: the entry lives that many seconds', T, async () => {
            const m = marker('ttl');
            const body = { model: 'gpt-mock', messages: userMessage(`ttl ${m}`) };
            await chat(gw, { ...body, cache: { ttl: 1 } });
            assert.ok(isHit(await chat(gw, body)), 'alive at once');
            await sleep(2200);
            const r = await chat(gw, body);
            assert.ok(!isHit(r), 'expired after its ttl (the configured 60 s did not apply)');
            assert.equal(await upstream(m), 2);
        });

        it('s-maxage: only entries younger than that are served', T, async () => {
            const m = marker('smaxage');
            const body = { model: 'gpt-mock', messages: userMessage(`smaxage ${m}`) };
            await chat(gw, body);
            await sleep(1300);
            assert.ok(isHit(await chat(gw, { ...body, cache: { 's-maxage': 60 } })), 'young enough for 60 s');
            const r = await chat(gw, { ...body, cache: { 's-maxage': 1 } });
            assert.equal(r.status, 200, r.text);
            assert.ok(!isHit(r), 'older than 1 s: not served');
            assert.equal(await upstream(m), 2);
            /* The fresh answer replaced the old entry. */
            assert.ok(isHit(await chat(gw, { ...body, cache: { 's-maxage': 1 } })));
            assert.equal(await upstream(m), 2);
        });

        it('namespace separates entries', T, async () => {
            const m = marker('ns');
            const body = { model: 'gpt-mock', messages: userMessage(`ns ${m}`) };
            await chat(gw, { ...body, cache: { namespace: 'a' } });
            assert.ok(!isHit(await chat(gw, { ...body, cache: { namespace: 'b' } })), 'another namespace');
            assert.ok(!isHit(await chat(gw, body)), 'no namespace');
            const hit = await chat(gw, { ...body, cache: { namespace: 'a' } });
            assert.ok(isHit(hit), 'the same namespace');
            assert.equal(await upstream(m), 3);
            const plain = await chat(gw, body);
            assert.ok(isHit(plain));
            assert.notEqual(plain.headers.get('x-gantry-cache-key'), hit.headers.get('x-gantry-cache-key'));
        });

        it('invalid controls are a 400 naming the field, before any upstream call', T, async () => {
            const m = marker('badctl');
            const cases = [
                [{ ttl: 'soon' }, 'cache.ttl'],
                [{ ttl: 0 }, 'cache.ttl'],
                [{ 's-maxage': -1 }, 'cache.s-maxage'],
                [{ 'no-cache': 'yes' }, 'cache.no-cache'],
                [{ 'no-store': 1 }, 'cache.no-store'],
                [{ 'use-cache': 'true' }, 'cache.use-cache'],
                [{ namespace: 5 }, 'cache.namespace'],
                [{ namespace: '' }, 'cache.namespace'],
                ['no-cache', 'cache'],
            ];
            for (const [cache, param] of cases) {
                const r = await chat(gw, { model: 'gpt-mock', messages: userMessage(`bad ${m}`), cache });
                assert.equal(r.status, 400, `${JSON.stringify(cache)}: ${r.text}`);
                assert.equal(r.json.error.param, param, r.text);
                assert.equal(r.json.error.type, 'invalid_request_error');
                assert.ok(r.json.error.message.includes(param), r.text);
            }
            assert.equal(await upstream(m), 0);
        });

        it('mode default_off: only requests with use-cache use the cache', T, async () => {
            const m = marker('off');
            const body = { model: 'gpt-mock', messages: userMessage(`off ${m}`) };
            assert.ok(!isHit(await chat(anonOff, body)));
            assert.ok(!isHit(await chat(anonOff, body)), 'nothing stored without use-cache');
            assert.equal(await upstream(m), 2);
            assert.ok(!isHit(await chat(anonOff, { ...body, cache: { 'use-cache': true } })));
            assert.ok(isHit(await chat(anonOff, { ...body, cache: { 'use-cache': true } })));
            assert.ok(!isHit(await chat(anonOff, body)), 'still off for a request without use-cache');
            assert.equal(await upstream(m), 4);
        });
    });

    describe('scope', () => {
        /* The key of `body` on a gateway: two requests, the second a hit that reports it. */
        async function keyOf(g, body) {
            const a = await chat(g, body);
            assert.equal(a.status, 200, a.text);
            const b = await chat(g, body);
            assert.ok(isHit(b), `a hit on ${g.url}`);
            return b.headers.get('x-gantry-cache-key');
        }

        it('scope team: the caller is part of the key (master key vs no key)', T, async () => {
            const m = marker('team');
            const body = { model: 'gpt-mock', messages: userMessage(`team ${m}`), cache: { 'use-cache': true } };
            const master = await keyOf(gw, body);
            const anonymous = await keyOf(anonOff, body);
            assert.match(master, HEX64);
            assert.notEqual(master, anonymous, 'two callers of scope team must not share entries');
        });

        it('scope shared: callers share keys; the configured namespace is the default namespace', T, async () => {
            const m = marker('shared');
            const body = { model: 'gpt-mock', messages: userMessage(`shared ${m}`) };
            const withKey = await keyOf(sharedNs, body); /* master key, namespace ns-one */
            const anonSame = await keyOf(sharedAnon, { ...body, cache: { namespace: 'ns-one' } });
            const anonNone = await keyOf(sharedAnon, body);
            assert.equal(withKey, anonSame, 'scope shared: the caller is not part of the key');
            assert.notEqual(withKey, anonNone, 'the namespace is');
            assert.notEqual(withKey, await keyOf(gw, body), 'scope team differs from shared');
        });
    });

    describe('streams', () => {
        it('a streamed answer is stored and replayed as a stream the SDK parses, with the same content', T, async () => {
            const m = marker('stream');
            const body = { model: 'gpt-mock', messages: userMessage(`stream ${m} [[chunks:5]]`),
                           stream_options: { include_usage: true } };
            const first = await sdkStream(body);
            assert.ok(!first.hit);
            assert.equal(first.content, mockContent(5));
            const second = await sdkStream(body);
            assert.ok(second.hit, 'the replay is a hit');
            assert.match(second.key ?? '', HEX64);
            assert.equal(second.content, first.content);
            assert.equal(second.roleFirst, 'assistant', 'the replay opens with the role');
            assert.equal(second.finish, 'stop');
            assert.deepEqual(second.usage, first.usage, 'the usage chunk, as the client asked for it');
            /* Without include_usage no usage chunk is sent. */
            const noUsage = await sdkStream({ ...body, stream_options: undefined });
            assert.ok(noUsage.hit);
            assert.equal(noUsage.usage, null);
            /* The non-streamed form of the same request shares the entry. */
            const plain = await chat(gw, { ...body, stream_options: undefined });
            assert.ok(isHit(plain), 'stream and non-stream share entries');
            assert.equal(plain.json.choices[0].message.content, first.content);
            assert.equal(plain.json.choices[0].finish_reason, 'stop');
            assert.equal(plain.json.object, 'chat.completion');
            assert.deepEqual(plain.json.usage, first.usage);
            assert.equal(await upstream(m), 1);
        });

        it('the replayed SSE is well formed: role, content, finish, usage, [DONE]', T, async () => {
            const m = marker('sse');
            const body = { model: 'gpt-mock', messages: userMessage(`sse ${m}`), stream: true,
                           stream_options: { include_usage: true } };
            const a = await chat(gw, body, { headers: { 'x-request-id': `cache-sse-${m}` } });
            const b = await chat(gw, body, { headers: { 'x-request-id': `cache-sse-hit-${m}` } });
            assert.ok(isHit(b));
            assert.match(b.headers.get('content-type'), /^text\/event-stream/);
            const events = parseSSE(b.text);
            assert.equal(events.at(-1).data, '[DONE]');
            const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
            for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
            assert.equal(chunks[0].choices[0].delta.role, 'assistant');
            const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
            assert.equal(finish.length, 1);
            assert.equal(chunks.at(-1).choices.length, 0, 'the usage chunk comes last');
            assert.ok(chunks.at(-1).usage.total_tokens > 0);
            const text = (evs) => evs.filter((e) => e.data !== '[DONE]')
                .map((e) => JSON.parse(e.data).choices?.[0]?.delta?.content ?? '').join('');
            assert.equal(text(events), text(parseSSE(a.text)));
            assert.equal(await upstream(m), 1);
            const hit = await logLineFor(`cache-sse-hit-${m}`);
            assert.equal(hit.cache_hit, true, JSON.stringify(hit));
            assert.equal(hit.total_tokens, 0, JSON.stringify(hit));
        });

        it('a streamed tool call is cached and replayed as tool-call chunks', T, async () => {
            const m = marker('tools');
            const body = { model: 'gpt-mock', messages: userMessage(`weather ${m} [[tool_call]]`),
                           tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] };
            const first = await sdkStream(body);
            assert.equal(first.finish, 'tool_calls');
            const second = await sdkStream(body);
            assert.ok(second.hit);
            assert.equal(second.finish, 'tool_calls');
            assert.deepEqual(second.tools, [{ id: TOOL_CALL.id, type: 'function', name: TOOL_CALL.function.name,
                                              arguments: TOOL_CALL.function.arguments }]);
            assert.deepEqual(second.tools, first.tools);
            const plain = await chat(gw, body);
            assert.ok(isHit(plain));
            assert.deepEqual(plain.json.choices[0].message.tool_calls, [TOOL_CALL]);
            assert.equal(plain.json.choices[0].finish_reason, 'tool_calls');
            assert.equal(await upstream(m), 1);
        });

        it('a non-streamed answer is replayed to a streaming request', T, async () => {
            const m = marker('tostream');
            const body = { model: 'gpt-mock', messages: userMessage(`tostream ${m} [[chunks:4]]`) };
            const a = await chat(gw, body);
            const s = await sdkStream(body);
            assert.ok(s.hit);
            assert.equal(s.content, a.json.choices[0].message.content);
            assert.equal(await upstream(m), 1);
        });

        it('a stream cut by the upstream is not stored', T, async () => {
            const m = marker('cut');
            const body = { model: 'gpt-mock', messages: userMessage(`cut ${m} [[cut:2]]`), stream: true };
            const a = await chat(gw, body);
            assert.equal(a.status, 200);
            assert.ok(a.text.includes('"error"'), `the stream ended in an error: ${a.text}`);
            const b = await chat(gw, body);
            assert.ok(!isHit(b), 'a broken stream must not be served from the cache');
            assert.equal(await upstream(m), 2);
        });
    });

    describe('anthropic client API', () => {
        it('messages: a cached answer for create and for a stream', T, async () => {
            const anth = new Anthropic({ baseURL: gw.url, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
            const m = marker('anth');
            const req = { model: 'gpt-mock', max_tokens: 100, messages: [{ role: 'user', content: `anth ${m} [[chunks:3]]` }] };
            const a = await anth.messages.create(req).withResponse();
            assert.equal(a.response.headers.get('x-gantry-cache-hit'), null);
            const b = await anth.messages.create(req).withResponse();
            assert.equal(b.response.headers.get('x-gantry-cache-hit'), 'true');
            assert.deepEqual(b.data.content, a.data.content);
            assert.equal(b.data.stop_reason, 'end_turn');
            const stream = anth.messages.stream(req);
            const texts = [];
            stream.on('text', (t) => texts.push(t));
            const msg = await stream.finalMessage();
            assert.equal(msg.content[0].text, a.data.content[0].text);
            assert.equal(texts.join(''), mockContent(3));
            assert.equal(msg.stop_reason, 'end_turn');
            assert.equal(msg.usage.output_tokens, a.data.usage.output_tokens);
            assert.equal(await upstream(m), 1, 'create, create and stream: one upstream call');
        });

        it('messages: a streamed tool use is cached and replayed as tool_use blocks', T, async () => {
            const anth = new Anthropic({ baseURL: gw.url, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
            const m = marker('anth-tool');
            const req = {
                model: 'gpt-mock', max_tokens: 100, messages: [{ role: 'user', content: `tool ${m} [[tool_call]]` }],
                tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
            };
            const first = await anth.messages.stream(req).finalMessage();
            const second = await anth.messages.stream(req).finalMessage();
            assert.equal(second.stop_reason, 'tool_use');
            const tool = second.content.find((b) => b.type === 'tool_use');
            assert.ok(tool, JSON.stringify(second.content));
            assert.deepEqual(tool.input, JSON.parse(TOOL_CALL.function.arguments));
            assert.equal(tool.name, TOOL_CALL.function.name);
            assert.deepEqual(second.content, first.content);
            assert.equal(await upstream(m), 1);
        });
    });

    describe('admin routes', () => {
        it('GET /cache/ping: healthy, local, with details; needs the master key', T, async () => {
            const r = await request(`${gw.url}/cache/ping`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.status, 'healthy');
            assert.equal(r.json.cache_type, 'local');
            assert.ok(Array.isArray(r.json.details) && r.json.details.length === 1, r.text);
            assert.equal(r.json.details[0].status, 'healthy');
            assert.match(r.json.details[0].detail, /entries/);
            const anon = await request(`${gw.url}/cache/ping`);
            assert.equal(anon.status, 401, anon.text);
            const post = await request(`${gw.url}/cache/ping`, { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}` } });
            assert.equal(post.status, 405, post.text);
        });

        it('POST /cache/delete removes entries by key', T, async () => {
            const m = marker('del');
            const body = { model: 'gpt-mock', messages: userMessage(`delete ${m}`) };
            await chat(gw, body);
            const hit = await chat(gw, body);
            const key = hit.headers.get('x-gantry-cache-key');
            assert.match(key ?? '', HEX64);
            const auth = { authorization: `Bearer ${MASTER_KEY}` };
            const d = await request(`${gw.url}/cache/delete`, { method: 'POST', headers: auth, body: { keys: [key, 'f'.repeat(64)] } });
            assert.equal(d.status, 200, d.text);
            assert.deepEqual(d.json, { status: 'success' });
            assert.ok(!isHit(await chat(gw, body)), 'the entry is gone');
            assert.equal(await upstream(m), 2);
            const bad = await request(`${gw.url}/cache/delete`, { method: 'POST', headers: auth, body: { keys: 'x' } });
            assert.equal(bad.status, 400, bad.text);
            assert.equal(bad.json.error.param, 'keys');
            const anon = await request(`${gw.url}/cache/delete`, { method: 'POST', body: { keys: [key] } });
            assert.equal(anon.status, 401, anon.text);
            assert.ok(isHit(await chat(gw, body)), 'a refused delete removed nothing');
        });
    });

    describe('configuration', () => {
        function check(yaml) {
            const file = path.join(dir, `cfg-${marker()}.yaml`);
            writeFileSync(file, yaml);
            return new Promise((resolve) => {
                execFile(GANTRY_BIN, ['--check', '--config', file], { env: { ...process.env, UPSTREAM_KEY }, timeout: 10_000 },
                         (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stderr, file }));
            });
        }
        const base = (params) => `model_list:
  - model_name: fake-model
    litellm_params:
      model: fake/fake-1
litellm_settings:
  cache: true
  cache_params:
${params}`;

        it('an unknown cache_params key is an error at its file:line:col', T, async () => {
            const r = await check(base('    type: local\n    similarity_threshold: 0.8\n'));
            assert.equal(r.code, 1, r.stderr);
            assert.match(r.stderr, new RegExp(`${r.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:9:5: unknown key 'similarity_threshold' in cache_params`));
        });

        it('bad values: type, mode, scope, call types, redis keys on local', T, async () => {
            for (const [params, line, words] of [
                ['    type: s3\n', 8, 'local or redis'],
                ['    mode: sometimes\n', 8, 'default_on or default_off'],
                ['    scope: team-a\n', 8, 'team or shared'],
                ['    supported_call_types: [completion, chat]\n', 8, "'chat' is not a call type"],
                ['    host: localhost\n', 8, 'type: redis'],
                ['    ttl: 0\n', 8, 'ttl'],
            ]) {
                const r = await check(base(params));
                assert.equal(r.code, 1, `${params}: ${r.stderr}`);
                assert.match(r.stderr, new RegExp(`:${line}:\\d+: `), `${params}: ${r.stderr}`);
                assert.ok(r.stderr.includes(words), `${params} should mention ${words}: ${r.stderr}`);
            }
        });

        it('config/cache.yaml, the documented example, loads', T, async () => {
            const r = await new Promise((resolve) => {
                execFile(GANTRY_BIN, ['--check', '--config', path.join(REPO_ROOT, 'config', 'cache.yaml')], { timeout: 10_000 },
                         (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
            });
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout + r.stderr, /is valid/);
        });

        it('a LiteLLM cache config loads', T, async () => {
            const r = await check(base('    type: local\n    ttl: 600\n    namespace: litellm.caching\n    mode: default_on\n' +
                                       '    supported_call_types: [acompletion, completion, embedding, aembedding, rerank]\n'));
            assert.equal(r.code, 0, r.stderr);
        });
    });
});
