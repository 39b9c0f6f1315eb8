/*
 * The core's handling of LiteLLM's guardrails: section, with the regex guardrail: modes
 * (pre_call checks only the request, post_call only the answer, streamed too), default_on and the
 * per-request selection ("guardrails": [...] or {"name": false}, also inside metadata), guardrails
 * that may not be switched off, and the selection never reaching the upstream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
    MASTER_KEY, authHeaders, marker, mockDeployment, parseSSE, request, startGateway, startMock,
} from './harness.mjs';

const T = { timeout: 30_000 };
const SSN = '123-45-6789';

function regex(name, { mode, default_on = false, allow_disable, action = 'mask', pattern = '[0-9]{3}-[0-9]{2}-[0-9]{4}' } = {}) {
    const lp = { guardrail: 'regex', mode, default_on, patterns: [{ name: 'ssn', pattern, action }] };
    if (allow_disable !== undefined) lp.allow_disable = allow_disable;
    return { guardrail_name: name, litellm_params: lp };
}

describe('guardrails section', () => {
    let mock;
    let gw;
    const post = (body) => request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(), body });

    before(async () => {
        mock = await startMock();
        gw = await startGateway({
            model_list: [mockDeployment(mock, { id: 'dep-guard' })],
            general_settings: { master_key: MASTER_KEY },
            guardrails: [
                regex('in-only', { mode: 'pre_call' }),
                regex('out-only', { mode: 'post_call' }),
                regex('always', { mode: ['pre_call', 'post_call'], default_on: true, allow_disable: true,
                                  pattern: 'SECRET-[A-Z]+' }),
                regex('required', { mode: 'pre_call', default_on: true, pattern: 'forbidden-word', action: 'block' }),
            ],
        });
    });
    after(async () => {
        await gw?.stop();
        await mock?.stop();
    });

    it('pre_call masks what goes upstream, not the answer', T, async () => {
        const m = marker('pre');
        /* [[echo]]: the mock answers with the request body it received. */
        const r = await post({ model: 'gpt-mock', messages: [{ role: 'user', content: `${m} ${SSN} [[echo]]` }], guardrails: ['in-only'] });
        assert.equal(r.status, 200);
        const [up] = await mock.requests({ contains: m });
        assert.ok(!JSON.stringify(up.body).includes(SSN), 'the upstream must not see the number');
        assert.equal(up.body.guardrails, undefined, 'the selection never goes upstream');
        assert.match(r.headers.get('x-gantry-applied-guardrails') ?? '', /in-only/);
    });

    it('post_call masks the answer, not what goes upstream', T, async () => {
        const m = marker('post');
        const r = await post({ model: 'gpt-mock', messages: [{ role: 'user', content: `${m} ${SSN} [[echo]]` }], guardrails: ['out-only'] });
        assert.equal(r.status, 200);
        const [up] = await mock.requests({ contains: m });
        assert.ok(JSON.stringify(up.body).includes(SSN), 'pre_call is not this guardrail\'s mode');
        assert.ok(!r.json.choices[0].message.content.includes(SSN), 'the answer is masked');
    });

    it('post_call masks a streamed answer', T, async () => {
        const m = marker('poststream');
        const r = await post({ model: 'gpt-mock', stream: true, messages: [{ role: 'user', content: `${m} ${SSN} [[echo]]` }], metadata: { guardrails: ['out-only'] } });
        assert.equal(r.status, 200);
        const text = parseSSE(r.text).filter((e) => e.data !== '[DONE]')
            .map((e) => JSON.parse(e.data).choices?.[0]?.delta?.content ?? '').join('');
        assert.ok(text.length > 0 && !text.includes(SSN), 'no chunk carries the number');
    });

    it('a guardrail that is not selected does not run', T, async () => {
        const m = marker('none');
        await post({ model: 'gpt-mock', messages: [{ role: 'user', content: `${m} ${SSN}` }] });
        const [up] = await mock.requests({ contains: m });
        assert.ok(JSON.stringify(up.body).includes(SSN));
    });

    it('default_on runs unless switched off, where allowed', T, async () => {
        const m1 = marker('on');
        await post({ model: 'gpt-mock', messages: [{ role: 'user', content: `${m1} SECRET-ABC` }] });
        const [up1] = await mock.requests({ contains: m1 });
        assert.ok(!JSON.stringify(up1.body).includes('SECRET-ABC'));
        const m2 = marker('off');
        const r = await post({ model: 'gpt-mock', messages: [{ role: 'user', content: `${m2} SECRET-ABC` }], guardrails: { always: false } });
        assert.equal(r.status, 200);
        const [up2] = await mock.requests({ contains: m2 });
        assert.ok(JSON.stringify(up2.body).includes('SECRET-ABC'));
    });

    it('refuses to switch off a required guardrail, and unknown names', T, async () => {
        const r1 = await post({ model: 'gpt-mock', messages: [{ role: 'user', content: 'hi' }], guardrails: { required: false } });
        assert.equal(r1.status, 400);
        assert.equal(r1.json.error.code, 'guardrail_required');
        const r2 = await post({ model: 'gpt-mock', messages: [{ role: 'user', content: 'hi' }], guardrails: ['nope'] });
        assert.equal(r2.status, 400);
        assert.equal(r2.json.error.param, 'guardrails');
        const r3 = await post({ model: 'gpt-mock', messages: [{ role: 'user', content: 'hi' }], guardrails: 'in-only' });
        assert.equal(r3.status, 400);
        const m = marker('blocked');
        const r4 = await post({ model: 'gpt-mock', messages: [{ role: 'user', content: `${m} forbidden-word` }] });
        assert.equal(r4.status, 400);
        assert.equal((await mock.requests({ contains: m })).length, 0, 'a blocked request never goes upstream');
    });
});

describe('guardrails section errors', () => {
    it('names unknown modes and non-guardrail plugins at file:line:col', T, async () => {
        const { spawnSync } = await import('node:child_process');
        const { writeFileSync } = await import('node:fs');
        const { GANTRY_BIN, tempDir } = await import('./harness.mjs');
        const dir = tempDir();
        const check = (name, lines) => {
            writeFileSync(`${dir}/${name}`, ['model_list:', '  - {model_name: m, litellm_params: {model: fake/x}}',
                                              'guardrails:', ...lines].join('\n'));
            return spawnSync(GANTRY_BIN, ['--check', '--config', `${dir}/${name}`], { encoding: 'utf8' });
        };
        const r1 = check('mode.yaml', ['  - guardrail_name: a',
            '    litellm_params: {guardrail: regex, mode: sometimes, patterns: [{name: x, pattern: x}]}']);
        assert.equal(r1.status, 1);
        assert.match(r1.stderr, /mode\.yaml:5:\d+: mode must be pre_call, during_call, post_call or logging_only/);
        const r2 = check('kind.yaml', ['  - guardrail_name: b', '    litellm_params: {guardrail: fake}']);
        assert.equal(r2.status, 1);
        assert.match(r2.stderr, /kind\.yaml:4:\d+: 'fake' is not a guardrail plugin/);
        const r3 = check('dup.yaml', ['  - guardrail_name: c', '    litellm_params: {guardrail: regex, patterns: [{name: x, pattern: x}]}',
                                      '  - guardrail_name: c', '    litellm_params: {guardrail: regex, patterns: [{name: x, pattern: x}]}']);
        assert.equal(r3.status, 1);
        assert.match(r3.stderr, /already exists/);
    });
});
