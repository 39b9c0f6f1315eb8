/*
 * The built-in guardrails without a cloud - pii, keywords and max_length - configured through
 * LiteLLM's guardrails: section: blocking (OpenAI error shape, 400, the upstream never called),
 * masking of what goes upstream and of answers (streamed and not, entities split across chunks:
 * the mock's [[echo]] with [[chunks:N]] sends one character per chunk), the
 * x-gantry-applied-guardrails header, default_on against per-request selection, and post_call
 * checking only the answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mockPieces } from '../mock/openai-mock.mjs';
import {
    MASTER_KEY, assertOpenAIError, authHeaders, chat, marker, mockDeployment, parseSSE, readAll,
    startGateway, startMock,
} from './harness.mjs';

const T = { timeout: 30_000 };
const EMAIL = 'bob.smith@example.com';
const CARD = '4111 1111 1111 1111';
const KEY = 'AKIAIOSFODNN7EXAMPLE';

function guard(name, guardrail, params = {}) {
    return { guardrail_name: name, litellm_params: { guardrail, ...params } };
}

/* A streamed chat request, read to the end: {status, events (parsed JSON), content, error}. */
async function stream(gw, body) {
    const r = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: authHeaders(),
        body: JSON.stringify({ model: 'gpt-mock', ...body, stream: true }),
        signal: AbortSignal.timeout(20_000),
    });
    const { text, timedOut } = await readAll(r, 20_000);
    assert.ok(!timedOut, `the stream did not end: ${text.slice(-500)}`);
    const events = parseSSE(text).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    const errorAt = events.findIndex((e) => e.error);
    const content = (errorAt < 0 ? events : events.slice(0, errorAt))
        .map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
    return { status: r.status, headers: r.headers, text, events, content, errorAt,
             error: errorAt < 0 ? null : events[errorAt] };
}

/* What the mock's [[echo]] answers after masking: its request body as JSON, entities replaced. */
function maskedEcho(upBody, replacements) {
    let s = JSON.stringify(upBody);
    for (const [from, to] of replacements) s = s.split(from).join(to);
    return s;
}

