/*
 * The Amazon Bedrock guardrail (plugins/guardrail-bedrock, `guardrail: bedrock`) against
 * tests/mock/bedrock-guardrail-mock.mjs, which checks every call's SigV4 signature and picks its
 * verdict by the text (BLOCKME blocks, e-mail addresses and SSNs are anonymized, FAILGUARD is a
 * 500, SLOWGUARD takes 2 s, BADJSONGUARD is not JSON), with the OpenAI mock as the model.
 *
 * Every mode: pre_call (block before the upstream is called; mask what it sees), during_call
 * (the upstream call starts at once and is cancelled by a block; a slow verdict holds a fast
 * answer, streamed or not), post_call (block and mask a whole answer; cut a stream whose window
 * holds BLOCKME; let a clean stream through window by window); fail closed and fail open on a
 * service failure; the timeout; a wrong secret; x-gantry-applied-guardrails; the block in the
 * Anthropic client API's error shape; configuration refused at load.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ApplyGuardrailCommand, BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
    GANTRY_BIN, MASTER_KEY, REPO_ROOT, assertOpenAIError, authHeaders, chat, marker, mockDeployment,
    parseSSE, request, startGateway, startMock, startMockProcess, tempDir, toYaml, waitFor,
} from './harness.mjs';

const T = { timeout: 60_000 };
const GUARD_MOCK = path.join(REPO_ROOT, 'tests', 'mock', 'bedrock-guardrail-mock.mjs');
/* The mock's known credentials (tests/mock/bedrock-guardrail-mock.mjs CREDS). */
const AKID = 'AKIAMOCKGUARDRAIL001';
const SECRET = 'mockSecretKey/guardrail+tests/0000000001';
const EMAIL = 'bob.smith@example.com';
const ARN = 'arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123def';

function guard(name, gmock, params = {}) {
    return {
        guardrail_name: name,
        litellm_params: {
            guardrail: 'bedrock',
            guardrailIdentifier: 'gr1test',
            aws_region_name: 'us-east-1',
            aws_bedrock_runtime_endpoint: gmock.url,
            aws_access_key_id: AKID,
            aws_secret_access_key: SECRET,
            ...params,
        },
    };
}

const user = (text) => [{ role: 'user', content: text }];
const contentOf = (text) => parseSSE(text).filter((e) => e.data !== '[DONE]')
    .map((e) => JSON.parse(e.data)).map((c) => c.choices?.[0]?.delta?.content ?? '').join('');

describe('the guardrail mock, checked with the AWS SDK', () => {
    let gmock;
    before(async () => {
        gmock = await startMockProcess(GUARD_MOCK, ['--port', '0'], { name: 'guardrail-mock' });
    });
    after(async () => {
        await gmock?.stop();
    });
    const sdk = (secret = SECRET) => new BedrockRuntimeClient({
        region: 'us-east-1', endpoint: gmock.url, maxAttempts: 1, requestHandler: new NodeHttpHandler(),
        credentials: { accessKeyId: AKID, secretAccessKey: secret },
    });

    it('accepts the SDK\'s signature (an ARN in the path) and answers in the shape it parses', T, async () => {
        const r = await sdk().send(new ApplyGuardrailCommand({
            guardrailIdentifier: ARN, guardrailVersion: '1', source: 'INPUT',
            content: [{ text: { text: 'hello' } }, { text: { text: `mail ${EMAIL}` } }],
        }));
        assert.equal(r.action, 'GUARDRAIL_INTERVENED');
        assert.deepEqual(r.outputs, [{ text: 'hello' }, { text: 'mail {EMAIL}' }]);
        assert.equal(r.assessments[0].sensitiveInformationPolicy.piiEntities[0].action, 'ANONYMIZED');
        const b = await sdk().send(new ApplyGuardrailCommand({
            guardrailIdentifier: 'gr1test', guardrailVersion: 'DRAFT', source: 'OUTPUT', content: [{ text: { text: 'BLOCKME' } }],
        }));
        assert.equal(b.action, 'GUARDRAIL_INTERVENED');
        assert.equal(b.assessments[0].topicPolicy.topics[0].action, 'BLOCKED');
        const n = await sdk().send(new ApplyGuardrailCommand({
            guardrailIdentifier: 'gr1test', guardrailVersion: 'DRAFT', source: 'INPUT', content: [{ text: { text: 'fine' } }],
        }));
        assert.equal(n.action, 'NONE');
        const [rec] = await gmock.requests(`mail ${EMAIL}`);
        assert.equal(rec.guardrailIdentifier, ARN);
        assert.ok(rec.path.includes('arn%3Aaws%3Abedrock'), rec.path);
    });

    it('refuses a wrong secret with InvalidSignatureException, and a bad version with ValidationException', T, async () => {
        const cmd = () => new ApplyGuardrailCommand({
            guardrailIdentifier: 'gr1test', guardrailVersion: 'DRAFT', source: 'INPUT', content: [{ text: { text: 'x' } }],
        });
        await assert.rejects(sdk('wrong-secret').send(cmd()),
                             (e) => e.name === 'InvalidSignatureException' && e.$metadata.httpStatusCode === 403);
        await assert.rejects(sdk().send(new ApplyGuardrailCommand({
            guardrailIdentifier: 'gr1test', guardrailVersion: 'latest', source: 'INPUT', content: [{ text: { text: 'x' } }],
        })), (e) => e.name === 'ValidationException' && e.$metadata.httpStatusCode === 400);
        await assert.rejects(sdk().send(new ApplyGuardrailCommand({
            guardrailIdentifier: 'gr1test', guardrailVersion: 'DRAFT', source: 'INPUT', content: [{ text: { text: 'FAILGUARD' } }],
        })), (e) => e.name === 'InternalServerException' && e.$metadata.httpStatusCode === 500);
    });
});

