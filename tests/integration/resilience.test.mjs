/*
 * Resilience: retries (classes, counts, back-off timing, Retry-After, retry_policy, per-request
 * num_retries, re-picking), fallbacks (general, context window, content policy, default, client-side,
 * max_fallbacks, pre-call checks), cooldowns (allowed_fails, immediate, failure share, half-open
 * probe, /health state, disable_cooldowns), background health checks, timeouts, and a load scenario
 * where deployments die under traffic.
 *
 * Faults are injected per upstream model id with the mock's POST /__mock/behave, and upstream
 * attempts are counted with GET /__mock/stats?model=X.  Every deployment here has its own upstream
 * id, so tests never see each other's traffic.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mockContent, mockPrefix, statusErrorBody } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, assertOpenAIError, authHeaders, chat, closedPort, fakeDeployment, mockModelDeployment, parseSSE,
    pool, readAll, request, sleep, startGateway, startMock, userMessage, waitFor,
} from './harness.mjs';

const T = { timeout: 60_000 };
/* Timers and scheduling on a loaded CI machine: the slack allowed above a promised upper bound. */
const SLACK = 150;

async function hit(gw, model, { stream = false, text = 'hello', extra = {}, timeout = 20_000 } = {}) {
    const t0 = Date.now();
    const r = await chat(gw, { model, messages: userMessage(text), ...(stream ? { stream: true } : {}), ...extra },
                         { timeout });
    return {
        status: r.status,
        id: r.headers.get('x-gantry-model-id'),
        attempts: r.headers.get('x-gantry-attempts') === null ? null : Number(r.headers.get('x-gantry-attempts')),
        text: r.text,
        json: r.json,
        elapsed: Date.now() - t0,
        headers: r.headers,
    };
}

const okContent = (r) => r.json?.choices?.[0]?.message?.content;

function describeRes(r) {
    return r.error ? `error ${r.error.message}` : `${r.status} id=${r.id} attempts=${r.attempts} ${r.text.slice(0, 300)}`;
}

/* Arrival gaps (ms) between consecutive upstream requests of one model. */
async function gaps(mock, model) {
    const { times } = await mock.modelStats(model);
    return times.slice(1).map((t, i) => t - times[i]);
}

/* A stream's content and whether it carried an error event; asserts it ended with [DONE]. */
function streamContent(text) {
    const events = parseSSE(text);
    const data = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    return {
        content: data.map((d) => d.choices?.[0]?.delta?.content ?? '').join(''),
        errors: data.filter((d) => d.error),
        done: events.at(-1)?.data === '[DONE]',
    };
}

