/*
 * Governance: virtual keys, users, teams, organizations, customers and budgets through LiteLLM's
 * management API; key auth, model access, budgets, rate limits, spend, the role rules and the
 * privilege escalations LiteLLM had, the audit log, and durability across SIGKILL.
 *
 * The fake provider answers with a fixed text, so every request's tokens - and with the prices the
 * deployments set, its cost - are the same; spend assertions compare sums of per-request costs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync } from 'node:fs';
import {
    MASTER_KEY, chat, fakeDeployment, pool, request, sleep, startGateway, tempDir, userMessage,
} from './harness.mjs';

const T = { timeout: 60_000 };

function config(extra = {}) {
    return {
        model_list: [
            fakeDeployment({ name: 'fake-model', id: 'dep-a', params: { input_cost_per_token: 0.001, output_cost_per_token: 0.002 } }),
            fakeDeployment({ name: 'other-model', id: 'dep-b' }),
            { ...fakeDeployment({ name: 'grouped-model', id: 'dep-c' }), model_info: { id: 'dep-c', access_groups: ['beta'] } },
            fakeDeployment({ name: 'slow-model', id: 'dep-d', params: { latency: '300ms' } }),
        ],
        general_settings: { master_key: MASTER_KEY, ...extra },
    };
}

async function api(gw, method, p, body, key = MASTER_KEY) {
    const r = await request(`${gw.url}${p}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    return r;
}
const post = (gw, p, body, key) => api(gw, 'POST', p, body, key);
const get = (gw, p, key) => api(gw, 'GET', p, undefined, key);

async function newKey(gw, body = {}, key = MASTER_KEY) {
    const r = await post(gw, '/key/generate', body, key);
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.key, /^sk-[A-Za-z0-9_-]{40,}$/);
    return r.json;
}

const ask = (gw, key, model = 'fake-model', extra = {}) =>
    chat(gw, { model, messages: userMessage('hello there'), ...extra }, { key });

describe('governance', () => {
    let gw;
    before(async () => {
        gw = await startGateway(config());
    });
    after(async () => {
        await gw?.stop();
    });

    describe('keys', () => {
        it('generate -> the key calls models; shown once, stored as its SHA-256', T, async () => {
            const k = await newKey(gw, { key_alias: 'first' });
            assert.equal(k.token.length, 64);
            assert.equal(k.key_alias, 'first');
            const r = await ask(gw, k.key);
            assert.equal(r.status, 200, r.text);
            const info = await get(gw, `/key/info?key=${k.key}`);
            assert.equal(info.status, 200, info.text);
            assert.equal(info.json.key, k.token);
            assert.equal(info.json.info.key_alias, 'first');
            assert.equal(info.json.info.key, undefined, 'the secret is never shown again');
        });

        it('an unknown key is 401; the master key still works', T, async () => {
            const r = await ask(gw, 'sk-not-a-real-key-000000000000');
            assert.equal(r.status, 401, r.text);
            assert.equal(r.json.error.code, 'invalid_api_key');
            assert.equal((await ask(gw, MASTER_KEY)).status, 200);
        });

        it('duration: the key expires', T, async () => {
            const k = await newKey(gw, { duration: '1s' });
            assert.equal((await ask(gw, k.key)).status, 200);
            await sleep(1300);
            const r = await ask(gw, k.key);
            assert.equal(r.status, 401, r.text);
            assert.equal(r.json.error.code, 'expired_key');
        });

        it('block / unblock', T, async () => {
            const k = await newKey(gw);
            assert.equal((await post(gw, '/key/block', { key: k.key })).status, 200);
            const r = await ask(gw, k.key);
            assert.equal(r.status, 401);
            assert.equal(r.json.error.code, 'key_blocked');
            assert.equal((await post(gw, '/key/unblock', { key: k.key })).status, 200);
            assert.equal((await ask(gw, k.key)).status, 200);
        });

        it('update, regenerate (the old key stops working), delete', T, async () => {
            const k = await newKey(gw, { key_alias: 'rot' });
            const u = await post(gw, '/key/update', { key: k.key, key_alias: 'rotated', models: ['other-model'] });
            assert.equal(u.status, 200, u.text);
            assert.equal(u.json.key_alias, 'rotated');
            assert.equal((await ask(gw, k.key, 'fake-model')).status, 401, 'models changed');
            const g = await post(gw, '/key/regenerate', { key: k.key });
            assert.equal(g.status, 200, g.text);
            assert.notEqual(g.json.key, k.key);
            assert.equal((await ask(gw, k.key, 'other-model')).status, 401, 'the old key is gone');
            assert.equal((await ask(gw, g.json.key, 'other-model')).status, 200, 'the new one works, same settings');
            const d = await post(gw, '/key/delete', { keys: [g.json.key] });
            assert.equal(d.status, 200, d.text);
            assert.deepEqual(d.json.deleted_keys, [g.json.token]);
            assert.equal((await ask(gw, g.json.key, 'other-model')).status, 401);
            assert.equal((await post(gw, '/key/delete', { keys: [g.json.key] })).status, 404);
        });

        it('key/list pages through the keys; allowed_routes limits what a key calls', T, async () => {
            const k = await newKey(gw, { key_alias: 'only-llm', allowed_routes: ['llm_api_routes'] });
            assert.equal((await ask(gw, k.key)).status, 200);
            const r = await get(gw, '/key/info', k.key);
            assert.equal(r.status, 401, r.text);
            assert.equal(r.json.error.code, 'route_not_allowed');
            const l = await get(gw, '/key/list?key_alias=only-llm&return_full_object=true');
            assert.equal(l.status, 200, l.text);
            assert.equal(l.json.total_count, 1);
            assert.equal(l.json.keys[0].token, k.token);
        });
    });

    describe('bad input', () => {
        it('unknown field, wrong type, negative budget, unknown ids, missing entity', T, async () => {
            let r = await post(gw, '/key/generate', { key_alias: 'x', max_budgett: 3 });
            assert.equal(r.status, 400);
            assert.equal(r.json.error.param, 'max_budgett');
            assert.match(r.json.error.message, /max_budgett/);
            r = await post(gw, '/key/generate', { rpm_limit: 'ten' });
            assert.equal(r.status, 400);
            assert.equal(r.json.error.param, 'rpm_limit');
            r = await post(gw, '/key/generate', { max_budget: -1 });
            assert.equal(r.status, 400);
            assert.equal(r.json.error.param, 'max_budget');
            r = await post(gw, '/key/generate', { team_id: 'no-such-team' });
            assert.equal(r.status, 400);
            assert.match(r.json.error.message, /no-such-team/);
            r = await post(gw, '/key/generate', { duration: 'soon' });
            assert.equal(r.status, 400);
            r = await get(gw, '/team/info?team_id=nope');
            assert.equal(r.status, 404);
            r = await post(gw, '/team/update', { team_id: 'nope', team_alias: 'x' });
            assert.equal(r.status, 404);
            r = await post(gw, '/user/new', { user_id: 'dup-user', auto_create_key: false });
            assert.equal(r.status, 200, r.text);
            r = await post(gw, '/user/new', { user_id: 'dup-user', auto_create_key: false });
            assert.equal(r.status, 400, 'a duplicate id');
            r = await request(`${gw.url}/key/generate`, { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}` }, body: '{not json' });
            assert.equal(r.status, 400);
            assert.ok(r.json.error.message);
        });

        it('a failed delete in a batch deletes nothing', T, async () => {
            const a = await newKey(gw);
            const r = await post(gw, '/key/delete', { keys: [a.key, 'sk-missing-0000000000'] });
            assert.equal(r.status, 404);
            assert.equal((await ask(gw, a.key)).status, 200, 'the first key is still there');
        });
    });

    describe('model access', () => {
        it('key, team and user lists intersect; a model outside is 401 naming it; /v1/models is filtered', T, async () => {
            const team = (await post(gw, '/team/new', { team_alias: 'ma', models: ['fake-model', 'other-model'] })).json;
            const k = await newKey(gw, { team_id: team.team_id, models: ['fake-model', 'slow-model'] });
            assert.equal((await ask(gw, k.key, 'fake-model')).status, 200);
            const r = await ask(gw, k.key, 'slow-model');
            assert.equal(r.status, 401, 'the team does not allow it');
            assert.match(r.json.error.message, /slow-model/);
            assert.equal((await ask(gw, k.key, 'other-model')).status, 401, 'the key does not allow it');
            const m = await get(gw, '/v1/models', k.key);
            assert.deepEqual(m.json.data.map((x) => x.id), ['fake-model']);
            const mi = await get(gw, '/model/info', k.key);
            assert.equal(mi.status, 200, mi.text);
            assert.deepEqual(mi.json.data.map((x) => x.model_name), ['fake-model']);
            assert.equal(mi.json.data[0].model_info.id, 'dep-a');
            assert.equal(mi.json.data[0].litellm_params.input_cost_per_token, 0.001);
            const all = await get(gw, '/model/info');
            assert.equal(all.json.data.length, 4, 'the master key sees every deployment');
            assert.ok(!JSON.stringify(all.json).includes('api_key'), 'never a credential');
        });

        it('access groups and wildcards', T, async () => {
            const g = await newKey(gw, { models: ['beta'] });
            assert.equal((await ask(gw, g.key, 'grouped-model')).status, 200);
            assert.equal((await ask(gw, g.key, 'fake-model')).status, 401);
            const w = await newKey(gw, { models: ['fake/*'] });
            assert.equal((await ask(gw, w.key, 'other-model')).status, 200, 'fake/* matches the deployments');
            const p = await newKey(gw, { models: ['slow-*'] });
            assert.equal((await ask(gw, p.key, 'slow-model')).status, 200);
            assert.equal((await ask(gw, p.key, 'fake-model')).status, 401);
        });

        it('team model_aliases', T, async () => {
            const team = (await post(gw, '/team/new', { model_aliases: { 'my-gpt': 'other-model' } })).json;
            const k = await newKey(gw, { team_id: team.team_id });
            const r = await ask(gw, k.key, 'my-gpt');
            assert.equal(r.status, 200, r.text);
        });
    });

    describe('budgets and spend', () => {
        it('a key budget stops the key, streamed or not, with a message naming the level', T, async () => {
            const one = await ask(gw, MASTER_KEY);
            const cost = Number(one.json.usage.prompt_tokens) * 0.001 + Number(one.json.usage.completion_tokens) * 0.002;
            const k = await newKey(gw, { max_budget: cost * 2.5 });
            assert.equal((await ask(gw, k.key)).status, 200);
            const s = await ask(gw, k.key, 'fake-model', { stream: true });
            assert.equal(s.status, 200);
            assert.equal((await ask(gw, k.key)).status, 200);
            const r = await ask(gw, k.key);
            assert.equal(r.status, 400, r.text);
            assert.equal(r.json.error.type, 'budget_exceeded');
            assert.match(r.json.error.message, /key budget/);
            const rs = await ask(gw, k.key, 'fake-model', { stream: true });
            assert.equal(rs.status, 400, 'a streamed request is refused too');
        });

        it('model_max_budget: a key\'s budget for one model stops that model only', T, async () => {
            const one = await ask(gw, MASTER_KEY);
            const cost = one.json.usage.prompt_tokens * 0.001 + one.json.usage.completion_tokens * 0.002;
            const k = await newKey(gw, { model_max_budget: { 'fake-model': cost * 1.5 } });
            assert.equal((await ask(gw, k.key)).status, 200);
            assert.equal((await ask(gw, k.key)).status, 200);
            const r = await ask(gw, k.key);
            assert.equal(r.status, 400, r.text);
            assert.match(r.json.error.message, /fake-model/);
            assert.equal((await ask(gw, k.key, 'other-model')).status, 200);
        });

        it('team, user and customer budgets each stop their requests', T, async () => {
            const team = (await post(gw, '/team/new', { max_budget: 0.000001 })).json;
            const tk = await newKey(gw, { team_id: team.team_id });
            assert.equal((await ask(gw, tk.key)).status, 200);
            const tr = await ask(gw, tk.key);
            assert.equal(tr.status, 400);
            assert.match(tr.json.error.message, /team budget/);

            const user = (await post(gw, '/user/new', { max_budget: 0.000001, auto_create_key: false })).json;
            const uk = await newKey(gw, { user_id: user.user_id });
            assert.equal((await ask(gw, uk.key)).status, 200);
            const ur = await ask(gw, uk.key);
            assert.equal(ur.status, 400);
            assert.match(ur.json.error.message, /user budget/);

            const c = await post(gw, '/customer/new', { user_id: 'end-user-7', max_budget: 0.000001 });
            assert.equal(c.status, 200, c.text);
            const ck = await newKey(gw);
            assert.equal((await ask(gw, ck.key, 'fake-model', { user: 'end-user-7' })).status, 200);
            const cr = await ask(gw, ck.key, 'fake-model', { user: 'end-user-7' });
            assert.equal(cr.status, 400);
            assert.match(cr.json.error.message, /end user/);
            assert.equal((await ask(gw, ck.key, 'fake-model', { user: 'someone-else' })).status, 200);
        });

        it('1,000 concurrent requests on one key: the spend is exactly the sum of the logged costs', T, async () => {
            const k = await newKey(gw, { key_alias: 'exact' });
            const results = await pool(1000, 64, () => ask(gw, k.key));
            assert.ok(results.every((r) => r.status === 200), 'every request succeeded');
            const info = await get(gw, `/key/info?key=${k.key}`);
            let logged = 0;
            let rows = 0;
            for (let i = 0; i < 50 && rows < 1000; i++) {
                await sleep(100);
                const l = await get(gw, `/spend/logs?api_key=${k.token}&limit=999`);
                rows = l.json.length;
                logged = l.json.reduce((a, x) => a + x.spend, 0);
            }
            const one = results[0].json.usage;
            const per = one.prompt_tokens * 0.001 + one.completion_tokens * 0.002;
            assert.ok(Math.abs(info.json.info.spend - per * 1000) < 1e-6, `spend ${info.json.info.spend} vs ${per * 1000}`);
            assert.ok(rows >= 999);
            assert.ok(Math.abs(logged - per * rows) < 1e-6);
        });

        it('spend routes: global, per key, per model, daily activity', T, async () => {
            const user = (await post(gw, '/user/new', { user_id: 'spender', auto_create_key: false })).json;
            const k = await newKey(gw, { user_id: user.user_id });
            await ask(gw, k.key);
            await ask(gw, k.key);
            await sleep(300);
            const g = await get(gw, '/global/spend');
            assert.ok(g.json.spend > 0);
            const keys = await get(gw, '/global/spend/keys?limit=1000');
            assert.ok(keys.json.some((x) => x.api_key === k.token && x.total_spend > 0));
            const models = await get(gw, '/global/spend/models');
            assert.ok(models.json.some((x) => x.model === 'fake-model' && x.total_requests >= 2));
            const deps = await get(gw, '/global/spend/deployments');
            assert.ok(deps.json.some((x) => x.model_id === 'dep-a' && x.model_group === 'fake-model' && x.total_spend > 0));
            const d = await get(gw, '/user/daily/activity?user_id=spender');
            assert.equal(d.status, 200, d.text);
            assert.equal(d.json.results.length, 1);
            assert.equal(d.json.metadata.total_api_requests, 2);
            assert.ok(d.json.results[0].breakdown.models['fake-model']);
        });
    });

    describe('rate limits', () => {
        it('rpm: the fourth request in a minute is 429 with Retry-After; headers on every response', T, async () => {
            const k = await newKey(gw, { rpm_limit: 3, tpm_limit: 100000 });
            for (let i = 0; i < 3; i++) {
                const r = await ask(gw, k.key);
                assert.equal(r.status, 200);
                assert.equal(r.headers.get('x-ratelimit-limit-requests'), '3');
                assert.equal(r.headers.get('x-ratelimit-remaining-requests'), String(2 - i));
                assert.equal(r.headers.get('x-ratelimit-limit-tokens'), '100000');
            }
            const r = await ask(gw, k.key);
            assert.equal(r.status, 429, r.text);
            assert.equal(r.json.error.code, 'rate_limit_exceeded');
            assert.ok(Number(r.headers.get('retry-after')) >= 1);
            assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
        });

        it('under concurrent load exactly rpm requests are admitted', T, async () => {
            const k = await newKey(gw, { rpm_limit: 10 });
            const results = await pool(40, 40, () => ask(gw, k.key));
            assert.equal(results.filter((r) => r.status === 200).length, 10);
            assert.equal(results.filter((r) => r.status === 429).length, 30);
        });

        it('max_parallel_requests and model_rpm_limit', T, async () => {
            const k = await newKey(gw, { max_parallel_requests: 2, model_rpm_limit: { 'other-model': 1 } });
            const results = await Promise.all([0, 1, 2, 3].map(() => ask(gw, k.key, 'slow-model')));
            assert.equal(results.filter((r) => r.status === 200).length, 2);
            assert.equal(results.filter((r) => r.status === 429).length, 2);
            assert.equal((await ask(gw, k.key, 'other-model')).status, 200);
            assert.equal((await ask(gw, k.key, 'other-model')).status, 429, 'model_rpm_limit for other-model');
            assert.equal((await ask(gw, k.key, 'fake-model')).status, 200, 'other models are not limited by it');
        });

        it('team limits are shared by the team\'s keys', T, async () => {
            const team = (await post(gw, '/team/new', { rpm_limit: 2 })).json;
            const a = await newKey(gw, { team_id: team.team_id });
            const b = await newKey(gw, { team_id: team.team_id });
            assert.equal((await ask(gw, a.key)).status, 200);
            assert.equal((await ask(gw, b.key)).status, 200);
            assert.equal((await ask(gw, a.key)).status, 429);
        });
    });

    describe('roles', () => {
        let alice, bob, viewer, aliceKey, bobKey, viewerKey, team;
        before(async () => {
            alice = (await post(gw, '/user/new', { user_id: 'alice', user_role: 'internal_user' })).json;
            bob = (await post(gw, '/user/new', { user_id: 'bob', user_role: 'internal_user' })).json;
            viewer = (await post(gw, '/user/new', { user_id: 'vera', user_role: 'proxy_admin_viewer' })).json;
            aliceKey = alice.key;
            bobKey = bob.key;
            viewerKey = viewer.key;
            team = (await post(gw, '/team/new', { team_alias: 'ab', members_with_roles: [{ role: 'admin', user_id: 'alice' }] })).json;
        });

        it('/user/new returns a key for the user (auto_create_key)', T, async () => {
            assert.match(aliceKey, /^sk-/);
            assert.equal((await ask(gw, aliceKey)).status, 200);
        });

        it('an internal user creates, lists and deletes its own keys', T, async () => {
            const k = await newKey(gw, { key_alias: 'alice-own' }, aliceKey);
            const info = await get(gw, `/key/info?key=${k.key}`, aliceKey);
            assert.equal(info.json.info.user_id, 'alice');
            const l = await get(gw, '/key/list', aliceKey);
            assert.ok(l.json.keys.includes(k.token));
            const bk = await newKey(gw, {}, bobKey);
            assert.ok(!l.json.keys.includes(bk.token), 'not another user\'s keys');
            assert.equal((await post(gw, '/key/delete', { keys: [k.key] }, aliceKey)).status, 200);
        });

        it('#7336: an internal user cannot generate a key for another user', T, async () => {
            const r = await post(gw, '/key/generate', { user_id: 'bob' }, aliceKey);
            assert.equal(r.status, 403, r.text);
        });

        it('#8031: an internal user cannot update or delete another user\'s key, nor move its own key', T, async () => {
            const bk = await newKey(gw, {}, bobKey);
            assert.equal((await post(gw, '/key/update', { key: bk.key, key_alias: 'stolen' }, aliceKey)).status, 404);
            assert.equal((await post(gw, '/key/delete', { keys: [bk.key] }, aliceKey)).status, 404);
            const own = await newKey(gw, {}, aliceKey);
            assert.equal((await post(gw, '/key/update', { key: own.key, user_id: 'bob' }, aliceKey)).status, 403);
            const other = (await post(gw, '/team/new', { team_alias: 'not-alice' })).json;
            assert.equal((await post(gw, '/key/update', { key: own.key, team_id: other.team_id }, aliceKey)).status, 403);
        });

        it('a key cannot raise its own budget or limits', T, async () => {
            const own = await newKey(gw, {}, aliceKey);
            const r = await post(gw, '/key/update', { key: own.key, max_budget: 1000 }, aliceKey);
            assert.equal(r.status, 403, r.text);
            assert.equal((await post(gw, '/key/generate', { rpm_limit: 100000 }, aliceKey)).status, 403);
        });

        it('an internal user cannot make itself proxy_admin, nor create users or teams', T, async () => {
            assert.equal((await post(gw, '/user/update', { user_id: 'alice', user_role: 'proxy_admin' }, aliceKey)).status, 403);
            assert.equal((await post(gw, '/user/new', { user_id: 'mallory' }, aliceKey)).status, 403);
            assert.equal((await post(gw, '/team/new', { team_alias: 'x' }, aliceKey)).status, 403);
            assert.equal((await get(gw, '/global/spend', aliceKey)).status, 403);
        });

        it('#8211/#6626: a viewer reads everything and changes nothing', T, async () => {
            assert.equal((await get(gw, '/key/list', viewerKey)).status, 200);
            assert.equal((await get(gw, '/user/info?user_id=alice', viewerKey)).status, 200);
            assert.equal((await get(gw, '/global/spend', viewerKey)).status, 200);
            assert.equal((await post(gw, '/key/generate', {}, viewerKey)).status, 403);
            assert.equal((await post(gw, '/team/new', {}, viewerKey)).status, 403);
            assert.equal((await post(gw, '/user/update', { user_id: 'vera', user_role: 'proxy_admin' }, viewerKey)).status, 403);
        });

        it('a team admin manages its team\'s keys and members; a member does not', T, async () => {
            const tk = await newKey(gw, { team_id: team.team_id }, aliceKey);
            assert.equal(tk.team_id, team.team_id);
            const add = await post(gw, '/team/member_add', { team_id: team.team_id, member: { role: 'user', user_id: 'bob' } }, aliceKey);
            assert.equal(add.status, 200, add.text);
            assert.equal((await post(gw, '/key/generate', { team_id: team.team_id }, bobKey)).status, 403, 'bob is not a team admin');
            assert.equal((await post(gw, '/team/member_delete', { team_id: team.team_id, user_id: 'alice' }, bobKey)).status, 403);
            const info = await get(gw, `/team/info?team_id=${team.team_id}`, bobKey);
            assert.equal(info.status, 200, 'a member reads its team');
            assert.ok(info.json.team_info.members_with_roles.some((m) => m.user_id === 'bob'));
        });

        it('the audit log records who changed what, without secrets', T, async () => {
            const k = await newKey(gw, { key_alias: 'audited' });
            await post(gw, '/key/update', { key: k.key, key_alias: 'audited-2' });
            const a = await get(gw, `/audit?object_id=${k.token}`);
            assert.equal(a.status, 200, a.text);
            assert.deepEqual(a.json.map((x) => x.action), ['updated', 'created']);
            assert.equal(a.json[0].changed_by, 'master-key');
            assert.equal(a.json[0].before_value.key_alias, 'audited');
            assert.equal(a.json[0].updated_values.key_alias, 'audited-2');
            assert.ok(!JSON.stringify(a.json).includes(k.key), 'the key itself is never in the audit log');
            assert.equal((await get(gw, '/audit', aliceKey)).status, 403);
        });
    });
});

describe('governance durability', () => {
    it('SIGKILL under load loses no acknowledged change; keys and spend survive a restart', T, async () => {
        const dir = tempDir();
        const cfg = config({ database_url: `sqlite:///${path.join(dir, 'gov.db')}` });
        let gw = await startGateway(cfg);
        const acked = [];
        let stop = false;
        const load = (async () => {
            while (!stop) {
                const r = await post(gw, '/key/generate', { key_alias: `k${acked.length}` }).catch(() => null);
                if (r?.status === 200) acked.push(r.json);
            }
        })();
        const spender = await newKey(gw, { key_alias: 'spender' });
        for (let i = 0; i < 5; i++) assert.equal((await ask(gw, spender.key)).status, 200);
        await sleep(500);
        gw.child.kill('SIGKILL');
        stop = true;
        await load;
        await gw.exited;
        assert.ok(acked.length > 5, `${acked.length} keys acknowledged before the kill`);
        gw = await startGateway(cfg);
        try {
            for (const k of [...acked.slice(0, 3), ...acked.slice(-3)]) {
                const r = await ask(gw, k.key);
                assert.equal(r.status, 200, `acknowledged key ${k.key_alias} works after the restart`);
            }
            const l = await get(gw, '/key/list?size=1000');
            for (const k of acked)
                assert.ok(l.json.keys.includes(k.token), `key ${k.key_alias} is there`);
            const info = await get(gw, `/key/info?key=${spender.key}`);
            assert.ok(info.json.info.spend > 0, 'the spend was kept');
        } finally {
            await gw.stop();
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe('governance: per-key and per-team guardrails and cache controls', () => {
    let gw;
    before(async () => {
        gw = await startGateway({
            ...config(),
            guardrails: [
                { guardrail_name: 'blocker', litellm_params: { guardrail: 'regex', mode: 'pre_call', patterns: [{ name: 'word', pattern: 'forbidden', action: 'block' }] } },
                { guardrail_name: 'other-guard', litellm_params: { guardrail: 'regex', mode: 'pre_call', patterns: [{ name: 'w2', pattern: 'zzzz', action: 'block' }] } },
            ],
            litellm_settings: { cache: true },
        });
    });
    after(async () => {
        await gw?.stop();
    });
    const say = (key, text, extra = {}) => chat(gw, { model: 'fake-model', messages: userMessage(text), ...extra }, { key });

    it('a key\'s guardrails run on its requests only, and the request cannot switch them off', T, async () => {
        const k = await newKey(gw, { guardrails: ['blocker'] });
        const r = await say(k.key, 'this is forbidden');
        assert.equal(r.status, 400, r.text);
        assert.equal(r.json.error.type, 'guardrail_violation');
        assert.equal((await say(MASTER_KEY, 'this is forbidden')).status, 200, 'not the master key\'s');
        const off = await say(k.key, 'this is forbidden', { guardrails: { blocker: false } });
        assert.equal(off.status, 400);
        assert.equal(off.json.error.code, 'guardrail_required');
    });

    it('a team\'s guardrails run for every key of the team', T, async () => {
        const team = (await post(gw, '/team/new', { guardrails: ['blocker'] })).json;
        const k = await newKey(gw, { team_id: team.team_id });
        assert.equal((await say(k.key, 'forbidden words')).status, 400);
        assert.equal((await say(k.key, 'kind words')).status, 200);
    });

    it('modify_guardrails: false - a request may not change the selection', T, async () => {
        const k = await newKey(gw, { metadata: { guardrails: { modify_guardrails: false } } });
        const r = await say(k.key, 'hello', { guardrails: ['other-guard'] });
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, 'guardrails_locked');
        const free = await newKey(gw);
        assert.equal((await say(free.key, 'hello', { guardrails: ['other-guard'] })).status, 200);
    });

    it('allowed_cache_controls restricts the cache controls a key may send', T, async () => {
        const k = await newKey(gw, { allowed_cache_controls: ['no-cache'] });
        assert.equal((await say(k.key, 'cache me', { cache: { 'no-cache': true } })).status, 200);
        const r = await say(k.key, 'cache me', { cache: { 'no-store': true } });
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, 'cache_control_not_allowed');
        const any = await newKey(gw);
        assert.equal((await say(any.key, 'cache me', { cache: { 'no-store': true } })).status, 200);
    });
});

describe('time-of-day limits from policies (clock pinned with GANTRY_CLOCK)', () => {
    const policies = [{
        name: 'team-hours',
        rules: [
            { name: 'business-hours', match: { model: 'fake-model', time: { between: '09:00-18:00', days: ['mon-fri'], tz: 'Europe/Berlin' } },
              action: { limit: { rpm: 2, per: 'team' } } },
            { name: 'off-hours', match: { model: 'fake-model', time: { outside: '09:00-18:00', days: ['mon-fri'], tz: 'Europe/Berlin' } },
              action: { limit: { rpm: 5, per: 'team' } } },
        ],
    }];
    async function admitted(clockMs) {
        const gw = await startGateway({ ...config(), policies }, { env: { GANTRY_CLOCK: String(clockMs) } });
        try {
            const team = (await post(gw, '/team/new', {})).json;
            const a = await newKey(gw, { team_id: team.team_id });
            const b = await newKey(gw, { team_id: team.team_id });
            const statuses = [];
            for (let i = 0; i < 8; i++) statuses.push((await ask(gw, i % 2 ? a.key : b.key)).status);
            const other = await ask(gw, MASTER_KEY); /* no team: the per-team rule limits nobody */
            assert.equal(other.status, 200);
            const last = await ask(gw, a.key);
            assert.equal(last.status, 429);
            assert.match(last.json.error.message, /policy/);
            assert.ok(Number(last.headers.get('retry-after')) >= 1);
            assert.equal((await ask(gw, a.key, 'other-model')).status, 200, 'other models are not limited');
            return statuses.filter((s) => s === 200).length;
        } finally {
            await gw.stop();
        }
    }

    it('Wednesday 10:00 in Berlin: the team gets 2 requests a minute', T, async () => {
        assert.equal(await admitted(Date.UTC(2026, 10, 25, 9, 0, 0)), 2);
    });

    it('Wednesday 22:00 in Berlin: the team gets 5', T, async () => {
        assert.equal(await admitted(Date.UTC(2026, 10, 25, 21, 0, 0)), 5);
    });

    it('Saturday noon: off-hours too', T, async () => {
        assert.equal(await admitted(Date.UTC(2026, 10, 28, 11, 0, 0)), 5);
    });
});