describe('bedrock guardrail', () => {
    let mock;
    let gmock;
    let gw;
    const post = (body, opts) => chat(gw, { model: 'gpt-mock', ...body }, opts);
    /* The calls the guardrail mock got for one test's marker. */
    const calls = async (m) => (await gmock.requests(m)).filter((c) => c.texts !== undefined);
    /* Stream windows after the first do not hold the marker: the calls since t0 (the tests of
     * this file run one at a time). */
    const callsSince = async (t0) => (await gmock.requests('')).filter((c) => c.texts !== undefined && c.time >= t0);

    before(async () => {
        mock = await startMock();
        gmock = await startMockProcess(GUARD_MOCK, ['--port', '0'], { name: 'guardrail-mock' });
        gw = await startGateway({
            model_list: [mockDeployment(mock, { id: 'dep-guard' })],
            general_settings: { master_key: MASTER_KEY },
            guardrails: [
                guard('bg-pre', gmock, { mode: 'pre_call', mask_request_content: true }),
                guard('bg-pre-strict', gmock, { mode: 'pre_call' }),
                guard('bg-during', gmock, { mode: 'during_call', guardrailIdentifier: ARN, guardrailVersion: 3 }),
                guard('bg-post', gmock, { mode: 'post_call', mask_response_content: true, stream_window: 40 }),
                guard('bg-open', gmock, { mode: 'pre_call', fail_open: true }),
                guard('bg-timeout', gmock, { mode: 'pre_call', timeout: '300ms' }),
                guard('bg-wrong', gmock, { mode: 'pre_call', aws_secret_access_key: 'not-the-secret' }),
            ],
        });
    });
    after(async () => {
        await gw?.stop();
        await mock?.stop();
        await gmock?.stop();
    });

    it('pre_call: a block is a 400 naming the guardrail, and the model is never called', T, async () => {
        const m = marker('pre-block');
        const r = await post({ messages: user(`${m} please BLOCKME`), guardrails: ['bg-pre'] });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'guardrail_intervened' });
        assert.equal(e.type, 'guardrail_violation');
        assert.match(e.message, /^Request blocked by guardrail 'bg-pre': topic 'Forbidden', content filter MISCONDUCT/);
        assert.match(e.message, /Sorry, blocked\./, 'the guardrail\'s own message is passed on');
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /\bbg-pre\b/);
        assert.equal((await mock.requests({ contains: m })).length, 0, 'a blocked request never goes upstream');
        const [c] = await calls(m);
        assert.equal(c.source, 'INPUT');
        assert.equal(c.guardrailIdentifier, 'gr1test');
        assert.equal(c.guardrailVersion, 'DRAFT', 'the default version');
        assert.equal(c.accessKeyId, AKID, 'signed with the configured key');
    });

    it('pre_call: anonymized text replaces the prompt before the model sees it', T, async () => {
        const m = marker('pre-mask');
        const r = await post({
            messages: [{ role: 'system', content: 'You are terse.' },
                       { role: 'assistant', content: 'earlier answer' },
                       { role: 'user', content: [{ type: 'text', text: `${m} write to ${EMAIL}, SSN 123-45-6789` }] }],
            guardrails: ['bg-pre'],
        });
        assert.equal(r.status, 200, r.text);
        const [up] = await mock.requests({ contains: m });
        const sent = JSON.stringify(up.body);
        assert.ok(!sent.includes(EMAIL) && !sent.includes('123-45-6789'), `the upstream saw: ${sent}`);
        assert.equal(up.body.messages[2].content[0].text, `${m} write to {EMAIL}, SSN {US_SOCIAL_SECURITY_NUMBER}`);
        assert.equal(up.body.messages[0].content, 'You are terse.', 'untouched text stays');
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /\bbg-pre\b/);
        /* System and user text are checked, each as its own block; the assistant turn is not. */
        const [c] = await calls(m);
        assert.deepEqual(c.texts, ['You are terse.', `${m} write to ${EMAIL}, SSN 123-45-6789`]);
    });

    it('pre_call: embeddings inputs are checked and masked too', T, async () => {
        const m = marker('pre-embed');
        const r = await request(`${gw.url}/v1/embeddings`, {
            method: 'POST', headers: authHeaders(),
            body: { model: 'gpt-mock', input: [`${m} plain`, `${m} write ${EMAIL}`], guardrails: ['bg-pre'] },
        });
        assert.equal(r.status, 200, r.text);
        const [up] = await mock.requests({ contains: m });
        assert.deepEqual(up.body.input, [`${m} plain`, `${m} write {EMAIL}`]);
        const [c] = await calls(m);
        assert.deepEqual(c.texts, [`${m} plain`, `${m} write ${EMAIL}`]);
    });

    it('pre_call: without mask_request_content anonymization blocks', T, async () => {
        const m = marker('pre-strict');
        const r = await post({ messages: user(`${m} mail ${EMAIL}`), guardrails: ['bg-pre-strict'] });
        assert.equal(r.status, 400, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'guardrail_intervened' });
        assert.match(e.message, /guardrail 'bg-pre-strict': PII EMAIL \(anonymized\)/);
        assert.match(e.message, /mask_request_content/);
        assert.ok(!e.message.includes(EMAIL), 'the error never quotes the matched text');
        assert.equal((await mock.requests({ contains: m })).length, 0);
    });

    it('pre_call: a clean prompt goes through untouched and is not marked', T, async () => {
        const m = marker('pre-clean');
        const r = await post({ messages: user(`${m} hello there`), guardrails: ['bg-pre'] });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('x-gantry-applied-guardrails'), null);
        const [up] = await mock.requests({ contains: m });
        assert.equal(up.body.messages[0].content, `${m} hello there`);
        assert.equal((await calls(m)).length, 1);
    });

    it('during_call: a block cancels the upstream call already under way', T, async () => {
        const m = marker('during-block');
        const t0 = Date.now();
        /* The verdict takes 2 s (SLOWGUARD) and the model 8 s: the model is called meanwhile. */
        const r = await post({ messages: user(`${m} SLOWGUARD BLOCKME [[delay:8000]]`), guardrails: ['bg-during'] });
        const took = Date.now() - t0;
        assert.equal(r.status, 400, r.text);
        assertOpenAIError(assert, r.json, { code: 'guardrail_intervened', messageIncludes: "guardrail 'bg-during'" });
        assert.ok(took >= 1800 && took < 7000, `answered after ${took} ms: with the verdict, not the model`);
        const [up] = await mock.waitForRequest(m);
        assert.ok(up.receivedAt - t0 < 1800, 'the upstream call started before the verdict');
        const [closed] = await waitFor(async () => {
            const l = await mock.requests({ contains: m });
            return l[0]?.closedEarly ? l : null;
        }, { timeout: 5000, what: 'the upstream request closed early' });
        assert.ok(closed.closedAt - t0 < 7000, 'the gateway hung up on the model');
        /* The ARN travels encoded in the path and is decoded by the service; the version is 3. */
        const [c] = await calls(m);
        assert.equal(c.guardrailIdentifier, ARN);
        assert.equal(c.guardrailVersion, '3');
        assert.ok(c.path.startsWith('/guardrail/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aguardrail%2Fabc123def/'), c.path);
    });

    it('during_call: a verdict slower than the model holds the answer until it comes', T, async () => {
        const m = marker('during-slow');
        const t0 = Date.now();
        const r = await post({ messages: user(`${m} SLOWGUARD fine`), guardrails: ['bg-during'] });
        const took = Date.now() - t0;
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.choices[0].message.content, 'Hello from mock');
        assert.ok(took >= 1800, `answered after ${took} ms, before the verdict`);
        const [up] = await mock.requests({ contains: m });
        assert.ok(up.receivedAt - t0 < 1500, 'the model was called at once, not after the verdict');
        assert.ok(up.completed, 'the model finished long before the verdict');
    });

    it('during_call: a streamed answer sends nothing before the verdict', T, async () => {
        const m = marker('during-stream');
        const t0 = Date.now();
        const res = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: authHeaders(),
            body: JSON.stringify({ model: 'gpt-mock', stream: true, messages: user(`${m} SLOWGUARD ok`), guardrails: ['bg-during'] }),
            signal: AbortSignal.timeout(20_000),
        });
        const reader = res.body.getReader();
        const first = await reader.read();
        const firstAt = Date.now() - t0;
        let text = new TextDecoder().decode(first.value ?? new Uint8Array());
        for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            text += new TextDecoder().decode(value);
        }
        assert.equal(res.status, 200);
        assert.ok(firstAt >= 1800, `the first bytes came after ${firstAt} ms, before the verdict`);
        assert.equal(contentOf(text), 'Hello from mock');
        assert.match(text, /data: \[DONE\]/);
    });

    it('post_call: a blocked answer is a 400, the model having been called', T, async () => {
        const m = marker('post-block');
        /* [[echo]]: the answer is the request body, BLOCKME included. */
        const r = await post({ messages: user(`${m} BLOCKME [[echo]]`), guardrails: ['bg-post'] });
        assert.equal(r.status, 400, r.text);
        assertOpenAIError(assert, r.json, { code: 'guardrail_intervened', messageIncludes: "Response blocked by guardrail 'bg-post'" });
        assert.equal((await mock.requests({ contains: m })).length, 1, 'post_call does not look at the prompt');
        const c = await calls(m);
        assert.deepEqual(c.map((x) => x.source), ['OUTPUT']);
    });

    it('post_call: an anonymized answer reaches the client masked', T, async () => {
        const m = marker('post-mask');
        const r = await post({ messages: user(`${m} reach ${EMAIL} [[echo]]`), guardrails: ['bg-post'] });
        assert.equal(r.status, 200, r.text);
        const content = r.json.choices[0].message.content;
        assert.ok(content.includes('{EMAIL}') && !content.includes(EMAIL), content);
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /\bbg-post\b/);
        const [up] = await mock.requests({ contains: m });
        assert.ok(JSON.stringify(up.body).includes(EMAIL), 'the prompt itself was not masked');
    });

    it('post_call: a stream is cut with an error event after the window holding BLOCKME', T, async () => {
        const m = marker('post-stream-block');
        const t0 = Date.now();
        const r = await post({ stream: true, messages: user(`${m} [[echo]] [[chunks:12]] [[chunk_delay:40]] ... BLOCKME ...`),
                               guardrails: ['bg-post'] });
        assert.equal(r.status, 200, 'the stream had started');
        const events = parseSSE(r.text);
        const errors = events.filter((e) => e.data !== '[DONE]' && JSON.parse(e.data).error);
        assert.equal(errors.length, 1, r.text);
        const err = JSON.parse(errors[0].data).error;
        assert.equal(err.code, 'guardrail_intervened');
        assert.match(err.message, /Response blocked by guardrail 'bg-post'/);
        const firstError = events.indexOf(errors[0]);
        assert.ok(events.slice(0, firstError).some((e) => (JSON.parse(e.data).choices?.[0]?.delta?.content ?? '') !== ''),
                  'text flowed before the verdict');
        const windows = await callsSince(t0);
        assert.ok(windows.length >= 1 && windows.every((c) => c.source === 'OUTPUT'));
        assert.ok(windows.some((c) => c.texts[0].includes('BLOCKME')), 'a window held BLOCKME');
    });

    it('post_call: a clean stream passes window by window and ends normally', T, async () => {
        const m = marker('post-stream-ok');
        const t0 = Date.now();
        const r = await post({ stream: true, messages: user(`${m} [[echo]] [[chunks:10]] [[chunk_delay:20]] all fine here`),
                               guardrails: ['bg-post'] });
        assert.equal(r.status, 200);
        const events = parseSSE(r.text);
        assert.equal(events.at(-1).data, '[DONE]');
        assert.ok(!events.some((e) => e.data !== '[DONE]' && JSON.parse(e.data).error), r.text);
        const text = contentOf(r.text);
        assert.ok(text.includes(m), text);
        const windows = await callsSince(t0);
        assert.ok(windows.length >= 2, `the ${text.length} characters took ${windows.length} window(s) of 40`);
        /* Together the windows cover the whole answer. */
        const seen = windows.map((c) => c.texts[0]).join('');
        for (let i = 0; i + 30 <= text.length; i += 30) assert.ok(seen.includes(text.slice(i, i + 10)), `not checked: ${text.slice(i, i + 10)}`);
    });

    it('fails closed by default when the guardrail service fails', T, async () => {
        const m = marker('closed');
        const r = await post({ messages: user(`${m} FAILGUARD`), guardrails: ['bg-pre'] });
        assert.equal(r.status, 502, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'guardrail_error' });
        assert.match(e.message, /Guardrail 'bg-pre' could not check the request: Amazon Bedrock answered 500/);
        assert.equal((await mock.requests({ contains: m })).length, 0);
    });

    it('fail_open lets the request through when the service fails, and logs it', T, async () => {
        const m = marker('open');
        const r = await post({ messages: user(`${m} FAILGUARD`), guardrails: ['bg-open'] });
        assert.equal(r.status, 200, r.text);
        assert.equal((await mock.requests({ contains: m })).length, 1, 'the model answered');
        await waitFor(() => /guardrail bg-open failed .*failing open/.test(gw.stderr()),
                      { timeout: 3000, what: 'the fail-open log line' });
    });

    it('a guardrail slower than its timeout is a 504, without waiting for it', T, async () => {
        const m = marker('timeout');
        const t0 = Date.now();
        const r = await post({ messages: user(`${m} SLOWGUARD`), guardrails: ['bg-timeout'] });
        const took = Date.now() - t0;
        assert.equal(r.status, 504, r.text);
        assertOpenAIError(assert, r.json, { messageIncludes: 'did not answer within 300 ms' });
        assert.ok(took < 1800, `took ${took} ms`);
        assert.equal((await mock.requests({ contains: m })).length, 0);
    });

    it('a wrong secret is a service error (the signature is refused), not a verdict', T, async () => {
        const m = marker('wrong');
        const r = await post({ messages: user(`${m} hello`), guardrails: ['bg-wrong'] });
        assert.equal(r.status, 502, r.text);
        const e = assertOpenAIError(assert, r.json, { code: 'guardrail_error' });
        assert.match(e.message, /answered 403: The request signature we calculated does not match/);
        assert.ok(!e.message.includes('not-the-secret'));
        assert.equal((await mock.requests({ contains: m })).length, 0);
    });

    it('an answer that is not JSON is a service error', T, async () => {
        const m = marker('badjson');
        const r = await post({ messages: user(`${m} BADJSONGUARD`), guardrails: ['bg-pre'] });
        assert.equal(r.status, 502, r.text);
        assertOpenAIError(assert, r.json, { code: 'guardrail_error', messageIncludes: 'malformed ApplyGuardrail answer' });
    });

    it('a guardrail that is not selected does not call Bedrock', T, async () => {
        const m = marker('unselected');
        const r = await post({ messages: user(`${m} BLOCKME`) });
        assert.equal(r.status, 200, r.text);
        assert.equal((await calls(m)).length, 0);
    });
});

