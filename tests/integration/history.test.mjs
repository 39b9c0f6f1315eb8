/*
 * Chat history: enable_history / session_id in the body (and in Bedrock's
 * additionalModelRequestFields), the stored turns sent upstream before the new ones, x-session-id,
 * the read-back routes, ownership, bounds, and persistence in a database file across restarts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import OpenAI from 'openai';
import { mockContent } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, authHeaders, fakeDeployment, marker, mockDeployment, parseSSE, request, startGateway,
    startMock, tempDir,
} from './harness.mjs';

const T = { timeout: 30_000 };

function post(gw, p, body, key = MASTER_KEY) {
    return request(gw.url + p, { method: 'POST', headers: key ? authHeaders(key) : {}, body });
}

describe('chat history', () => {
    let mock;
    let gw;
    let client;
    const dbDir = tempDir('gantry-hist-');
    const db = path.join(dbDir, 'state.db');

    before(async () => {
        mock = await startMock();
        gw = await startGateway({
            model_list: [mockDeployment(mock, { id: 'dep-hist' }), fakeDeployment({ id: 'dep-fake-h' })],
            general_settings: { master_key: MASTER_KEY },
            server: { database: db },
            chat_history: { max_messages: 6, max_sessions_per_key: 3 },
        });
        client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 15_000 });
    });
    after(async () => {
        await gw?.stop();
        await mock?.stop();
    });

    it('starts a session, sends its turns upstream, and strips the opt-in fields', T, async () => {
        const m1 = marker('h1');
        const r1 = await client.chat.completions.create({
            model: 'gpt-mock', messages: [{ role: 'user', content: `first ${m1}` }], enable_history: true,
        }).withResponse();
        const sid = r1.response.headers.get('x-session-id');
        assert.match(sid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        const [up1] = await mock.requests({ contains: m1 });
        assert.equal(up1.body.enable_history, undefined, 'enable_history must not reach the provider');
        assert.equal(up1.body.messages.length, 1);

        const m2 = marker('h2');
        const r2 = await client.chat.completions.create({
            model: 'gpt-mock', messages: [{ role: 'user', content: `second ${m2}` }], session_id: sid,
        }).withResponse();
        assert.equal(r2.response.headers.get('x-session-id'), sid);
        const [up2] = await mock.requests({ contains: m2 });
        assert.equal(up2.body.session_id, undefined);
        assert.deepEqual(up2.body.messages.map((m) => m.role), ['user', 'assistant', 'user']);
        assert.equal(up2.body.messages[0].content, `first ${m1}`);
        assert.equal(up2.body.messages[1].content, r1.data.choices[0].message.content);

        const h = await post(gw, '/chat-history', { session_id: sid });
        assert.equal(h.status, 200);
        assert.equal(h.json.session_id, sid);
        assert.deepEqual(h.json.messages.map((m) => m.content),
            [`first ${m1}`, r1.data.choices[0].message.content, `second ${m2}`, r2.data.choices[0].message.content]);
    });

    it('records a streamed answer, and a system message of the request leads', T, async () => {
        const m = marker('hs');
        const first = await post(gw, '/v1/chat/completions', {
            model: 'gpt-mock', stream: true, enable_history: true,
            messages: [{ role: 'system', content: 'old rules' }, { role: 'user', content: `hello ${m} [[chunks:4]]` }],
        });
        assert.equal(first.status, 200);
        const sid = first.headers.get('x-session-id');
        const text = parseSSE(first.text).filter((e) => e.data !== '[DONE]')
            .map((e) => JSON.parse(e.data).choices?.[0]?.delta?.content ?? '').join('');
        assert.equal(text, mockContent(4));
        const m2 = marker('hs2');
        const second = await post(gw, '/v1/chat/completions', {
            model: 'gpt-mock', session_id: sid,
            messages: [{ role: 'system', content: 'new rules' }, { role: 'user', content: `again ${m2}` }],
        });
        assert.equal(second.status, 200);
        const [up] = await mock.requests({ contains: m2 });
        assert.deepEqual(up.body.messages.map((x) => [x.role, x.content]), [
            ['system', 'new rules'], ['user', `hello ${m} [[chunks:4]]`], ['assistant', mockContent(4)],
            ['user', `again ${m2}`],
        ]);
        const b = await post(gw, '/bedrock/chat-history', { session_id: sid });
        assert.equal(b.status, 200);
        assert.deepEqual(b.json.system, [{ text: 'new rules' }]);
        assert.deepEqual(b.json.messages[1], { role: 'assistant', content: [{ text: mockContent(4) }] });
    });

    it('keeps at most max_messages, dropping the oldest', T, async () => {
        let sid;
        for (let i = 0; i < 5; i++) {
            const r = await post(gw, '/v1/chat/completions', {
                model: 'fake-model', messages: [{ role: 'user', content: `turn ${i}` }],
                ...(sid ? { session_id: sid } : { enable_history: true }),
            });
            assert.equal(r.status, 200);
            sid = r.headers.get('x-session-id');
        }
        const h = await post(gw, '/chat-history', { session_id: sid });
        assert.equal(h.json.messages.length, 6);
        assert.equal(h.json.messages[0].content, 'turn 2');
        assert.equal(h.json.messages[4].content, 'turn 4');
    });

    it('keeps at most max_sessions_per_key sessions, most recent first', T, async () => {
        const ids = [];
        for (let i = 0; i < 4; i++) {
            const r = await post(gw, '/v1/chat/completions', {
                model: 'fake-model', messages: [{ role: 'user', content: `s${i}` }], enable_history: true,
            });
            ids.push(r.headers.get('x-session-id'));
        }
        const s = await post(gw, '/session-ids', {});
        assert.equal(s.status, 200);
        assert.deepEqual(s.json.session_ids, [ids[3], ids[2], ids[1]]);
        const gone = await post(gw, '/chat-history', { session_id: ids[0] });
        assert.equal(gone.status, 404);
    });

    it('refuses bad input and needs the key', T, async () => {
        const bad = await post(gw, '/v1/chat/completions', {
            model: 'fake-model', messages: [{ role: 'user', content: 'x' }], session_id: 'no spaces please',
        });
        assert.equal(bad.status, 400);
        assert.equal(bad.json.error.param, 'session_id');
        assert.equal((await post(gw, '/chat-history', {})).status, 400);
        assert.equal((await post(gw, '/chat-history', { session_id: 'x' }, null)).status, 401);
        assert.equal((await post(gw, '/session-ids', {}, null)).status, 401);
        const get = await request(gw.url + '/session-ids', { headers: authHeaders() });
        assert.equal(get.status, 405);
    });

    it('a failed answer is not stored', T, async () => {
        const r = await post(gw, '/v1/chat/completions', {
            model: 'gpt-mock', messages: [{ role: 'user', content: 'boom [[status:400]]' }], enable_history: true,
        });
        assert.equal(r.status, 400);
        const sid = r.headers.get('x-session-id');
        if (sid) assert.equal((await post(gw, '/chat-history', { session_id: sid })).status, 404);
    });

    it('persists in the database file, and a session belongs to its key', T, async () => {
        const r = await post(gw, '/v1/chat/completions', {
            model: 'fake-model', messages: [{ role: 'user', content: 'remember me' }], enable_history: true,
        });
        const sid = r.headers.get('x-session-id');
        await gw.stop();
        /* The same file, served by a gateway without a master key: its caller is someone else. */
        const other = await startGateway({
            model_list: [fakeDeployment({ id: 'dep-fake-o' })], server: { database: db },
        });
        try {
            const stolen = await post(other, '/chat-history', { session_id: sid }, null);
            assert.equal(stolen.status, 404);
            const hijack = await post(other, '/v1/chat/completions', {
                model: 'fake-model', messages: [{ role: 'user', content: 'mine now' }], session_id: sid,
            }, null);
            assert.equal(hijack.status, 404);
            assert.equal(hijack.json.error.code, 'session_not_found');
        } finally {
            await other.stop();
        }
        gw = await startGateway({
            model_list: [fakeDeployment({ id: 'dep-fake-h2' })],
            general_settings: { master_key: MASTER_KEY }, server: { database: db },
        });
        const h = await post(gw, '/chat-history', { session_id: sid });
        assert.equal(h.status, 200);
        assert.equal(h.json.messages[0].content, 'remember me');
        assert.equal(h.json.messages.length, 2);
    });
});