describe('resilience', () => {
    let mock;
    const gateways = [];
    const extraMocks = [];
    async function gateway(config, opts) {
        const gw = await startGateway({
            ...config,
            general_settings: { master_key: MASTER_KEY, ...(config.general_settings ?? {}) },
        }, opts);
        gateways.push(gw);
        return gw;
    }
    const dep = (name, id, params = {}, info = {}) => mockModelDeployment(mock, { name, id, params, info });

    before(async () => {
        mock = await startMock();
    });
    after(async () => {
        const errors = [];
        for (const gw of gateways) {
            try {
                await gw.stop();
            } catch (e) {
                errors.push(e);
            }
        }
        for (const m of extraMocks) await m.stop().catch(() => {});
        await mock?.clearBehave().catch(() => {});
        await mock?.stop();
        if (errors.length) throw errors[0];
    });

    // -----------------------------------------------------------------------------------------
    describe('retries', () => {
        let gw;
        let deadPort;
        const RETRIED = [429, 500, 502, 503, 401, 403, 404, 408];
        const NOT_RETRIED = ['400', 'ctx', 'cp'];

        before(async () => {
            deadPort = await closedPort();
            const behaviours = [
                ...RETRIED.map((s) => ({ model: `st-${s}`, status: s })),
                { model: 'st-400', status: 400 },
                { model: 'st-ctx', context_error: true },
                { model: 'st-cp', content_policy_error: true },
                { model: 'maxr0', status: 500 },
                { model: 'maxr1', status: 500 },
                { model: 'req-n', status: 500 },
            ];
            await mock.behave(behaviours);
            gw = await gateway({
                router_settings: { retry_backoff_base: 0.02, retry_backoff_max: 0.05 },
                model_list: [
                    ...[...RETRIED.map(String), ...NOT_RETRIED].map((s) => dep(`st-${s}`, `st-${s}`)),
                    dep('maxr0', 'maxr0', { max_retries: 0 }),
                    dep('maxr1', 'maxr1', { max_retries: 1 }),
                    dep('req-n', 'req-n'),
                    dep('stream-retry', 'stream-retry'),
                    dep('cut-retry', 'cut-retry'),
                    dep('stream-cut', 'stream-cut'),
                    dep('ra-s', 'ra-s'),
                    dep('ra-ms', 'ra-ms'),
                    dep('ra-long', 'ra-long'),
                    mockModelDeployment(mock, { name: 'refused', id: 'refused', apiBase: `http://127.0.0.1:${deadPort}/v1` }),
                ],
            });
        });

        for (const s of RETRIED) {
            it(`upstream ${s} is retried: num_retries 2 by default = 3 attempts`, T, async () => {
                const r = await hit(gw, `st-${s}`);
                const st = await mock.modelStats(`st-${s}`);
                assert.equal(st.requests, 3, `upstream attempts for a ${s}; response ${describeRes(r)}`);
                assert.equal(r.status, s === 408 ? r.status : s, `the last upstream status is relayed: ${describeRes(r)}`);
                assertOpenAIError(assert, r.json ?? r.text);
                assert.equal(r.attempts, 3, `x-gantry-attempts on the error response: ${describeRes(r)}`);
            });
        }

        for (const s of NOT_RETRIED) {
            it(`upstream ${s === 'ctx' ? 'context-window error' : s === 'cp' ? 'content-policy error' : s} is not retried`, T, async () => {
                const r = await hit(gw, `st-${s}`);
                assert.equal(r.status, 400, describeRes(r));
                assertOpenAIError(assert, r.json ?? r.text);
                const st = await mock.modelStats(`st-${s}`);
                assert.equal(st.requests, 1, `a ${s} must not be retried; ${describeRes(r)}`);
                assert.equal(r.attempts, 1, `x-gantry-attempts: ${describeRes(r)}`);
            });
        }

        it('connection refused is retried (3 attempts), then a 5xx error', T, async () => {
            const r = await hit(gw, 'refused');
            assert.ok(r.status >= 500 && r.status <= 504, describeRes(r));
            assertOpenAIError(assert, r.json ?? r.text);
            assert.equal(r.attempts, 3, describeRes(r));
        });

        it('litellm_params.max_retries overrides num_retries for that deployment', T, async () => {
            const r0 = await hit(gw, 'maxr0');
            assert.equal(r0.status, 500);
            assert.equal((await mock.modelStats('maxr0')).requests, 1, 'max_retries 0: one attempt');
            const r1 = await hit(gw, 'maxr1');
            assert.equal(r1.status, 500);
            assert.equal((await mock.modelStats('maxr1')).requests, 2, 'max_retries 1: two attempts');
        });

        it('a request body "num_retries" overrides the config, and is not sent upstream', T, async () => {
            for (const [n, expected] of [[0, 1], [1, 2], [4, 5]]) {
                const before = (await mock.modelStats('req-n')).requests;
                const r = await hit(gw, 'req-n', { extra: { num_retries: n } });
                assert.equal(r.status, 500);
                const after = (await mock.modelStats('req-n')).requests;
                assert.equal(after - before, expected, `num_retries ${n} in the body → ${expected} attempts`);
                assert.equal(r.attempts, expected, describeRes(r));
            }
            const recs = (await mock.requests()).filter((x) => x.body?.model === 'req-n');
            assert.ok(recs.length > 0);
            for (const rec of recs) assert.equal('num_retries' in rec.body, false, `forwarded: ${JSON.stringify(rec.body)}`);
        });

        it('a stream that fails before its first byte is retried transparently', T, async () => {
            await mock.behave('stream-retry', { status: 500, count: 1 });
            const r = await hit(gw, 'stream-retry', { stream: true });
            assert.equal(r.status, 200, describeRes(r));
            const s = streamContent(r.text);
            assert.equal(s.content, mockContent(), r.text);
            assert.deepEqual(s.errors, []);
            assert.ok(s.done, r.text);
            assert.equal((await mock.modelStats('stream-retry')).requests, 2);
            assert.equal(r.attempts, 2, describeRes(r));
        });

        it('a non-streaming answer cut mid-body is retried (nothing reached the client yet)', T, async () => {
            await mock.behave('cut-retry', { cut_after_chunks: 1, count: 1 });
            const r = await hit(gw, 'cut-retry');
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(okContent(r), mockContent());
            assert.equal((await mock.modelStats('cut-retry')).requests, 2);
            assert.equal(r.attempts, 2, describeRes(r));
        });

        it('no retry after the first streamed byte: SSE error event, then [DONE]', T, async () => {
            await mock.behave('stream-cut', { cut_after_chunks: 1 });
            const res = await fetch(`${gw.url}/v1/chat/completions`, {
                method: 'POST', headers: authHeaders(), signal: AbortSignal.timeout(15_000),
                body: JSON.stringify({ model: 'stream-cut', messages: userMessage('x'), stream: true }),
            });
            assert.equal(res.status, 200);
            const { text, timedOut } = await readAll(res, 8000);
            assert.ok(!timedOut, `stream did not end: ${text}`);
            const events = parseSSE(text);
            assert.equal(events.at(-1)?.data, '[DONE]', `the stream ends with [DONE]: ${text}`);
            const data = events.slice(0, -1).map((e) => JSON.parse(e.data));
            const errAt = data.findIndex((d) => d.error);
            assert.equal(errAt, data.length - 1, `exactly one error event, last before [DONE]: ${text}`);
            assertOpenAIError(assert, data[errAt]);
            assert.equal(data.slice(0, errAt).map((d) => d.choices?.[0]?.delta?.content ?? '').join(''), mockPrefix(1),
                         'the client got the first chunk and nothing was restarted');
            await sleep(300);
            assert.equal((await mock.modelStats('stream-cut')).requests, 1, 'no second upstream attempt');
        });

        it('Retry-After (seconds) is honoured when no other deployment is available', T, async () => {
            await mock.behave('ra-s', { status: 429, retry_after: 1, count: 1 });
            const r = await hit(gw, 'ra-s');
            assert.equal(r.status, 200, describeRes(r));
            const [g] = await gaps(mock, 'ra-s');
            assert.ok(g >= 980, `retried ${g} ms after a 429 with retry-after: 1`);
            assert.ok(g <= 1000 + 50 + SLACK + 200, `retried ${g} ms after retry-after: 1 (waited too long)`);
        });

        it('retry-after-ms is honoured', T, async () => {
            await mock.behave('ra-ms', { status: 429, retry_after_ms: 700, count: 1 });
            const r = await hit(gw, 'ra-ms');
            assert.equal(r.status, 200, describeRes(r));
            const [g] = await gaps(mock, 'ra-ms');
            assert.ok(g >= 690, `retried ${g} ms after a 429 with retry-after-ms: 700`);
            assert.ok(g <= 700 + 50 + SLACK + 200, `retried ${g} ms after retry-after-ms: 700 (waited too long)`);
        });

        it('a Retry-After beyond max(retry_backoff_max, 30 s) is not waited for: no retry', T, async () => {
            await mock.behave('ra-long', { status: 429, retry_after: 60 });
            const r = await hit(gw, 'ra-long');
            assert.equal(r.status, 429, describeRes(r));
            assert.ok(r.elapsed < 3000, `answered after ${r.elapsed} ms`);
            assert.equal((await mock.modelStats('ra-long')).requests, 1);
        });
    });

    // -----------------------------------------------------------------------------------------
    describe('back-off timing', () => {
        let gw;
        let gwCap;
        before(async () => {
            await mock.behave([{ model: 'bo', status: 500 }, { model: 'bo-cap', status: 500 }]);
            gw = await gateway({
                router_settings: { num_retries: 3, retry_backoff_base: 0.2, retry_backoff_max: 8 },
                model_list: [dep('bo', 'bo')],
            });
            gwCap = await gateway({
                router_settings: { num_retries: 3, retry_backoff_base: 0.5, retry_backoff_max: 0.15 },
                model_list: [dep('bo-cap', 'bo-cap')],
            });
        });

        /* Per-request arrival gaps, found by a marker in each request's prompt. */
        async function perRequestGaps(g, model, n) {
            const marks = Array.from({ length: n }, (_, i) => `bo-${model}-${i}-${Math.random().toString(36).slice(2)}`);
            const res = await Promise.all(marks.map((m) => hit(g, model, { text: m })));
            for (const r of res) assert.equal(r.status, 500, describeRes(r));
            const out = [];
            for (const m of marks) {
                const recs = await mock.requests({ contains: m });
                assert.equal(recs.length, 4, `num_retries 3 → 4 attempts, got ${recs.length}`);
                out.push(recs.slice(1).map((x, i) => x.receivedAt - recs[i].receivedAt));
            }
            return out;
        }

        it('exponential with full jitter: wait k ∈ [0, base·2^(k-1)], and really random', T, async () => {
            const all = await perRequestGaps(gw, 'bo', 8);
            const caps = [200, 400, 800];
            for (const g of all) {
                g.forEach((x, k) => assert.ok(x <= caps[k] + SLACK,
                                              `retry ${k + 1} came ${x} ms after the previous attempt; bound ${caps[k]} ms (+${SLACK}); all ${JSON.stringify(all)}`));
            }
            /* Full jitter: the mean wait is half the bound; 24 waits adding up to < 30 % of their bounds
             * means there is no real back-off (probability of that by chance < 1e-6). */
            const total = all.flat().reduce((a, b) => a + b, 0);
            const bound = 8 * (200 + 400 + 800);
            assert.ok(total >= 0.3 * bound, `back-off waits add up to ${total} ms of at most ${bound}: too short; ${JSON.stringify(all)}`);
            /* ... and the waits differ from request to request. */
            for (let k = 0; k < 3; k++) {
                const ks = all.map((g) => g[k]);
                assert.ok(Math.max(...ks) - Math.min(...ks) >= 20, `wait ${k + 1} is the same for every request: ${ks}`);
            }
            /* Later retries may wait longer: the third wait's mean should exceed the first's. */
            const mean = (k) => all.reduce((a, g) => a + g[k], 0) / all.length;
            assert.ok(mean(2) > mean(0), `mean waits ${[0, 1, 2].map((k) => mean(k).toFixed(0))} do not grow`);
        });

        it('retry_backoff_max caps every wait', T, async () => {
            const all = await perRequestGaps(gwCap, 'bo-cap', 4);
            for (const g of all) {
                for (const x of g) assert.ok(x <= 150 + SLACK, `a wait of ${x} ms with retry_backoff_max 0.15 s; ${JSON.stringify(all)}`);
            }
        });
    });

    // -----------------------------------------------------------------------------------------
    describe('retry_policy', () => {
        let gw;
        before(async () => {
            await mock.behave([
                { model: 'p-400', status: 400 },
                { model: 'p-429', status: 429 },
                { model: 'p-cp', content_policy_error: true },
                { model: 'p-401', status: 401 },
                { model: 'p-500', status: 500 },
                { model: 'p-503', status: 503 },
                { model: 'p-timeout', hang: true },
                { model: 'p-502', status: 502 },
            ]);
            gw = await gateway({
                router_settings: {
                    num_retries: 4,
                    retry_backoff_base: 0.02,
                    retry_backoff_max: 0.05,
                    retry_policy: {
                        BadRequestErrorRetries: 2,
                        RateLimitErrorRetries: 0,
                        ContentPolicyViolationErrorRetries: 1,
                        AuthenticationErrorRetries: 0,
                        InternalServerErrorRetries: 1,
                        TimeoutErrorRetries: 0,
                    },
                },
                model_list: [
                    dep('p-400', 'p-400'), dep('p-429', 'p-429'), dep('p-cp', 'p-cp'), dep('p-401', 'p-401'),
                    dep('p-500', 'p-500'), dep('p-503', 'p-503'), dep('p-timeout', 'p-timeout', { timeout: 0.3 }),
                ],
            });
        });

        for (const [model, attempts, why] of [
            ['p-400', 3, 'BadRequestErrorRetries: 2 makes a 400 retried'],
            ['p-429', 1, 'RateLimitErrorRetries: 0'],
            ['p-cp', 2, 'ContentPolicyViolationErrorRetries: 1'],
            ['p-401', 1, 'AuthenticationErrorRetries: 0'],
            ['p-500', 2, 'InternalServerErrorRetries: 1'],
            ['p-503', 2, 'InternalServerErrorRetries: 1 (any 5xx)'],
            ['p-timeout', 1, 'TimeoutErrorRetries: 0'],
        ]) {
            it(`${why} → ${attempts} attempt(s)`, T, async () => {
                const r = await hit(gw, model);
                assert.notEqual(r.status, 200);
                assertOpenAIError(assert, r.json ?? r.text);
                await sleep(50);
                assert.equal((await mock.modelStats(model)).requests, attempts, describeRes(r));
            });
        }
    });

    // -----------------------------------------------------------------------------------------
    describe('retries re-pick the deployment', () => {
        let gw;
        before(async () => {
            await mock.behave([{ model: 'rp429-bad', status: 429 }, { model: 'rp500-bad', status: 500 }]);
            gw = await gateway({
                router_settings: { retry_backoff_base: 0.02, retry_backoff_max: 0.05, cooldown_time: 30 },
                model_list: [
                    dep('rp429', 'rp429-bad'), dep('rp429', 'rp429-good'),
                    dep('rp500', 'rp500-bad'), dep('rp500', 'rp500-good'),
                ],
            });
        });

        it('a 429 sends the retry to the healthy deployment; the 429ing one is cooled down at once', T, async () => {
            const res = [];
            for (let i = 0; i < 20; i++) res.push(await hit(gw, 'rp429'));
            for (const r of res) {
                assert.equal(r.status, 200, describeRes(r));
                assert.equal(r.id, 'rp429-good', describeRes(r));
            }
            const bad = (await mock.modelStats('rp429-bad')).requests;
            assert.ok(bad <= 1, `the 429ing deployment got ${bad} requests (immediate cooldown means at most 1)`);
            if (bad === 1) {
                assert.ok(res.some((r) => r.attempts === 2), `the request that met the 429 took 2 attempts: ${res.map((r) => r.attempts)}`);
            }
        });

        it('5xx: retries land on the healthy deployment, no request fails', T, async () => {
            const res = [];
            for (let i = 0; i < 20; i++) res.push(await hit(gw, 'rp500'));
            for (const r of res) {
                assert.equal(r.status, 200, describeRes(r));
                assert.equal(r.id, 'rp500-good', describeRes(r));
            }
            const bad = (await mock.modelStats('rp500-bad')).requests;
            const extra = res.reduce((a, r) => a + r.attempts - 1, 0);
            assert.equal(extra, bad, `every failed attempt was one on rp500-bad: attempts ${res.map((r) => r.attempts)}, bad saw ${bad}`);
        });
    });

    // -----------------------------------------------------------------------------------------
    describe('fallbacks', () => {
        let gw;
        let gwNoPre;
        before(async () => {
            await mock.behave([
                { model: 'chain-0', status: 500 }, { model: 'chain-1', status: 500 },
                { model: 'chain-2', status: 502 }, { model: 'chain-3', status: 500 },
                { model: 'rtf', status: 500 },
            ]);
            const fbConfig = {
                router_settings: {
                    num_retries: 0,
                    retry_backoff_base: 0.02,
                    retry_backoff_max: 0.05,
                    cooldown_time: 0.2,
                    fallbacks: [
                        { primary: ['fb-general'] },
                        { chain: ['chain1', 'chain2', 'chain3'] },
                        { rtf: ['fb-general'] },
                    ],
                    context_window_fallbacks: [{ primary: ['fb-context'] }, { pre: ['pre-big'] }],
                    content_policy_fallbacks: [{ primary: ['fb-policy'] }],
                    default_fallbacks: ['fb-default'],
                    max_fallbacks: 2,
                    enable_pre_call_checks: true,
                },
                model_list: [
                    dep('primary', 'fb-primary'),
                    fakeDeployment({ name: 'fb-general', id: 'fbg' }),
                    fakeDeployment({ name: 'fb-context', id: 'fbc' }),
                    fakeDeployment({ name: 'fb-policy', id: 'fbp' }),
                    fakeDeployment({ name: 'fb-client', id: 'fbcl' }),
                    fakeDeployment({ name: 'fb-default', id: 'fbd' }),
                    dep('lonely', 'fb-lonely'),
                    dep('chain', 'chain-0'), dep('chain1', 'chain-1'), dep('chain2', 'chain-2'), dep('chain3', 'chain-3'),
                    dep('rtf', 'rtf'),
                    dep('pre', 'pre-small', {}, { max_input_tokens: 100 }),
                    dep('pre-big', 'pre-big', {}, { max_input_tokens: 100000 }),
                ],
            };
            gw = await gateway(fbConfig);
            const noPre = structuredClone(fbConfig);
            noPre.router_settings.enable_pre_call_checks = false;
            noPre.model_list = noPre.model_list.map((d) => (d.model_info.id.startsWith('pre-')
                ? { ...d, litellm_params: { ...d.litellm_params, model: `openai/np-${d.model_info.id}` } } : d));
            gwNoPre = await gateway(noPre);
        });
        after(async () => {
            await mock.clearBehave('fb-primary');
            await mock.clearBehave('fb-lonely');
        });

        async function primaryWith(behaviour, opts = {}) {
            await mock.behave('fb-primary', behaviour);
            const before = (await mock.modelStats('fb-primary')).requests;
            const r = await hit(gw, opts.model ?? 'primary', opts);
            const upstream = (await mock.modelStats('fb-primary')).requests - before;
            return { r, upstream };
        }

        for (const [what, behaviour, id] of [
            ['a 500', { status: 500 }, 'fbg'],
            ['a 429', { status: 429 }, 'fbg'],
            ['a 503', { status: 503 }, 'fbg'],
            ['a 401', { status: 401 }, 'fbg'],
            ['a connection reset', { refuse: true }, 'fbg'],
            ['a context-window error', { context_error: true }, 'fbc'],
            ['a content-policy error', { content_policy_error: true }, 'fbp'],
        ]) {
            it(`${what} falls back to ${id === 'fbg' ? 'fallbacks' : id === 'fbc' ? 'context_window_fallbacks' : 'content_policy_fallbacks'} only`, T, async () => {
                const { r, upstream } = await primaryWith(behaviour);
                assert.equal(r.status, 200, describeRes(r));
                assert.equal(r.id, id, `answered by the wrong fallback group: ${describeRes(r)}`);
                assert.equal(okContent(r), 'Hi there friend');
                assert.ok(upstream >= 1, 'the primary was tried first');
                if (!behaviour.refuse) assert.equal(r.attempts, 2, `1 primary attempt (num_retries 0) + 1 fallback: ${describeRes(r)}`);
            });
        }

        it('a plain 400 does not fall back', T, async () => {
            const { r, upstream } = await primaryWith({ status: 400 });
            assert.equal(r.status, 400, describeRes(r));
            assertOpenAIError(assert, r.json, { messageIncludes: statusErrorBody(400).error.message });
            assert.equal(upstream, 1);
            assert.notEqual(r.id, 'fbg');
        });

        it('a stream that fails before its first byte falls back too', T, async () => {
            const { r } = await primaryWith({ status: 500 }, { stream: true });
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(r.id, 'fbg');
            const s = streamContent(r.text);
            assert.equal(s.content, 'Hi there friend');
            assert.ok(s.done && s.errors.length === 0, r.text);
        });

        it('default_fallbacks serve groups without their own fallbacks (not plain 400s)', T, async () => {
            await mock.behave('fb-lonely', { status: 500 });
            const r = await hit(gw, 'lonely');
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(r.id, 'fbd');
            await mock.behave('fb-lonely', { status: 400 });
            const r400 = await hit(gw, 'lonely');
            assert.equal(r400.status, 400, describeRes(r400));
        });

        it('a request body "fallbacks" overrides the configured ones and is not sent upstream', T, async () => {
            const { r } = await primaryWith({ status: 500 }, { extra: { fallbacks: ['fb-client'] } });
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(r.id, 'fbcl', `client-side fallbacks win over config: ${describeRes(r)}`);
            await mock.behave('fb-lonely', { status: 500 });
            const r2 = await hit(gw, 'lonely', { extra: { fallbacks: ['fb-client'] } });
            assert.equal(r2.id, 'fbcl', `client-side fallbacks win over default_fallbacks: ${describeRes(r2)}`);
            const recs = (await mock.requests()).filter((x) => x.body?.model === 'fb-primary' || x.body?.model === 'fb-lonely');
            for (const rec of recs) assert.equal('fallbacks' in rec.body, false, `forwarded: ${JSON.stringify(rec.body)}`);
        });

        it('max_fallbacks bounds the chain', T, async () => {
            const r = await hit(gw, 'chain');
            assert.ok(r.status >= 500, describeRes(r));
            assertOpenAIError(assert, r.json ?? r.text);
            const n = await Promise.all(['chain-0', 'chain-1', 'chain-2', 'chain-3'].map(async (m) => (await mock.modelStats(m)).requests));
            assert.deepEqual(n, [1, 1, 1, 0], `requests to chain-0..3 with max_fallbacks 2`);
            assert.equal(r.attempts, 3, describeRes(r));
        });

        it('fallbacks come after the retries are exhausted', T, async () => {
            const r = await hit(gw, 'rtf', { extra: { num_retries: 2 } });
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(r.id, 'fbg');
            assert.equal((await mock.modelStats('rtf')).requests, 3);
            assert.equal(r.attempts, 4, describeRes(r));
        });

        it('enable_pre_call_checks: a prompt over max_input_tokens goes to the context fallback without calling the small model', T, async () => {
            const long = 'word '.repeat(400); /* 2000 characters ≈ 500 tokens > 100 */
            const r = await hit(gw, 'pre', { text: long });
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(r.id, 'pre-big');
            assert.equal((await mock.modelStats('pre-small')).requests, 0, 'the small deployment was never called');
            const short = await hit(gw, 'pre', { text: 'hi' });
            assert.equal(short.id, 'pre-small', 'short prompts stay on the small model');
            assert.equal((await mock.modelStats('pre-small')).requests, 1);
        });

        it('without enable_pre_call_checks the small model is called (and answers)', T, async () => {
            const r = await hit(gwNoPre, 'pre', { text: 'word '.repeat(400) });
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(r.id, 'pre-small');
            assert.equal((await mock.modelStats('np-pre-small')).requests, 1);
        });
    });

    // -----------------------------------------------------------------------------------------
    describe('cooldowns', () => {
        let gw;
        before(async () => {
            await mock.behave([
                { model: 'cd-bad', status: 500 },
                { model: 'cdp-bad', status: 500 },
                { model: 'ic429-bad', status: 429 },
                { model: 'ic401-bad', status: 401 },
                { model: 'ic404-bad', status: 404 },
                { model: 'ic408-bad', status: 408 },
                { model: 'ic500-bad', status: 500 },
                { model: 'solo', status: 429 },
                { model: 'hs-bad', status: 429 },
            ]);
            gw = await gateway({
                router_settings: { num_retries: 0, cooldown_time: 2 },
                model_list: [
                    dep('cd', 'cd-bad', { weight: 1 }), dep('cd', 'cd-good', { weight: 1 }),
                    dep('cdp', 'cdp-bad'), dep('cdp', 'cdp-good'),
                    ...[429, 401, 404, 408, 500].flatMap((s) => [dep(`ic${s}`, `ic${s}-bad`), dep(`ic${s}`, `ic${s}-good`)]),
                    dep('solo', 'solo'),
                    dep('hs', 'hs-bad'), dep('hs', 'hs-good'),
                ],
            });
        });

        async function sequential(model, n) {
            const out = [];
            for (let i = 0; i < n; i++) out.push(await hit(gw, model));
            return out;
        }

        for (const s of [429, 401, 404, 408]) {
            it(`a ${s} cools the deployment down at once`, T, async () => {
                await sequential(`ic${s}`, 15);
                const bad = (await mock.modelStats(`ic${s}-bad`)).requests;
                assert.ok(bad <= 1, `ic${s}-bad got ${bad} requests in 15 (immediate cooldown: at most 1)`);
            });
        }

        it('a 500 is tolerated allowed_fails (3) times in a minute, then the deployment cools down', T, async () => {
            const res = await sequential('ic500', 40);
            const bad = (await mock.modelStats('ic500-bad')).requests;
            assert.ok(bad >= 3 && bad <= 4, `ic500-bad got ${bad} of 40 requests (3 allowed fails, cooled on the 3rd or 4th)`);
            assert.equal(res.filter((r) => r.status !== 200).length, bad, 'with num_retries 0 each failure reaches the client');
            assert.ok(res.slice(-20).every((r) => r.status === 200 && r.id === 'ic500-good'), 'the tail all went to the good one');
        });

        it('/health shows state "cooldown" for a cooled-down deployment and "healthy" for the others', T, async () => {
            await sequential('hs', 20);
            assert.equal((await mock.modelStats('hs-bad')).requests, 1, 'hs-bad cooled down after its 429');
            const h = await request(`${gw.url}/health`, { headers: authHeaders() });
            assert.equal(h.status, 200, h.text);
            const all = [...(h.json.healthy_endpoints ?? []), ...(h.json.unhealthy_endpoints ?? [])];
            const find = (id) => all.find((e) => e.model_id === id);
            assert.ok(find('hs-bad') && find('hs-good'), `every deployment is listed: ${h.text}`);
            assert.equal(find('hs-bad').state, 'cooldown', h.text);
            assert.equal(find('hs-good').state, 'healthy', h.text);
            for (const e of all) assert.ok(typeof e.state === 'string', `state on every entry: ${JSON.stringify(e)}`);
        });

        it('a single-deployment group is never cooled down', T, async () => {
            const res = await sequential('solo', 6);
            for (const r of res) {
                assert.equal(r.status, 429, `the upstream's 429 is relayed, not "no deployment available": ${describeRes(r)}`);
                assertOpenAIError(assert, r.json, { messageIncludes: statusErrorBody(429, 'solo').error.message });
            }
            assert.equal((await mock.modelStats('solo')).requests, 6, 'every request reached the only deployment');
        });

        it('after cooldown_time one probe goes first (half-open), then the deployment is back', T, async () => {
            /* Cool cd-bad down. */
            await sequential('cd', 30);
            const cooled = (await mock.modelStats('cd-bad')).requests;
            assert.ok(cooled >= 3 && cooled <= 4, `cd-bad got ${cooled}`);
            const cooledAt = Date.now();
            /* It recovers, but slowly: a probe stays in flight long enough to see who else comes. */
            await mock.behave('cd-bad', { latency_ms: 700 });
            const during = await sequential('cd', 10);
            assert.ok(during.every((r) => r.id === 'cd-good'), 'still cooling down: nothing goes to cd-bad');
            assert.equal((await mock.modelStats('cd-bad')).requests, cooled);
            await sleep(Math.max(0, cooledAt + 2000 + 300 - Date.now()));
            const burst = await Promise.all(Array.from({ length: 12 }, () => hit(gw, 'cd')));
            for (const r of burst) assert.equal(r.status, 200, describeRes(r));
            const st = await mock.modelStats('cd-bad');
            assert.ok(st.requests - cooled <= 1,
                      `half-open: only one probe may reach a recovering deployment, got ${st.requests - cooled} of 12 concurrent`);
            assert.equal(st.maxInFlight, 1);
            /* The probe succeeded: full traffic again. */
            await mock.behave('cd-bad', {});
            const afterProbe = await sequential('cd', 30);
            const back = afterProbe.filter((r) => r.id === 'cd-bad').length;
            assert.ok(back >= 5, `cd-bad is back in rotation: ${back} of 30 (expected about half)`);
            const h = await request(`${gw.url}/health`, { headers: authHeaders() });
            const e = [...h.json.healthy_endpoints, ...h.json.unhealthy_endpoints].find((x) => x.model_id === 'cd-bad');
            assert.equal(e?.state, 'healthy', h.text);
        });

        it('a failed probe cools the deployment down again at once', T, async () => {
            await sequential('cdp', 30);
            const cooled = (await mock.modelStats('cdp-bad')).requests;
            assert.ok(cooled >= 3 && cooled <= 4, `cdp-bad got ${cooled}`);
            await sleep(2300);
            const res = await sequential('cdp', 30);
            const delta = (await mock.modelStats('cdp-bad')).requests - cooled;
            assert.equal(delta, 1, `after the cooldown exactly one probe, which fails and cools it again; got ${delta}`);
            assert.equal(res.filter((r) => r.status !== 200).length, 1);
        });
    });

    describe('cooldown settings', () => {
        let gwOff;
        let gwShare;
        before(async () => {
            await mock.behave([{ model: 'off-bad', status: 429 }, { model: 'share-bad', status: 500 }]);
            gwOff = await gateway({
                router_settings: { num_retries: 0, disable_cooldowns: true },
                model_list: [dep('off', 'off-bad'), dep('off', 'off-good')],
            });
            gwShare = await gateway({
                router_settings: { num_retries: 0, allowed_fails: 1000, cooldown_time: 30 },
                model_list: [dep('share', 'share-bad'), dep('share', 'share-good')],
            });
        });

        it('disable_cooldowns: true keeps a failing deployment in rotation', T, async () => {
            for (let i = 0; i < 30; i++) await hit(gwOff, 'off');
            const bad = (await mock.modelStats('off-bad')).requests;
            assert.ok(bad >= 5, `off-bad got ${bad} of 30 with cooldowns disabled (expected about half)`);
        });

        it('failure_threshold_percent: ≥ 50 % failures over ≥ 5 requests cools down even under allowed_fails', T, async () => {
            for (let i = 0; i < 60; i++) await hit(gwShare, 'share');
            const bad = (await mock.modelStats('share-bad')).requests;
            assert.ok(bad >= 1 && bad <= 6, `share-bad (100 % failures) got ${bad} of 60 (cooled once it had 5 requests)`);
        });
    });

    // -----------------------------------------------------------------------------------------
    describe('background health checks', () => {
        let gw;
        let deadPort;
        before(async () => {
            deadPort = await closedPort();
            gw = await gateway({
                general_settings: { background_health_checks: true, health_check_interval: 1 },
                router_settings: { num_retries: 0 },
                model_list: [
                    mockModelDeployment(mock, { name: 'bg', id: 'bg-dead', apiBase: `http://127.0.0.1:${deadPort}/v1` }),
                    dep('bg', 'bg-live'),
                ],
            });
        });

        it('an unreachable deployment is kept out of rotation, and comes back when reachable', T, async () => {
            await sleep(2500); /* more than one health_check_interval, and the probe */
            const res = [];
            for (let i = 0; i < 20; i++) res.push(await hit(gw, 'bg'));
            for (const r of res) {
                assert.equal(r.status, 200, `no request may meet the dead deployment: ${describeRes(r)}`);
                assert.equal(r.id, 'bg-live');
                assert.equal(r.attempts, 1, describeRes(r));
            }
            /* Bring it to life on the same port. */
            const revived = await startMock({ port: deadPort });
            extraMocks.push(revived);
            await waitFor(async () => (await hit(gw, 'bg')).id === 'bg-dead',
                          { timeout: 6000, interval: 50, what: 'the revived deployment to get traffic again' });
            assert.ok((await revived.modelStats('bg-dead')).requests >= 1);
        });
    });

    // -----------------------------------------------------------------------------------------
    describe('timeouts', () => {
        let gw;
        before(async () => {
            await mock.behave([
                { model: 'to-hang', hang: true },
                { model: 'sto-ns', latency_ms: 600 },
            ]);
            gw = await gateway({
                router_settings: { retry_backoff_base: 0.02, retry_backoff_max: 0.05 },
                server: { idle_timeout: 0.5 },
                model_list: [
                    dep('to-hang', 'to-hang', { timeout: 0.3 }),
                    dep('to-once', 'to-once', { timeout: 0.4 }),
                    dep('sto-once', 'sto-once', { stream_timeout: 0.3, timeout: 5 }),
                    dep('sto-ns', 'sto-ns', { stream_timeout: 0.3, timeout: 5 }),
                    dep('idle-once', 'idle-once', { timeout: 10 }),
                    dep('idle-stream', 'idle-stream', { timeout: 10 }),
                ],
            });
        });

        it('litellm_params.timeout: a hung upstream is a timeout, retried (3 attempts), then 504/408', T, async () => {
            const r = await hit(gw, 'to-hang');
            assert.ok(r.status === 504 || r.status === 408, describeRes(r));
            assertOpenAIError(assert, r.json ?? r.text);
            await sleep(50);
            const st = await mock.modelStats('to-hang');
            assert.equal(st.requests, 3, 'timeouts are retried');
            assert.ok(r.elapsed >= 880 && r.elapsed < 900 + 2 * 50 + 1000, `3 × 0.3 s took ${r.elapsed} ms`);
        });

        it('litellm_params.timeout: a slow first attempt is abandoned and retried', T, async () => {
            await mock.behave('to-once', { latency_ms: 1500, count: 1 });
            const r = await hit(gw, 'to-once');
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(r.attempts, 2);
            assert.ok(r.elapsed >= 390 && r.elapsed < 1400, `took ${r.elapsed} ms for a 0.4 s timeout then a fast answer`);
        });

        it('stream_timeout: no first byte in time → retried, the client gets a whole stream', T, async () => {
            await mock.behave('sto-once', { latency_ms: 1500, count: 1 });
            const r = await hit(gw, 'sto-once', { stream: true });
            assert.equal(r.status, 200, describeRes(r));
            const s = streamContent(r.text);
            assert.equal(s.content, mockContent());
            assert.ok(s.done && s.errors.length === 0, r.text);
            assert.equal(r.attempts, 2, describeRes(r));
            assert.ok(r.elapsed >= 290 && r.elapsed < 1400, `took ${r.elapsed} ms`);
        });

        it('stream_timeout does not apply to non-streaming requests', T, async () => {
            const r = await hit(gw, 'sto-ns');
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(r.attempts, 1);
        });

        it('server.idle_timeout: a non-streaming body that stops arriving is a timeout, retried', T, async () => {
            await mock.behave('idle-once', { stall_after_chunks: 1, count: 1 });
            const r = await hit(gw, 'idle-once');
            assert.equal(r.status, 200, describeRes(r));
            assert.equal(okContent(r), mockContent());
            assert.equal(r.attempts, 2, describeRes(r));
            assert.ok(r.elapsed >= 450 && r.elapsed < 2500, `took ${r.elapsed} ms for a 0.5 s idle_timeout`);
        });

        it('server.idle_timeout after the first streamed byte: SSE error event, no retry', T, async () => {
            await mock.behave('idle-stream', { stall_after_chunks: 1 });
            const r = await hit(gw, 'idle-stream', { stream: true });
            assert.equal(r.status, 200, describeRes(r));
            const s = streamContent(r.text);
            assert.equal(s.content, mockPrefix(1));
            assert.equal(s.errors.length, 1, r.text);
            assertOpenAIError(assert, s.errors[0]);
            assert.ok(s.done, r.text);
            assert.ok(r.elapsed >= 450 && r.elapsed < 2500, `took ${r.elapsed} ms for a 0.5 s idle_timeout`);
            assert.equal((await mock.modelStats('idle-stream')).requests, 1);
        });
    });

    // -----------------------------------------------------------------------------------------
    describe('scenario: deployments die under load', () => {
        let gw;
        before(async () => {
            await mock.behave([
                { model: 'sc-a', latency_ms: 2, latency_jitter_ms: 4 },
                { model: 'sc-b', status: 429, retry_after: 1 },
                { model: 'sc-c', latency_ms: 2, latency_jitter_ms: 4 },
            ]);
            gw = await gateway({
                /* A short cooldown, so half-open probes of the broken deployments happen under load. */
                router_settings: { cooldown_time: 1 },
                model_list: [dep('scen', 'sc-a'), dep('scen', 'sc-b'), dep('scen', 'sc-c')],
            });
        });

        it('2,000 requests (concurrency 20, some streaming): one deployment 429s, one dies mid-load, zero failures', { timeout: 90_000 }, async () => {
            const N = 2000;
            const KILL_AT = 700;
            let started = 0;
            let killed = null;
            const t0 = Date.now();
            const res = await pool(N, 20, async (i) => {
                if (++started === KILL_AT) {
                    killed = mock.behave('sc-c', { refuse: true });
                    await killed;
                }
                const stream = i % 25 === 7;
                const r = await hit(gw, 'scen', { stream, timeout: 30_000 });
                if (r.status !== 200) return { ...r, bad: `status ${r.status}` };
                if (stream) {
                    const s = streamContent(r.text);
                    if (s.content !== mockContent() || s.errors.length || !s.done) return { ...r, bad: 'broken stream' };
                } else if (okContent(r) !== mockContent()) {
                    return { ...r, bad: 'wrong content' };
                }
                return r;
            });
            const elapsed = Date.now() - t0;
            const failures = res.filter((r) => r.error || r.bad);
            assert.ok(killed, 'sc-c was killed during the run');
            assert.equal(failures.length, 0,
                         `${failures.length} of ${N} requests failed; first: ${failures.slice(0, 3).map((r) => `${r.bad ?? ''} ${describeRes(r)}`).join(' | ')}`);
            assert.ok(elapsed < 60_000, `the run took ${elapsed} ms`);
            const by = {};
            for (const r of res) by[r.id] = (by[r.id] ?? 0) + 1;
            assert.equal(by['sc-b'] ?? 0, 0, `the 429ing deployment never answered: ${JSON.stringify(by)}`);
            assert.ok((by['sc-c'] ?? 0) > 0 && (by['sc-a'] ?? 0) > N / 2, JSON.stringify(by));
            const b = await mock.modelStats('sc-b');
            const c = await mock.modelStats('sc-c');
            /* Cooldowns keep the broken deployments nearly out of traffic (without them: ~1/3 each). */
            assert.ok(b.requests < 150, `the 429ing deployment still got ${b.requests} requests`);
            assert.ok(c.refused < 150, `the dead deployment still got ${c.refused} requests after it died`);
            const retried = res.filter((r) => r.attempts > 1).length;
            assert.ok(retried > 0, 'some requests needed a retry');
            console.log(`# scenario: ${elapsed} ms; answered by ${JSON.stringify(by)}; retried ${retried}; ` +
                        `sc-b saw ${b.requests}, sc-c refused ${c.refused}`);
        });
    });
});