describe('bedrock guardrail: Anthropic client API', () => {
    let mock;
    let gmock;
    let gw;
    before(async () => {
        mock = await startMock();
        gmock = await startMockProcess(GUARD_MOCK, ['--port', '0'], { name: 'guardrail-mock' });
        gw = await startGateway({
            model_list: [mockDeployment(mock, { id: 'dep-guard-anth' })],
            general_settings: { master_key: MASTER_KEY },
            guardrails: [guard('bg-always', gmock, { mode: 'pre_call', default_on: true })],
        });
    });
    after(async () => {
        await gw?.stop();
        await mock?.stop();
        await gmock?.stop();
    });

    it('a block reaches /v1/messages in Anthropic\'s error shape', T, async () => {
        const m = marker('anth');
        const r = await request(`${gw.url}/v1/messages`, {
            method: 'POST',
            headers: { 'x-api-key': MASTER_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
            body: { model: 'gpt-mock', max_tokens: 50, system: 'Be brief.', messages: user(`${m} BLOCKME`) },
        });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.json.type, 'error');
        assert.equal(r.json.error.type, 'invalid_request_error');
        assert.match(r.json.error.message, /Request blocked by guardrail 'bg-always'/);
        assert.equal((await mock.requests({ contains: m })).length, 0);
        const [c] = (await gmock.requests(m)).filter((x) => x.texts);
        assert.deepEqual(c.texts, ['Be brief.', `${m} BLOCKME`], 'the system prompt is checked too');
    });

    it('a clean /v1/messages request is answered', T, async () => {
        const m = marker('anth-ok');
        const r = await request(`${gw.url}/v1/messages`, {
            method: 'POST',
            headers: { 'x-api-key': MASTER_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
            body: { model: 'gpt-mock', max_tokens: 50, messages: user(`${m} hi`) },
        });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.type, 'message');
    });
});