describe('governance: budget periods, alerts, retention, organizations and named budgets', () => {
    let gw, hook, hookUrl;
    const alerts = [];
    before(async () => {
        const http = await import('node:http');
        hook = http.createServer((req, res) => {
            let body = '';
            req.on('data', (c) => { body += c; });
            req.on('end', () => {
                alerts.push(JSON.parse(body));
                res.end('ok');
            });
        });
        await new Promise((r) => hook.listen(0, '127.0.0.1', r));
        hookUrl = `http://127.0.0.1:${hook.address().port}/alerts`;
        gw = await startGateway(config({
            alerting: ['webhook'],
            alert_to_webhook_url: { budget_alerts: hookUrl },
            budget_alert_thresholds: [0.5, 1.0],
            maximum_spend_logs_retention_period: '1s',
        }));
    });
    after(async () => {
        await gw?.stop();
        hook?.close();
    });

    async function costOfOne() {
        const r = await ask(gw, MASTER_KEY);
        return r.json.usage.prompt_tokens * 0.001 + r.json.usage.completion_tokens * 0.002;
    }

    it('budget_duration starts a new period: a spent key works again when it ends', T, async () => {
        const per = await costOfOne();
        const k = await newKey(gw, { max_budget: per * 0.5, budget_duration: '2s' });
        assert.equal((await ask(gw, k.key)).status, 200);
        assert.equal((await ask(gw, k.key)).status, 400, 'spent');
        await sleep(2300);
        const info = await get(gw, `/key/info?key=${k.key}`);
        assert.equal(info.json.info.spend, 0, 'a new period shows no spend yet');
        assert.equal((await ask(gw, k.key)).status, 200, 'a new period');
    });

    it('soft budget and thresholds of max_budget raise one webhook alert each', T, async () => {
        const per = await costOfOne();
        const k = await newKey(gw, { key_alias: 'alerted', soft_budget: per * 0.9, max_budget: per * 3.5 });
        for (let i = 0; i < 4; i++) await ask(gw, k.key); /* 1 soft, 2 = 57% of max, 4 = 100%+ */
        await waitUntil(() => alerts.filter((a) => a.entity_id === k.token).length >= 3);
        await sleep(200);
        const mine = alerts.filter((a) => a.entity_id === k.token);
        assert.deepEqual(mine.map((a) => a.event).sort(), ['soft_budget_crossed', 'threshold_crossed', 'threshold_crossed']);
        assert.deepEqual(mine.filter((a) => a.threshold).map((a) => a.threshold).sort(), [0.5, 1]);
        assert.ok(mine.every((a) => a.event_group === 'key' && a.entity_alias === 'alerted'));
        assert.ok(gw.stderr().includes('budget alert'), 'alerts go to the log too');
    });

    it('spend log retention deletes old rows; the aggregates keep their totals', T, async () => {
        const k = await newKey(gw, { key_alias: 'retained' });
        await ask(gw, k.key);
        await sleep(300);
        const before = (await get(gw, `/spend/logs?api_key=${k.token}`)).json.length;
        assert.equal(before, 1);
        const total = (await get(gw, '/global/spend')).json.spend;
        await sleep(1500);
        /* A spend write after the rows aged past 1 s runs the deletion (every half period here). */
        const other = await newKey(gw);
        await ask(gw, other.key);
        await sleep(300);
        assert.equal((await get(gw, `/spend/logs?api_key=${k.token}`)).json.length, 0);
        assert.ok((await get(gw, '/global/spend')).json.spend > total, 'the totals did not lose the old rows');
    });

    it('organizations and named budgets limit their keys', T, async () => {
        const org = await post(gw, '/organization/new', { organization_alias: 'acme', max_budget: 0.000001 });
        assert.equal(org.status, 200, org.text);
        const team = (await post(gw, '/team/new', { organization_id: org.json.organization_id })).json;
        const k = await newKey(gw, { team_id: team.team_id });
        assert.equal((await ask(gw, k.key)).status, 200);
        const r = await ask(gw, k.key);
        assert.equal(r.status, 400);
        assert.match(r.json.error.message, /organization budget/);
        const info = await get(gw, `/organization/info?organization_id=${org.json.organization_id}`);
        assert.equal(info.status, 200, info.text);
        assert.ok(info.json.spend > 0);

        const b = await post(gw, '/budget/new', { budget_id: 'tiny', max_budget: 0.000001, rpm_limit: 100 });
        assert.equal(b.status, 200, b.text);
        const bk = await newKey(gw, { budget_id: 'tiny' });
        assert.equal((await ask(gw, bk.key)).status, 200);
        const br = await ask(gw, bk.key);
        assert.equal(br.status, 400);
        assert.match(br.json.error.message, /budget budget|budget is spent/);
        assert.equal((await get(gw, '/budget/list')).json.length, 1);
        assert.equal((await post(gw, '/budget/delete', { budget_ids: ['tiny'] })).status, 200);
        assert.equal((await get(gw, '/budget/list')).json.length, 0);
    });
});