describe('built-in guardrails: pii, keywords, max_length', () => {
    let mock;
    let gw;

    before(async () => {
        mock = await startMock();
        gw = await startGateway({
            model_list: [mockDeployment(mock, { id: 'dep-guard-builtin' })],
            general_settings: { master_key: MASTER_KEY },
            guardrails: [
                guard('pii-in', 'pii', { mode: 'pre_call' }),
                guard('pii-out', 'pii', { mode: 'post_call' }),
                guard('pii-block', 'pii', { mode: 'pre_call', entities: { credit_card: 'block' } }),
                guard('pii-block-out', 'pii', { mode: 'post_call', entities: { credit_card: 'block' } }),
                guard('pii-format', 'pii', { mode: 'pre_call', mask_format: '<{entity}>',
                                             entities: { aws_access_key: 'off' } }),
                guard('kw-block', 'keywords', { mode: 'pre_call', keywords: ['forbidden', 'top secret'] }),
                guard('kw-during', 'keywords', { mode: 'during_call', keywords: ['embargoed'] }),
                guard('kw-mask', 'keywords', {
                    mode: 'pre_call', action: 'mask',
                    keywords: ['confidential', { keyword: 'Acme', case_sensitive: true, replacement: '<co>' }],
                }),
                guard('kw-mask-out', 'keywords', {
                    mode: 'post_call', keywords: [{ keyword: 'confidential', action: 'mask' }, 'acme corp'],
                    match: 'substring',
                }),
                guard('kw-default', 'keywords', {
                    mode: 'pre_call', default_on: true, allow_disable: true,
                    keywords: [{ keyword: 'defaultonword', action: 'mask' }],
                }),
                guard('len', 'max_length', { mode: 'pre_call', max_input_chars: 300, max_messages: 3 }),
                guard('len-tokens', 'max-length', { mode: 'pre_call', max_input_tokens: 10 }),
                guard('len-out', 'max_length', { mode: 'post_call', max_output_chars: 15 }),
            ],
        });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    const post = (body) => chat(gw, { model: 'gpt-mock', ...body });
    const user = (text) => [{ role: 'user', content: text }];

    /* ---- pii ---- */

    it('pii: a blocked entity → 400 guardrail_violation, the upstream is never called', T, async () => {
        const m = marker('pii-block');
        const r = await post({ messages: user(`${m} pay with ${CARD}`), guardrails: ['pii-block'] });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'pii_detected' });
        assert.equal(e.type, 'guardrail_violation');
        assert.equal(e.message, "guardrail 'pii-block' blocked the request: it contains credit_card");
        assert.ok(!r.text.includes('4111'), 'the error does not repeat the number');
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /pii-block/);
        assert.equal((await mock.requests({ contains: m })).length, 0, 'a blocked request never goes upstream');
    });

    it('pii: pre_call masks what the upstream sees, and names itself in the header', T, async () => {
        const m = marker('pii-in');
        const r = await post({
            messages: [{ role: 'system', content: `admin ${EMAIL}` },
                       { role: 'user', content: [{ type: 'text', text: `${m} card ${CARD} key ${KEY} [[echo]]` }] }],
            guardrails: ['pii-in'],
        });
        assert.equal(r.status, 200, r.text);
        const [up] = await mock.requests({ contains: m });
        const seen = JSON.stringify(up.body);
        assert.ok(!seen.includes(EMAIL) && !seen.includes(CARD) && !seen.includes(KEY), seen);
        assert.equal(up.body.messages[0].content, 'admin [EMAIL]');
        assert.equal(up.body.messages[1].content[0].text, `${m} card [CREDIT_CARD] key [AWS_ACCESS_KEY] [[echo]]`);
        assert.equal(up.body.guardrails, undefined, 'the selection never goes upstream');
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /(^|,\s*)pii-in(,|$)/);
    });

    it('pii: mask_format and entities switched off', T, async () => {
        const m = marker('pii-format');
        const r = await post({ messages: user(`${m} ${EMAIL} ${KEY}`), guardrails: ['pii-format'] });
        assert.equal(r.status, 200, r.text);
        const [up] = await mock.requests({ contains: m });
        assert.equal(up.body.messages[0].content, `${m} <email> ${KEY}`);
    });

    it('pii: post_call leaves the prompt alone and masks the answer', T, async () => {
        const m = marker('pii-out');
        const r = await post({ messages: user(`${m} mail ${EMAIL} card ${CARD} [[echo]]`), guardrails: ['pii-out'] });
        assert.equal(r.status, 200, r.text);
        const [up] = await mock.requests({ contains: m });
        assert.ok(JSON.stringify(up.body).includes(EMAIL), 'post_call does not touch the prompt');
        const want = maskedEcho(up.body, [[EMAIL, '[EMAIL]'], [CARD, '[CREDIT_CARD]']]);
        assert.equal(r.json.choices[0].message.content, want);
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /pii-out/);
    });

    it('pii: a streamed answer is masked, entities split across one-character chunks included', T, async () => {
        const m = marker('pii-stream');
        const s = await stream(gw, { messages: user(`${m} mail ${EMAIL} card ${CARD} [[echo]] [[chunks:2000]]`),
                                     guardrails: ['pii-out'] });
        assert.equal(s.status, 200);
        assert.equal(s.error, null, s.text.slice(0, 500));
        const [up] = await mock.requests({ contains: m });
        const want = maskedEcho(up.body, [[EMAIL, '[EMAIL]'], [CARD, '[CREDIT_CARD]']]);
        assert.ok(s.events.length > want.length / 2, `the answer came in many chunks (${s.events.length})`);
        assert.equal(s.content, want);
    });

    it('pii: a blocking entity cuts a stream before any of it is sent', T, async () => {
        const m = marker('pii-stream-block');
        /* Text well before the card is sent (the guardrail holds back only the last bytes). */
        const s = await stream(gw, { messages: user(`${m} ${'lorem ipsum '.repeat(10)}card ${CARD} [[echo]] [[chunks:2000]]`),
                                     guardrails: ['pii-block-out'] });
        assert.equal(s.status, 200);
        assert.ok(s.error, `the stream ends with an error event: ${s.text.slice(-300)}`);
        assertOpenAIError(assert, s.error, { code: 'pii_detected' });
        assert.equal(s.errorAt, s.events.length - 1, 'nothing follows the error event');
        assert.ok(s.content.includes(m), 'the text before the card was sent');
        assert.ok(!s.content.includes('4111'), `no digit of the card reached the client: ${s.content}`);
    });

    it('pii: a non-streamed answer with a blocking entity → 400', T, async () => {
        const m = marker('pii-out-block');
        const r = await post({ messages: user(`${m} ${CARD} [[echo]]`), guardrails: ['pii-block-out'] });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'pii_detected' });
        assert.equal(e.message, "guardrail 'pii-block-out' blocked the response: it contains credit_card");
        assert.equal((await mock.requests({ contains: m })).length, 1, 'post_call: the upstream was asked');
    });

    /* ---- keywords ---- */

    it('keywords: a denied word → 400 keyword_detected, never upstream; whole words only', T, async () => {
        const m = marker('kw-block');
        const r = await post({ messages: user(`${m} this is TOP  SECRET? no: top secret!`), guardrails: ['kw-block'] });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'keyword_detected' });
        assert.equal(e.type, 'guardrail_violation');
        assert.equal(e.message, "guardrail 'kw-block' blocked the request: it contains the keyword 'top secret'");
        assert.equal((await mock.requests({ contains: m })).length, 0);

        const m2 = marker('kw-pass');
        const ok = await post({ messages: user(`${m2} unforbiddenly forbiddenness`), guardrails: ['kw-block'] });
        assert.equal(ok.status, 200, 'words that only contain a keyword pass');
        assert.equal((await mock.requests({ contains: m2 })).length, 1);
    });

    it('keywords: during_call blocks like pre_call (the check is synchronous)', T, async () => {
        const m = marker('kw-during');
        const r = await post({ messages: user(`${m} the embargoed report`), guardrails: ['kw-during'] });
        assert.equal(r.status, 400, r.text);
        assertOpenAIError(assert, r.json, { code: 'keyword_detected' });
        assert.equal((await mock.requests({ contains: m })).length, 0);
    });

    it('keywords: pre_call masks the prompt (case-insensitive unless asked)', T, async () => {
        const m = marker('kw-mask');
        const r = await post({ messages: user(`${m} CONFIDENTIAL memo for Acme and acme`), guardrails: ['kw-mask'] });
        assert.equal(r.status, 200, r.text);
        const [up] = await mock.requests({ contains: m });
        assert.equal(up.body.messages[0].content, `${m} [REDACTED] memo for <co> and acme`);
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /kw-mask/);
    });

    it('keywords: post_call masks answers, streamed ones with a keyword split across chunks', T, async () => {
        const m = marker('kw-mask-out');
        const s = await stream(gw, { messages: user(`${m} the Confidential memo [[echo]] [[chunks:2000]]`),
                                     guardrails: ['kw-mask-out'] });
        assert.equal(s.status, 200);
        assert.equal(s.error, null, s.text.slice(0, 500));
        const [up] = await mock.requests({ contains: m });
        assert.ok(JSON.stringify(up.body).includes('Confidential'), 'post_call does not touch the prompt');
        assert.equal(s.content, maskedEcho(up.body, [['Confidential', '[REDACTED]']]));

        const m1 = marker('kw-mask-out-json');
        const r = await post({ messages: user(`${m1} the Confidential memo [[echo]]`), guardrails: ['kw-mask-out'] });
        assert.equal(r.status, 200, r.text);
        const [up1] = await mock.requests({ contains: m1 });
        assert.equal(r.json.choices[0].message.content, maskedEcho(up1.body, [['Confidential', '[REDACTED]']]));
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /kw-mask-out/);

        /* A blocking keyword in the answer cuts the stream before it is sent, and is not named. */
        const m2 = marker('kw-block-out');
        const s2 = await stream(gw, { messages: user(`${m2} ${'lorem ipsum '.repeat(10)}made by ACME Corp [[echo]] [[chunks:2000]]`),
                                      guardrails: ['kw-mask-out'] });
        assert.ok(s2.error, `the stream ends with an error event: ${s2.text.slice(-300)}`);
        const e = assertOpenAIError(assert, s2.error, { code: 'keyword_detected' });
        assert.equal(e.message, "guardrail 'kw-mask-out' blocked the response: it contains a denied keyword");
        assert.ok(s2.content.includes(m2) && !/ACME/i.test(s2.content), s2.content);
    });

    it('keywords: default_on runs without being asked, and may be switched off', T, async () => {
        const m = marker('kw-default');
        const r = await post({ messages: user(`${m} the defaultonword here`) });
        assert.equal(r.status, 200, r.text);
        const [up] = await mock.requests({ contains: m });
        assert.equal(up.body.messages[0].content, `${m} the [REDACTED] here`);
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /kw-default/);

        const m2 = marker('kw-default-off');
        const r2 = await post({ messages: user(`${m2} the defaultonword here`), guardrails: { 'kw-default': false } });
        assert.equal(r2.status, 200, r2.text);
        const [up2] = await mock.requests({ contains: m2 });
        assert.equal(up2.body.messages[0].content, `${m2} the defaultonword here`);
        assert.equal(r2.headers.get('x-gantry-applied-guardrails'), null, 'no guardrail acted');
    });

    it('a guardrail that is not selected does not run, and one that finds nothing is not named', T, async () => {
        const m = marker('none');
        const r = await post({ messages: user(`${m} ${EMAIL} forbidden`) });
        assert.equal(r.status, 200, r.text);
        const [up] = await mock.requests({ contains: m });
        assert.equal(up.body.messages[0].content, `${m} ${EMAIL} forbidden`);
        const m2 = marker('clean');
        const r2 = await post({ messages: user(`${m2} nothing to see`), guardrails: ['pii-in', 'kw-block'] });
        assert.equal(r2.status, 200, r2.text);
        assert.equal(r2.headers.get('x-gantry-applied-guardrails'), null);
    });

    /* ---- max_length ---- */

    it('max_length: a prompt over max_input_chars → 400 max_length_exceeded, never upstream', T, async () => {
        const m = marker('len');
        const r = await post({ messages: user(`${m} ${'é'.repeat(300)}`), guardrails: ['len'] });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'max_length_exceeded' });
        assert.equal(e.type, 'guardrail_violation');
        assert.match(e.message, /^guardrail 'len' blocked the request: the prompt has \d+ characters, more than max_input_chars \(300\)$/);
        assert.equal((await mock.requests({ contains: m })).length, 0);

        const m2 = marker('len-ok');
        const ok = await post({ messages: user(`${m2} ${'é'.repeat(200)}`), guardrails: ['len'] });
        assert.equal(ok.status, 200, 'characters, not bytes: 200 two-byte letters fit');
    });

    it('max_length: max_messages and max_input_tokens (characters / 4)', T, async () => {
        const msgs = [1, 2, 3, 4].map((i) => ({ role: 'user', content: `${marker('lenm')} ${i}` }));
        const r = await post({ messages: msgs, guardrails: ['len'] });
        assert.equal(r.status, 400, r.text);
        assert.match(r.json.error.message, /it has 4 messages, more than max_messages \(3\)/);

        const r2 = await post({ messages: user('x'.repeat(41)), guardrails: ['len-tokens'] });
        assert.equal(r2.status, 400, r2.text);
        assert.match(r2.json.error.message, /about 11 tokens \(characters \/ 4\), more than max_input_tokens \(10\)/);
        const r3 = await post({ messages: user(`${'x'.repeat(40)}`), guardrails: ['len-tokens'] });
        assert.equal(r3.status, 200, r3.text);
    });

    it('max_length: an answer over max_output_chars → 400; a stream is cut with an error event', T, async () => {
        const m = marker('len-out');
        const r = await post({ messages: user(`${m} [[chunks:10]]`), guardrails: ['len-out'] });
        assert.equal(r.status, 400, r.text);
        assertOpenAIError(assert, r.json, { code: 'max_length_exceeded' });

        const pieces = mockPieces(10);
        const s = await stream(gw, { messages: user(`${marker('len-out-s')} [[chunks:10]]`), guardrails: ['len-out'] });
        assert.equal(s.status, 200);
        assert.ok(s.error, `the stream ends with an error event: ${s.text.slice(-300)}`);
        assertOpenAIError(assert, s.error, { code: 'max_length_exceeded' });
        let allowed = '';
        for (const p of pieces) {
            if ([...allowed + p].length > 15) break;
            allowed += p;
        }
        assert.equal(s.content, allowed, 'everything up to the limit, nothing past it');

        const short = await post({ messages: user(`${marker('len-out-ok')} [[chunks:3]]`), guardrails: ['len-out'] });
        assert.equal(short.status, 200, short.text);
    });
});