describe('bedrock guardrail: configuration', () => {
    const check = (name, params) => {
        const dir = tempDir();
        const file = path.join(dir, name);
        const lp = {
            guardrail: 'bedrock', guardrailIdentifier: 'gr1', aws_access_key_id: AKID,
            aws_secret_access_key: SECRET, aws_region_name: 'us-east-1', ...params,
        };
        for (const [k, v] of Object.entries(lp)) if (v === undefined) delete lp[k];
        writeFileSync(file, toYaml({
            model_list: [{ model_name: 'm', litellm_params: { model: 'fake/x' } }],
            guardrails: [{ guardrail_name: 'g', litellm_params: lp }],
        }));
        return spawnSync(GANTRY_BIN, ['--check', '--config', file], { encoding: 'utf8', timeout: 20_000 });
    };

    it('accepts a complete guardrail', T, () => {
        const r = check('ok.yaml', { mode: ['pre_call', 'post_call'], guardrailVersion: '2', timeout: 2500, stream_window: 500 });
        assert.equal(r.status, 0, r.stderr);
    });

    it('config/guardrails.yaml, the documented example of every guardrail, loads', T, () => {
        const r = spawnSync(GANTRY_BIN, ['--check', '--config', path.join(REPO_ROOT, 'config', 'guardrails.yaml')],
                            { encoding: 'utf8', timeout: 20_000 });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout + r.stderr, /is valid/);
    });

    it('refuses logging_only, saying why', T, () => {
        const r = check('logging.yaml', { mode: 'logging_only' });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /logging\.yaml:\d+:\d+: .*logging_only is not supported/);
    });

    it('refuses a bad version, identifier, timeout or window at their place', T, () => {
        const v = check('version.yaml', { guardrailVersion: 'latest' });
        assert.equal(v.status, 1);
        assert.match(v.stderr, /version\.yaml:\d+:\d+: .*guardrailVersion must be DRAFT or a version number/);
        const id = check('id.yaml', { guardrailIdentifier: 'Not An Id' });
        assert.equal(id.status, 1);
        assert.match(id.stderr, /guardrailIdentifier must be a guardrail id/);
        const t = check('timeout.yaml', { timeout: 5 });
        assert.equal(t.status, 1);
        assert.match(t.stderr, /timeout\.yaml:\d+:\d+: .*timeout must be from 50 ms.*"5s" for seconds/);
        const w = check('window.yaml', { stream_window: 5 });
        assert.equal(w.status, 1);
        assert.match(w.stderr, /stream_window must be an integer from 20/);
        const missing = check('missing.yaml', { guardrailIdentifier: undefined });
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /guardrailIdentifier/);
    });
});
