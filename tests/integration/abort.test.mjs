/*
 * Client aborts: the gateway stays healthy and closes the upstream request soon after the client goes
 * away (the mock records connections that closed before it finished answering as closedEarly).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { mockContent, mockPrefix } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, UPSTREAM_KEY, authHeaders, chat, fakeDeployment, marker, mockDeployment, request, startGateway,
    startMock, userMessage, waitFor,
} from './harness.mjs';

const T = { timeout: 20_000 };
/* The promise for HTTP/1 non-streaming requests waiting on the upstream. */
const NON_STREAM_CANCEL_MS = 1500;
/* A stream notices the client on its next write; chunks here come every 100 ms. */
const STREAM_CANCEL_MS = 1500;

describe('client abort', () => {
    let mock;
    let gw;
    let client;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        gw = await startGateway({
            model_list: [mockDeployment(mock, { id: 'dep-mock-1' }), fakeDeployment()],
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

    /* Waits for the upstream record of `m` to close and returns it with the delay since t0. */
    async function upstreamClosed(m, t0, bound) {
        const rec = await waitFor(async () => (await mock.requests({ contains: m })).find((r) => r.closedAt),
                                  { timeout: bound + 2000, interval: 25, what: `upstream request ${m} to close` });
        return { rec, after: rec.closedAt - t0 };
    }

    async function assertHealthy() {
        assert.ok(gw.alive(), `gateway died:\n${gw.stderr().slice(-3000)}`);
        const h = await request(`${gw.url}/health/liveliness`);
        assert.equal(h.status, 200);
        const r = await chat(gw, { model: 'gpt-mock', messages: userMessage('still there?') });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.choices[0].message.content, mockContent(3));
    }

    it('non-streaming (fetch + AbortController): upstream closed within 1.5 s', T, async () => {
        const m = marker('abort-ns');
        const statsBefore = await mock.stats();
        const ac = new AbortController();
        const pending = fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: authHeaders(),
            body: JSON.stringify({ model: 'gpt-mock', messages: userMessage(`[[delay:3000]] ${m}`) }),
            signal: ac.signal,
        });
        await mock.waitForRequest(m); /* the gateway is now waiting on the upstream */
        const t0 = Date.now();
        ac.abort();
        await assert.rejects(pending, { name: 'AbortError' });
        const { rec, after: ms } = await upstreamClosed(m, t0, NON_STREAM_CANCEL_MS);
        assert.equal(rec.closedEarly, true, 'the gateway closed the upstream request before it was answered');
        assert.ok(ms < NON_STREAM_CANCEL_MS, `upstream closed ${ms} ms after the client aborted`);
        const statsAfter = await mock.stats();
        assert.ok(statsAfter.closedEarly >= statsBefore.closedEarly + 1, JSON.stringify(statsAfter));
        await assertHealthy();
    });

    it('non-streaming (SDK signal): upstream closed within 1.5 s', T, async () => {
        const m = marker('abort-sdk');
        const ac = new AbortController();
        const pending = client.chat.completions.create(
            { model: 'gpt-mock', messages: userMessage(`[[delay:3000]] ${m}`) }, { signal: ac.signal });
        await mock.waitForRequest(m);
        const t0 = Date.now();
        ac.abort();
        await assert.rejects(pending, OpenAI.APIUserAbortError);
        const { rec, after: ms } = await upstreamClosed(m, t0, NON_STREAM_CANCEL_MS);
        assert.equal(rec.closedEarly, true);
        assert.ok(ms < NON_STREAM_CANCEL_MS, `upstream closed ${ms} ms after the client aborted`);
        await assertHealthy();
    });

    it('streaming (SDK, break after two chunks): upstream stream closed soon after', T, async () => {
        const m = marker('abort-stream');
        const stream = await client.chat.completions.create({
            model: 'gpt-mock', messages: userMessage(`[[chunks:100]][[chunk_delay:100]] ${m}`), stream: true,
        });
        let got = '';
        let n = 0;
        let t0 = 0;
        for await (const c of stream) {
            const piece = c.choices[0]?.delta?.content;
            if (piece) {
                got += piece;
                if (++n === 2) {
                    t0 = Date.now();
                    break; /* the SDK aborts its request */
                }
            }
        }
        assert.equal(got, mockPrefix(2, 100));
        const { rec, after: ms } = await upstreamClosed(m, t0, STREAM_CANCEL_MS);
        assert.equal(rec.closedEarly, true, 'the upstream stream was abandoned, not run to the end');
        assert.ok(ms < STREAM_CANCEL_MS, `upstream closed ${ms} ms after the client went away`);
        await assertHealthy();
    });

    it('streaming (fetch, abort mid-stream): upstream stream closed soon after', T, async () => {
        const m = marker('abort-raw');
        const ac = new AbortController();
        const r = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: authHeaders(),
            body: JSON.stringify({
                model: 'gpt-mock', messages: userMessage(`[[chunks:100]][[chunk_delay:100]] ${m}`), stream: true,
            }),
            signal: ac.signal,
        });
        assert.equal(r.status, 200);
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let text = '';
        const readDeadline = Date.now() + 5000;
        while (!text.includes('Hello') && Date.now() < readDeadline) {
            const { value, done } = await reader.read();
            if (done) break;
            text += decoder.decode(value, { stream: true });
        }
        assert.ok(text.includes('Hello'), `first content chunk arrived: ${text}`);
        const t0 = Date.now();
        ac.abort();
        await reader.read().catch(() => {});
        const { rec, after: ms } = await upstreamClosed(m, t0, STREAM_CANCEL_MS);
        assert.equal(rec.closedEarly, true);
        assert.ok(ms < STREAM_CANCEL_MS, `upstream closed ${ms} ms after the client went away`);
        await assertHealthy();
    });

    it('many aborted requests in a row leave the gateway healthy', T, async () => {
        const m = marker('burst');
        const controllers = [];
        const pending = [];
        for (let i = 0; i < 10; i++) {
            const ac = new AbortController();
            controllers.push(ac);
            pending.push(fetch(`${gw.url}/v1/chat/completions`, {
                method: 'POST',
                headers: authHeaders(),
                body: JSON.stringify({ model: 'gpt-mock', messages: userMessage(`[[delay:3000]] ${m}`),
                                       stream: i % 2 === 0 }),
                signal: ac.signal,
            }).then((r) => r.text()).catch((e) => e));
        }
        await mock.waitForRequest(m, { count: 10 });
        const t0 = Date.now();
        for (const ac of controllers) ac.abort();
        await Promise.all(pending);
        const recs = await waitFor(async () => {
            const list = await mock.requests({ contains: m });
            return list.every((r) => r.closedAt) ? list : null;
        }, { timeout: NON_STREAM_CANCEL_MS + 2000, interval: 25, what: 'all 10 upstream requests to close' });
        for (const rec of recs) {
            assert.equal(rec.closedEarly, true);
            assert.ok(rec.closedAt - t0 < NON_STREAM_CANCEL_MS, `closed ${rec.closedAt - t0} ms after abort`);
        }
        await assertHealthy();
    });
});