describe('chat history size bounds', () => {
    let mock;
    let gw;
    before(async () => {
        mock = await startMock();
        gw = await startGateway({
            model_list: [mockDeployment(mock, { id: 'dep-hist-b' }), fakeDeployment({ id: 'dep-fake-b' })],
            chat_history: { max_bytes: 2048 },
        });
    });
    after(async () => {
        await gw?.stop();
        await mock?.stop();
    });

    it('keeps a whole prefix of a streamed answer longer than max_bytes', T, async () => {
        const r = await post(gw, '/v1/chat/completions', {
            model: 'gpt-mock', stream: true, enable_history: true,
            messages: [{ role: 'user', content: 'long [[chunks:400]]' }],
        }, null);
        assert.equal(r.status, 200);
        const full = mockContent(400);
        const h = await post(gw, '/chat-history', { session_id: r.headers.get('x-session-id') }, null);
        assert.equal(h.status, 200);
        const kept = h.json.messages.find((m) => m.role === 'assistant').content;
        assert.ok(kept.length > 100 && kept.length < full.length, `kept ${kept.length} of ${full.length}`);
        assert.ok(full.startsWith(kept), 'the stored text is a prefix of the answer, without holes');
    });

    it('trims a long conversation sent with the request to the byte bound', T, async () => {
        const messages = [{ role: 'system', content: 'rules' }];
        for (let i = 0; i < 300; i++) messages.push({ role: i % 2 ? 'assistant' : 'user', content: `message ${i} ${'x'.repeat(40)}` });
        messages.push({ role: 'user', content: 'last' });
        const r = await post(gw, '/v1/chat/completions', { model: 'fake-model', messages, enable_history: true }, null);
        assert.equal(r.status, 200);
        const h = await post(gw, '/chat-history', { session_id: r.headers.get('x-session-id') }, null);
        const kept = h.json.messages;
        assert.equal(kept[0].content, 'rules', 'the leading system message stays');
        assert.equal(kept[kept.length - 2].content, 'last');
        assert.ok(JSON.stringify(kept).length <= 2048);
        assert.ok(kept.length < 60);
    });

    it('is refused on the embeddings endpoint', T, async () => {
        const r = await post(gw, '/v1/embeddings', { model: 'fake-model', input: 'x', enable_history: true }, null);
        assert.equal(r.status, 400);
        assert.equal(r.json.error.param, 'enable_history');
    });
});

describe('chat history disabled', () => {
    it('answers 400 when a request opts in', T, async () => {
        const gw = await startGateway({
            model_list: [fakeDeployment({ id: 'dep-fake-d' })], chat_history: { enabled: false },
        });
        try {
            const r = await post(gw, '/v1/chat/completions', {
                model: 'fake-model', messages: [{ role: 'user', content: 'x' }], enable_history: true,
            }, null);
            assert.equal(r.status, 400);
            assert.equal(r.json.error.code, 'history_disabled');
        } finally {
            await gw.stop();
        }
    });
});
