/*
 * GET /v1/models and /models (model groups, OpenAI list shape), and the health endpoints.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
    MASTER_KEY, UPSTREAM_KEY, assertOpenAIError, authHeaders, closedPort, fakeDeployment, mockDeployment, request,
    startGateway, startMock,
} from './harness.mjs';

const T = { timeout: 30_000 };
const GROUPS = ['dead-model', 'fake-model', 'gpt-mock'];

describe('models and health', () => {
    let mock;
    let gw;
    let deadPort;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        deadPort = await closedPort();
        gw = await startGateway({
            model_list: [
                /* Two deployments of one group: the group is listed once. */
                mockDeployment(mock, { name: 'gpt-mock', id: 'dep-mock-a' }),
                mockDeployment(mock, { name: 'gpt-mock', id: 'dep-mock-b' }),
                {
                    model_name: 'dead-model',
                    litellm_params: {
                        model: 'openai/gpt-4o-mini',
                        api_base: `http://127.0.0.1:${deadPort}/v1`,
                        api_key: 'os.environ/UPSTREAM_KEY',
                    },
                    model_info: { id: 'dep-dead' },
                },
                fakeDeployment({ id: 'dep-fake-1' }),
            ],
            general_settings: { master_key: MASTER_KEY },
        });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await mock?.stop();
        }
    });

    function assertModelList(json) {
        assert.equal(json.object, 'list', JSON.stringify(json));
        assert.ok(Array.isArray(json.data));
        const ids = json.data.map((m) => m.id);
        assert.deepEqual([...ids].sort(), GROUPS, 'each model_name exactly once');
        for (const m of json.data) {
            assert.equal(m.object, 'model');
            assert.equal(typeof m.created, 'number');
            assert.ok(Number.isInteger(m.created));
            assert.equal(typeof m.owned_by, 'string');
        }
    }

    it('GET /v1/models and /models list the model groups', T, async () => {
        for (const p of ['/v1/models', '/models']) {
            const r = await request(gw.url + p, { headers: authHeaders() });
            assert.equal(r.status, 200, `${p}: ${r.text}`);
            assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
            assertModelList(r.json);
            assert.ok(!r.text.includes(UPSTREAM_KEY), 'no secrets in the model list');
        }
    });

    it('the SDK lists the models', T, async () => {
        const client = new OpenAI({ baseURL: gw.baseURL, apiKey: MASTER_KEY, maxRetries: 0, timeout: 10_000 });
        const page = await client.models.list();
        assert.deepEqual(page.data.map((m) => m.id).sort(), GROUPS);
    });

    it('the model list needs the key', T, async () => {
        for (const p of ['/v1/models', '/models']) {
            const none = await request(gw.url + p);
            assert.equal(none.status, 401, `${p} without a key: ${none.text}`);
            assertOpenAIError(assert, none.json);
            const wrong = await request(gw.url + p, { headers: authHeaders('sk-nope') });
            assert.equal(wrong.status, 401);
            assertOpenAIError(assert, wrong.json);
        }
    });

    it('/health/liveliness and /health/readiness need no key', T, async () => {
        for (const p of ['/health/liveliness', '/health/readiness']) {
            const r = await request(gw.url + p);
            assert.equal(r.status, 200, `${p}: ${r.text}`);
        }
    });

    it('/health needs the key', T, async () => {
        const r = await request(`${gw.url}/health`);
        assert.equal(r.status, 401, r.text);
        assertOpenAIError(assert, r.json);
    });

    it('/health reports healthy and unhealthy deployments', T, async () => {
        const r = await request(`${gw.url}/health`, { headers: authHeaders(), timeout: 25_000 });
        assert.equal(r.status, 200, r.text);
        const h = r.json;
        assert.ok(h && typeof h === 'object', r.text);
        assert.ok(Array.isArray(h.healthy_endpoints), r.text);
        assert.ok(Array.isArray(h.unhealthy_endpoints), r.text);
        assert.equal(h.healthy_count, h.healthy_endpoints.length, 'healthy_count matches the array');
        assert.equal(h.unhealthy_count, h.unhealthy_endpoints.length, 'unhealthy_count matches the array');

        const mentions = (entry, ...needles) => needles.some((n) => JSON.stringify(entry).includes(n));
        assert.equal(h.unhealthy_count, 1, `only the closed-port deployment is unhealthy: ${r.text}`);
        assert.ok(mentions(h.unhealthy_endpoints[0], 'dep-dead', `:${deadPort}`),
                  `the unhealthy endpoint is the dead deployment: ${r.text}`);
        /* Endpoints may be named by deployment id or by api_base; both mock deployments must be there. */
        const mockUp = h.healthy_endpoints.filter((e) => mentions(e, 'dep-mock-a', 'dep-mock-b', `:${mock.port}`));
        assert.equal(mockUp.length, 2, `both mock deployments are healthy: ${r.text}`);
        assert.ok(!h.healthy_endpoints.some((e) => mentions(e, 'dep-dead')), 'the dead deployment is not healthy');
        assert.ok(!r.text.includes(UPSTREAM_KEY) && !r.text.includes(MASTER_KEY), 'no secrets in /health');
    });
});