async function waitUntil(fn, timeout = 5000) {
    const end = Date.now() + timeout;
    while (Date.now() < end) {
        if (await fn()) return;
        await sleep(50);
    }
    assert.fail('timed out waiting');
}

describe('governance: every management endpoint, and the role matrix', () => {
    let gw;
    before(async () => {
        gw = await startGateway(config());
    });
    after(async () => {
        await gw?.stop();
    });

    it('users: new, info, list, update, delete (with their keys)', T, async () => {
        const u = await post(gw, '/user/new', { user_id: 'ed', user_email: 'ed@x.io', max_budget: 3 });
        assert.equal(u.status, 200, u.text);
        assert.equal(u.json.user_role, 'internal_user');
        const info = await get(gw, '/user/info?user_id=ed');
        assert.equal(info.json.user_info.user_email, 'ed@x.io');
        assert.equal(info.json.keys.length, 1, 'auto_create_key made one');
        const list = await get(gw, '/user/list?page_size=1000');
        assert.ok(list.json.users.some((x) => x.user_id === 'ed'));
        const up = await post(gw, '/user/update', { user_id: 'ed', user_alias: 'Ed', max_budget: null });
        assert.equal(up.status, 200, up.text);
        assert.equal(up.json.user_alias, 'Ed');
        assert.equal(up.json.max_budget, undefined, 'null removes a field');
        const d = await post(gw, '/user/delete', { user_ids: ['ed'] });
        assert.equal(d.status, 200, d.text);
        assert.equal((await ask(gw, u.json.key)).status, 401, 'its keys went with it');
        assert.equal((await get(gw, '/user/info?user_id=ed')).status, 404);
        assert.equal((await post(gw, '/user/update', { user_id: 'ed', user_alias: 'x' })).status, 404);
    });

    it('teams: new, info, list, update, block, unblock, members, delete', T, async () => {
        const t = (await post(gw, '/team/new', { team_id: 'team-z', team_alias: 'zed' })).json;
        assert.equal(t.team_id, 'team-z');
        await post(gw, '/user/new', { user_id: 'zoe', auto_create_key: false });
        const add = await post(gw, '/team/member_add', { team_id: 'team-z', member: [{ role: 'user', user_id: 'zoe' }] });
        assert.equal(add.status, 200, add.text);
        const upd = await post(gw, '/team/member_update', { team_id: 'team-z', user_id: 'zoe', role: 'admin' });
        assert.deepEqual(upd.json.members_with_roles, [{ user_id: 'zoe', role: 'admin' }]);
        assert.equal((await post(gw, '/team/member_add', { team_id: 'team-z', member: { role: 'user', user_id: 'nobody' } })).status, 400);
        const k = await newKey(gw, { team_id: 'team-z' });
        assert.equal((await post(gw, '/team/block', { team_id: 'team-z' })).status, 200);
        const blocked = await ask(gw, k.key);
        assert.equal(blocked.status, 401);
        assert.equal(blocked.json.error.code, 'team_blocked');
        assert.equal((await post(gw, '/team/unblock', { team_id: 'team-z' })).status, 200);
        assert.equal((await ask(gw, k.key)).status, 200);
        const list = await get(gw, '/team/list');
        assert.ok(list.json.some((x) => x.team_id === 'team-z'));
        const up = await post(gw, '/team/update', { team_id: 'team-z', team_alias: 'zed-2' });
        assert.equal(up.json.team_alias, 'zed-2');
        const del = await post(gw, '/team/member_delete', { team_id: 'team-z', user_id: 'zoe' });
        assert.deepEqual(del.json.members_with_roles, []);
        assert.equal((await post(gw, '/team/delete', { team_ids: ['team-z'] })).status, 200);
        assert.equal((await get(gw, '/team/info?team_id=team-z')).status, 404);
    });

    it('organizations, customers and budgets: new, info, list, update, delete; customers block', T, async () => {
        const o = (await post(gw, '/organization/new', { organization_alias: 'o1' })).json;
        assert.equal((await get(gw, `/organization/info?organization_id=${o.organization_id}`)).json.organization_alias, 'o1');
        assert.equal((await post(gw, '/organization/update', { organization_id: o.organization_id, organization_alias: 'o2' })).json.organization_alias, 'o2');
        assert.ok((await get(gw, '/organization/list')).json.some((x) => x.organization_id === o.organization_id));
        assert.equal((await post(gw, '/organization/delete', { organization_ids: [o.organization_id] })).status, 200);

        assert.equal((await post(gw, '/customer/new', { user_id: 'cust-1', alias: 'C' })).status, 200);
        assert.equal((await get(gw, '/customer/info?end_user_id=cust-1')).json.alias, 'C');
        assert.equal((await post(gw, '/customer/block', { user_ids: ['cust-1'] })).status, 200);
        const r = await ask(gw, MASTER_KEY, 'fake-model', { user: 'cust-1' });
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.error.code, 'customer_blocked');
        assert.equal((await post(gw, '/customer/unblock', { user_ids: ['cust-1'] })).status, 200);
        assert.equal((await ask(gw, MASTER_KEY, 'fake-model', { user: 'cust-1' })).status, 200);
        assert.equal((await post(gw, '/customer/update', { user_id: 'cust-1', alias: 'D' })).json.alias, 'D');
        assert.ok((await get(gw, '/customer/list')).json.some((x) => x.user_id === 'cust-1'));
        assert.equal((await post(gw, '/customer/delete', { user_ids: ['cust-1'] })).status, 200);
        assert.equal((await post(gw, '/customer/new', {})).status, 400, 'a customer needs its id');

        assert.equal((await post(gw, '/budget/new', { budget_id: 'b1', max_budget: 10 })).status, 200);
        assert.equal((await post(gw, '/budget/update', { budget_id: 'b1', max_budget: 20 })).json.max_budget, 20);
        assert.equal((await get(gw, '/budget/info?budget_id=b1')).json.max_budget, 20);
        assert.equal((await post(gw, '/budget/new', { budget_id: 'b2', max_parallel_requests: 'many' })).status, 400);
    });

    it('the role matrix: each role against each class of route', T, async () => {
        const roles = {};
        for (const role of ['proxy_admin', 'proxy_admin_viewer', 'internal_user', 'internal_user_viewer']) {
            roles[role] = (await post(gw, '/user/new', { user_id: `m-${role}`, user_role: role })).json.key;
        }
        const other = await newKey(gw, {});
        const calls = {
            llm: (k) => ask(gw, k),
            info_own: (k) => get(gw, '/key/info', k),
            list_keys: (k) => get(gw, '/key/list', k),
            create_key: (k) => post(gw, '/key/generate', {}, k),
            create_user: (k) => post(gw, '/user/new', { auto_create_key: false }, k),
            create_team: (k) => post(gw, '/team/new', {}, k),
            update_other_key: (k) => post(gw, '/key/update', { key: other.key, key_alias: 'x' }, k),
            global_spend: (k) => get(gw, '/global/spend', k),
            audit: (k) => get(gw, '/audit', k),
        };
        /* allowed (2xx) or not, per role; the rest must be 403/404 */
        const want = {
            proxy_admin: { llm: 1, info_own: 1, list_keys: 1, create_key: 1, create_user: 1, create_team: 1, update_other_key: 1, global_spend: 1, audit: 1 },
            proxy_admin_viewer: { llm: 1, info_own: 1, list_keys: 1, create_key: 0, create_user: 0, create_team: 0, update_other_key: 0, global_spend: 1, audit: 1 },
            internal_user: { llm: 1, info_own: 1, list_keys: 1, create_key: 1, create_user: 0, create_team: 0, update_other_key: 0, global_spend: 0, audit: 0 },
            internal_user_viewer: { llm: 1, info_own: 1, list_keys: 1, create_key: 0, create_user: 0, create_team: 0, update_other_key: 0, global_spend: 0, audit: 0 },
        };
        for (const [role, key] of Object.entries(roles)) {
            for (const [name, call] of Object.entries(calls)) {
                const r = await call(key);
                if (want[role][name]) assert.equal(r.status, 200, `${role} ${name}: ${r.text}`);
                else assert.ok(r.status === 403 || r.status === 404, `${role} ${name} must be refused: ${r.status} ${r.text}`);
            }
        }
    });
});
