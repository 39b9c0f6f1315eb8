// Custom routing rules: the four example policy files in policies/ do what they say, against the real
// gateway, with the clock pinned by GANTRY_CLOCK so time-of-day rules are deterministic.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

import { GANTRY_BIN, MASTER_KEY, REPO_ROOT, chat, startGateway, tempDir, toYaml } from './harness.mjs';

const fake = (name, id, extra = {}) => ({
    model_name: name,
    litellm_params: { model: `fake/${id}`, response: `answer from ${id}` },
    model_info: { id, ...extra },
});

const policyFiles = ['eu-residency', 'short-prompts-cheap', 'images-to-vision', 'business-hours']
    .map((p) => path.join(REPO_ROOT, 'policies', `${p}.yaml`));

function config() {
    return {
        model_list: [
            fake('gpt-4o', 'gpt4o-us', { region: 'us' }),
            fake('gpt-4o', 'gpt4o-eu', { region: 'eu' }),
            fake('gpt-4o-mini', 'mini-1'),
            fake('gpt-3.5-turbo', 'turbo-1'),
            fake('vision-model', 'vision-1'),
        ],
        general_settings: { master_key: MASTER_KEY },
        policies: policyFiles,
    };
}

const longText = 'word '.repeat(400); // about 500 estimated tokens: not "short"
const WEDNESDAY_NOON_BERLIN = Date.UTC(2026, 10, 18, 11, 0); // 12:00 CET, a Wednesday
const SUNDAY_BERLIN = Date.UTC(2026, 10, 22, 11, 0);

async function ask(gw, body, headers = {}) {
    const r = await chat(gw, body, { headers });
    return { status: r.status, body: r.text, model: r.headers.get('x-gantry-model-id'), rule: r.headers.get('x-gantry-policy') };
}

describe('routing policies (business hours)', () => {
    let gw;
    before(async () => { gw = await startGateway(config(), { env: { GANTRY_CLOCK: String(WEDNESDAY_NOON_BERLIN) } }); });
    after(async () => { await gw?.stop(); });

    it('sends short prompts for gpt-4o to gpt-4o-mini', async () => {
        const r = await ask(gw, { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
        assert.equal(r.status, 200, r.body);
        assert.equal(r.model, 'mini-1');
        assert.equal(r.rule, 'short-prompts-to-mini');
    });

    it('keeps long prompts on gpt-4o', async () => {
        const r = await ask(gw, { model: 'gpt-4o', messages: [{ role: 'user', content: longText }] });
        assert.equal(r.status, 200, r.body);
        assert.ok(['gpt4o-us', 'gpt4o-eu'].includes(r.model), r.model);
    });

    it('keeps EU traffic on EU deployments', async () => {
        for (let i = 0; i < 20; i++) {
            const r = await ask(gw, { model: 'gpt-4o', messages: [{ role: 'user', content: longText }] },
                { 'x-region': 'eu-west-1' });
            assert.equal(r.status, 200, r.body);
            assert.equal(r.model, 'gpt4o-eu');
            assert.equal(r.rule, 'eu-traffic-stays-in-eu');
        }
    });

    it('sends requests with images to the vision model', async () => {
        const r = await ask(gw, {
            model: 'gpt-3.5-turbo',
            messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' },
                { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }],
        });
        assert.equal(r.status, 200, r.body);
        assert.equal(r.model, 'vision-1');
        const plain = await ask(gw, { model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'text only' }] });
        assert.equal(plain.model, 'turbo-1');
    });
});

describe('routing policies (outside business hours)', () => {
    let gw;
    before(async () => { gw = await startGateway(config(), { env: { GANTRY_CLOCK: String(SUNDAY_BERLIN) } }); });
    after(async () => { await gw?.stop(); });

    it('rejects gpt-4o on a Sunday with the rule\'s message', async () => {
        const r = await ask(gw, { model: 'gpt-4o', messages: [{ role: 'user', content: longText }] });
        assert.equal(r.status, 403, r.body);
        const e = JSON.parse(r.body).error;
        assert.equal(e.code, 'policy_violation');
        assert.match(e.message, /weekdays 09:00-18:00 Berlin/);
    });

    it('still serves other models', async () => {
        const r = await ask(gw, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
        assert.equal(r.status, 200, r.body);
    });
});

describe('policy validation', () => {
    it('refuses a rule routing to a model group that does not exist, with file:line', () => {
        const dir = tempDir('gantry-pol-');
        const pol = path.join(dir, 'bad.yaml');
        writeFileSync(pol, 'rules:\n  - name: r1\n    match: {model: a}\n    action: {route: no-such-group}\n');
        const cfgPath = path.join(dir, 'gantry.yaml');
        writeFileSync(cfgPath, toYaml({ model_list: [fake('a', 'a1')], policies: pol }));
        const r = spawnSync(GANTRY_BIN, ['--check', '--config', cfgPath], { encoding: 'utf8' });
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`${pol.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: .*no-such-group`));
    });

    it('refuses an unknown match attribute', () => {
        const dir = tempDir('gantry-pol-');
        const pol = path.join(dir, 'bad.yaml');
        writeFileSync(pol, 'rules:\n  - name: r1\n    match: {modle: a}\n    action: {route: a}\n');
        const cfgPath = path.join(dir, 'gantry.yaml');
        writeFileSync(cfgPath, toYaml({ model_list: [fake('a', 'a1')], policies: pol }));
        const r = spawnSync(GANTRY_BIN, ['--check', '--config', cfgPath], { encoding: 'utf8' });
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /bad\.yaml:3:\d+: .*modle/);
    });
});
