/*
 * The redis cache plugin (plugins/cache-redis) against a real redis-server (installed by
 * scripts/deps.sh) and, for the failure cases, against fake Redis servers written here: one that
 * accepts connections and never says a word, and one that answers the handshake (PING, AUTH,
 * SELECT) but never GET or SET.  Upstream calls are counted in the OpenAI mock's records (each
 * test puts its own marker in the prompt), so "a hit" means "the upstream never saw it".
 *
 * Covered: miss then hit, entries under <namespace>:<key> with the TTL, different parameters
 * miss, namespace isolation, TTL expiry, /cache/delete and /cache/ping, the LiteLLM form
 * (litellm_settings.cache + cache_params type: redis), Redis SIGKILLed under load (every request
 * still answers, one warning per worker), Redis restarted (hits again), a silent server and a
 * server that stalls on commands (requests answer within the command timeout, max_pending bounds
 * the commands outstanding, the stalled connection is replaced), and config errors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
    GANTRY_BIN, MASTER_KEY, UPSTREAM_KEY, chat, curl, freePort, marker, mockDeployment, pool, request,
    sleep, startGateway, startMock, tempDir, toYaml, userMessage, waitFor,
} from './harness.mjs';

const T = { timeout: 60_000 };
const HEX64 = /^[0-9a-f]{64}$/;
const isHit = (r) => r.headers.get('x-gantry-cache-hit') === 'true';
const cacheKey = (r) => r.headers.get('x-gantry-cache-key');

// ---------------------------------------------------------------------------------------------
// A real redis-server, and redis-cli to look inside it
// ---------------------------------------------------------------------------------------------

const children = new Set();
process.on('exit', () => {
    for (const c of children) {
        try {
            c.kill('SIGKILL');
        } catch {
            /* gone */
        }
    }
});

async function startRedis(port) {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
                                         '--appendonly', 'no', '--loglevel', 'warning'],
                        { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
    }));
    child.stdout.setEncoding('utf8').on('data', (s) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s) => { out += s; });
    /* Ready when it answers PING (its "ready" log line depends on the log level). */
    await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited: ${out}`);
        return (await cli(port, 'PING').catch(() => '')) === 'PONG';
    }, { timeout: 10_000, interval: 50, what: `redis-server on port ${port}` });
    return {
        port,
        async kill(signal = 'SIGKILL') {
            child.kill(signal);
            await exited;
        },
    };
}

function cli(port, ...args) {
    return new Promise((resolve, reject) => {
        execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--raw', ...args],
                 { encoding: 'utf8', timeout: 5000 }, (err, stdout, stderr) => {
                     if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${err.message} ${stderr}`));
                     else resolve(stdout.trim());
                 });
    });
}

/* Stores are fire-and-forget: wait until the entry is really in Redis before asking for a hit
 * (the next request may run on another worker, with its own connection). */
function waitStored(port, key) {
    return waitFor(async () => (await cli(port, 'EXISTS', key)) === '1', { timeout: 5000, what: `${key} in Redis` });
}

// ---------------------------------------------------------------------------------------------
// Fake Redis servers: accept, read RESP commands, answer as little as they are told
// ---------------------------------------------------------------------------------------------

/* Parses complete RESP arrays of bulk strings off the front of buf; returns [commands, rest]. */
function parseCommands(buf) {
    const cmds = [];
    for (;;) {
        let p = 0;
        const line = () => {
            const e = buf.indexOf('\r\n', p);
            if (e < 0) return null;
            const s = buf.toString('latin1', p, e);
            p = e + 2;
            return s;
        };
        const head = line();
        if (head === null || head[0] !== '*') return [cmds, buf];
        const n = Number(head.slice(1));
        const args = [];
        let complete = true;
        for (let i = 0; i < n; i++) {
            const l = line();
            if (l === null) {
                complete = false;
                break;
            }
            const len = Number(l.slice(1));
            if (buf.length < p + len + 2) {
                complete = false;
                break;
            }
            args.push(buf.toString('latin1', p, p + len));
            p += len + 2;
        }
        if (!complete) return [cmds, buf];
        cmds.push(args);
        buf = buf.subarray(p);
    }
}

/* answer: 'nothing' (a Redis that accepts and stays silent) or 'handshake' (PING/AUTH/SELECT
 * answered, every other command left waiting forever). */
async function startFakeRedis(answer) {
    const conns = [];
    const commands = []; /* {conn, cmd, args} */
    const server = net.createServer((sock) => {
        const conn = conns.length;
        conns.push(sock);
        let buf = Buffer.alloc(0);
        sock.on('error', () => {});
        sock.on('data', (d) => {
            let cmds;
            [cmds, buf] = parseCommands(Buffer.concat([buf, d]));
            for (const args of cmds) {
                const cmd = String(args[0]).toUpperCase();
                commands.push({ conn, cmd, args });
                if (answer !== 'handshake') continue;
                if (cmd === 'PING') sock.write('+PONG\r\n');
                else if (cmd === 'AUTH' || cmd === 'SELECT') sock.write('+OK\r\n');
            }
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        port: server.address().port,
        connections: () => conns.length,
        commands: () => commands.slice(),
        close() {
            for (const s of conns) s.destroy();
            return new Promise((resolve) => server.close(resolve));
        },
    };
}

// ---------------------------------------------------------------------------------------------
// Gateway helpers
// ---------------------------------------------------------------------------------------------

function redisGateway(mock, config, { workers = 2, args = [] } = {}) {
    return startGateway({
        server: { workers },
        model_list: [mockDeployment(mock, { name: 'gpt-mock', id: 'dep-redis-mock' })],
        general_settings: { master_key: MASTER_KEY },
        plugins: { load: [{ plugin: 'redis', config }] },
    }, { args });
}

function ping(gw) {
    return request(`${gw.url}/cache/ping`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
}

/* Every worker is connected: /cache/ping answers from the worker that took the connection, and
 * curl opens a new connection each time, so a run of healthy answers covers the workers. */
async function waitHealthy(gw, timeout = 10_000) {
    await waitFor(async () => {
        for (let i = 0; i < 6; i++) {
            const r = await curl(['-H', `authorization: Bearer ${MASTER_KEY}`, `${gw.url}/cache/ping`]);
            if (r.status !== 200) return false;
        }
        return true;
    }, { timeout, interval: 100, what: 'the redis cache to be healthy on every worker' });
}

const count = (text, re) => (text.match(new RegExp(re.source, 'g')) || []).length;

// ---------------------------------------------------------------------------------------------

describe('redis cache: a real Redis', () => {
    let mock;
    let redis;
    let gw; /* namespace nsA, ttl 60, 2 workers */
    let gwB; /* namespace nsB, ttl 1, same Redis */
    let gwLite; /* litellm_settings.cache + cache_params type: redis */
    const nsA = `gt-a-${process.pid}`;
    const nsB = `gt-b-${process.pid}`;
    const nsL = `gt-l-${process.pid}`;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        redis = await startRedis(await freePort());
        const base = { host: '127.0.0.1', port: redis.port, command_timeout: 0.5 };
        [gw, gwB, gwLite] = await Promise.all([
            redisGateway(mock, { ...base, namespace: nsA, ttl: 60 }),
            redisGateway(mock, { ...base, namespace: nsB, ttl: 1 }, { workers: 1 }),
            startGateway({
                model_list: [mockDeployment(mock, { name: 'gpt-mock', id: 'dep-redis-lite' })],
                general_settings: { master_key: MASTER_KEY },
                litellm_settings: {
                    cache: true,
                    /* LiteLLM configs often carry the port as a string. */
                    cache_params: { type: 'redis', host: '127.0.0.1', port: String(redis.port), ttl: 60, namespace: nsL },
                },
            }),
        ]);
        await Promise.all([waitHealthy(gw), waitHealthy(gwB), waitHealthy(gwLite)]);
    });
    after(async () => {
        try {
            await Promise.all([gw?.stop(), gwB?.stop(), gwLite?.stop()]);
        } finally {
            await redis?.kill('SIGTERM');
            await mock?.stop();
        }
    });

    it('miss, then a hit from Redis: the upstream is called once; the entry is <namespace>:<key> with the TTL', T, async () => {
        const m = marker('redis-hit');
        const body = { model: 'gpt-mock', messages: userMessage(`cache me ${m}`) };
        const first = await chat(gw, body);
        assert.equal(first.status, 200, first.text);
        assert.ok(!isHit(first), 'the first request is not a hit');
        const key = cacheKey(first);
        assert.match(key ?? '', HEX64, 'x-gantry-cache-key');
        await waitStored(redis.port, `${nsA}:${key}`);
        const ttl = Number(await cli(redis.port, 'TTL', `${nsA}:${key}`));
        assert.ok(ttl > 50 && ttl <= 60, `TTL ${ttl} should be the configured 60 s`);

        const second = await chat(gw, body);
        assert.equal(second.status, 200, second.text);
        assert.ok(isHit(second), 'x-gantry-cache-hit: true');
        assert.equal(second.json.choices[0].message.content, first.json.choices[0].message.content);
        assert.equal((await mock.requests({ contains: m })).length, 1, 'the upstream saw one request');
    });

    it('different parameters are a different entry (miss); the same ones hit', T, async () => {
        const m = marker('redis-params');
        const a = { model: 'gpt-mock', messages: userMessage(`params ${m}`), temperature: 0.1 };
        const b = { ...a, temperature: 0.9 };
        const ra = await chat(gw, a);
        assert.equal(ra.status, 200, ra.text);
        await waitStored(redis.port, `${nsA}:${cacheKey(ra)}`);
        const rb = await chat(gw, b);
        assert.equal(rb.status, 200, rb.text);
        assert.ok(!isHit(rb), 'another temperature must not hit');
        assert.notEqual(cacheKey(rb), cacheKey(ra));
        assert.equal((await mock.requests({ contains: m })).length, 2);
        await waitStored(redis.port, `${nsA}:${cacheKey(rb)}`);
        assert.ok(isHit(await chat(gw, b)), 'the same parameters again hit');
        assert.equal((await mock.requests({ contains: m })).length, 2);
    });

    it('namespaces isolate gateways sharing one Redis', T, async () => {
        const m = marker('redis-ns');
        const body = { model: 'gpt-mock', messages: userMessage(`namespaced ${m}`) };
        const a = await chat(gw, body);
        await waitStored(redis.port, `${nsA}:${cacheKey(a)}`);
        const b = await chat(gwB, body);
        assert.equal(b.status, 200, b.text);
        assert.ok(!isHit(b), 'an entry of another namespace must not be served');
        assert.equal(cacheKey(b), cacheKey(a), 'same request, same key: the plugin namespace only prefixes the Redis key');
        assert.equal((await mock.requests({ contains: m })).length, 2);
        await waitStored(redis.port, `${nsB}:${cacheKey(b)}`);
        assert.ok(isHit(await chat(gwB, body)), 'its own namespace hits');
    });

    it('an entry expires after its TTL (ttl: 1)', T, async () => {
        const m = marker('redis-ttl');
        const body = { model: 'gpt-mock', messages: userMessage(`short lived ${m}`) };
        const first = await chat(gwB, body);
        const key = `${nsB}:${cacheKey(first)}`;
        await waitStored(redis.port, key);
        assert.ok(Number(await cli(redis.port, 'PTTL', key)) <= 1000, 'stored with EX 1');
        assert.ok(isHit(await chat(gwB, body)), 'a hit while it lives');
        await waitFor(async () => (await cli(redis.port, 'EXISTS', key)) === '0', { timeout: 4000, what: 'expiry' });
        const late = await chat(gwB, body);
        assert.equal(late.status, 200, late.text);
        assert.ok(!isHit(late), 'a miss once expired');
        assert.equal((await mock.requests({ contains: m })).length, 2);
    });

    it('/cache/delete removes the entry from Redis (DEL); /cache/ping reports the connection', T, async () => {
        const m = marker('redis-del');
        const body = { model: 'gpt-mock', messages: userMessage(`delete me ${m}`) };
        const first = await chat(gw, body);
        const key = cacheKey(first);
        await waitStored(redis.port, `${nsA}:${key}`);
        const del = await request(`${gw.url}/cache/delete`, {
            method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}` }, body: { keys: [key] },
        });
        assert.equal(del.status, 200, del.text);
        await waitFor(async () => (await cli(redis.port, 'EXISTS', `${nsA}:${key}`)) === '0',
                      { timeout: 3000, what: 'the DEL' });
        const again = await chat(gw, body);
        assert.ok(!isHit(again), 'a miss after the delete');
        assert.equal((await mock.requests({ contains: m })).length, 2);

        const p = await ping(gw);
        assert.equal(p.status, 200, p.text);
        assert.equal(p.json.details[0].status, 'healthy');
        assert.match(p.json.details[0].detail, new RegExp(`connected to Redis at 127\\.0\\.0\\.1:${redis.port}`));
    });

    it('the LiteLLM form (litellm_settings.cache, cache_params type: redis) uses the plugin', T, async () => {
        const m = marker('redis-lite');
        const body = { model: 'gpt-mock', messages: userMessage(`litellm form ${m}`) };
        const first = await chat(gwLite, body);
        assert.equal(first.status, 200, first.text);
        assert.ok(!isHit(first));
        await waitStored(redis.port, `${nsL}:${cacheKey(first)}`);
        const second = await chat(gwLite, body);
        assert.ok(isHit(second), 'x-gantry-cache-hit: true');
        assert.equal((await mock.requests({ contains: m })).length, 1);
        const p = await ping(gwLite);
        assert.equal(p.status, 200, p.text);
        assert.equal(p.json.cache_type, 'redis');
    });

    it('Redis SIGKILLed under load: all 200 requests (concurrency 20) succeed, as misses, one warning per worker', T, async () => {
        const m = marker('redis-kill');
        const bodies = Array.from({ length: 10 }, (_, i) => ({ model: 'gpt-mock', messages: userMessage(`load ${i} ${m}`) }));
        /* Prime the entries, so that the load starts with hits. */
        for (const b of bodies) {
            const r = await chat(gw, b);
            await waitStored(redis.port, `${nsA}:${cacheKey(r)}`);
        }
        let finished = 0;
        let killedAt = null;
        let killing = null;
        const results = await pool(200, 20, async (i) => {
            const t0 = Date.now();
            const startedAfterKill = killedAt !== null;
            const r = await chat(gw, bodies[i % bodies.length], { timeout: 20_000 });
            const ms = Date.now() - t0;
            if (++finished === 60) {
                killedAt = Date.now();
                killing = redis.kill('SIGKILL');
            }
            return { status: r.status, text: r.text, ms, hit: isHit(r), startedAfterKill };
        });
        await killing;
        const failed = results.filter((r) => r.error || r.status !== 200);
        assert.equal(failed.length, 0, `failed: ${JSON.stringify(failed.slice(0, 3), (k, v) => (v instanceof Error ? v.message : v))}`);
        assert.ok(results.filter((r) => r.hit).length >= 30, 'hits before the kill');
        const after = results.filter((r) => r.startedAfterKill);
        assert.ok(after.length >= 100, `requests after the kill: ${after.length}`);
        assert.equal(after.filter((r) => r.hit).length, 0, 'a dead Redis serves no hits');
        const slowest = Math.max(...results.map((r) => r.ms));
        assert.ok(slowest < 5000, `no request stalls (slowest ${slowest} ms)`);

        /* Reconnect attempts go on with back-off; the warning is once per worker per outage. */
        await sleep(1500);
        const warnings = count(gw.stderr(), /is unavailable/);
        assert.ok(warnings >= 1 && warnings <= 2, `one warning per worker, got ${warnings}:\n${gw.stderr()}`);
        const p = await ping(gw);
        assert.equal(p.status, 503, p.text);
        assert.equal(p.json.details[0].status, 'unhealthy');
        assert.match(p.json.details[0].detail, /not available/);
    });

    it('Redis restarted: the workers reconnect and hits come back', T, async () => {
        redis = await startRedis(redis.port);
        await waitHealthy(gw, 15_000);
        await waitFor(() => count(gw.stderr(), /is back after/) >= 1, { timeout: 5000, what: 'the "is back" line' });
        const m = marker('redis-back');
        const body = { model: 'gpt-mock', messages: userMessage(`after restart ${m}`) };
        const first = await chat(gw, body);
        assert.equal(first.status, 200, first.text);
        await waitStored(redis.port, `${nsA}:${cacheKey(first)}`);
        const second = await chat(gw, body);
        assert.ok(isHit(second), 'a hit from the restarted Redis');
        assert.equal((await mock.requests({ contains: m })).length, 1);
    });
});

describe('redis cache: a Redis that accepts and never answers', () => {
    let mock;
    let fake;
    let gw;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        fake = await startFakeRedis('nothing');
        gw = await redisGateway(mock, { port: fake.port, connect_timeout: 0.3, command_timeout: 0.2 });
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await fake?.close();
            await mock?.stop();
        }
    });

    it('requests answer at once as misses; the connection is retried; one warning per worker', T, async () => {
        const m = marker('redis-silent');
        const bodies = Array.from({ length: 10 }, (_, i) => ({ model: 'gpt-mock', messages: userMessage(`silent ${i} ${m}`) }));
        const results = await pool(20, 5, async (i) => {
            const t0 = Date.now();
            const r = await chat(gw, bodies[i % 10], { timeout: 10_000 });
            return { status: r.status, ms: Date.now() - t0, hit: isHit(r) };
        });
        assert.deepEqual(results.filter((r) => r.error || r.status !== 200), []);
        assert.equal(results.filter((r) => r.hit).length, 0);
        assert.equal((await mock.requests({ contains: m })).length, 20, 'every request went upstream');
        const slowest = Math.max(...results.map((r) => r.ms));
        assert.ok(slowest < 3000, `slowest ${slowest} ms`);
        /* Each worker gave up on its connection after connect_timeout and tried again. */
        await waitFor(() => fake.connections() >= 4, { timeout: 5000, what: 'reconnect attempts' });
        assert.ok(fake.commands().some((c) => c.cmd === 'PING'), 'the handshake PING was sent');
        assert.ok(!fake.commands().some((c) => c.cmd === 'GET'), 'no lookup waits on a connection that never answered');
        const warnings = count(gw.stderr(), /is unavailable/);
        assert.ok(warnings >= 1 && warnings <= 2, `one warning per worker, got ${warnings}:\n${gw.stderr()}`);
        assert.match(gw.stderr(), /no answer within connect_timeout \(300 ms\)/);
    });

    it('/cache/ping says why', T, async () => {
        const p = await waitFor(async () => {
            const r = await ping(gw);
            return r.status === 503 && /connect_timeout/.test(r.json?.details?.[0]?.detail ?? '') ? r : null;
        }, { timeout: 5000, what: 'an unhealthy ping naming the timeout' });
        assert.equal(p.json.ping_response, false);
    });
});

describe('redis cache: a Redis that answers the handshake, then stalls on every command', () => {
    let mock;
    let fake;
    let gw;
    const ns = `gt-stall-${process.pid}`;

    before(async () => {
        mock = await startMock({ requireKey: UPSTREAM_KEY });
        fake = await startFakeRedis('handshake');
        /* One worker, so that every request uses the connection the test watches. */
        gw = await redisGateway(mock, {
            port: fake.port, namespace: ns, connect_timeout: 0.5, command_timeout: 0.2, max_pending: 2,
            password: 'pw-test', db: 3,
        }, { workers: 1, args: ['--debug'] });
        await waitHealthy(gw);
    });
    after(async () => {
        try {
            await gw?.stop();
        } finally {
            await fake?.close();
            await mock?.stop();
        }
    });

    it('the handshake sends AUTH and SELECT before PING', T, async () => {
        const first = fake.commands().filter((c) => c.conn === 0).slice(0, 3);
        assert.deepEqual(first.map((c) => c.args), [['AUTH', 'pw-test'], ['SELECT', '3'], ['PING']]);
    });

    it('a lookup with no answer is a miss after command_timeout, not a stalled request', T, async () => {
        const m = marker('redis-stall');
        const t0 = Date.now();
        const r = await chat(gw, { model: 'gpt-mock', messages: userMessage(`stalled ${m}`) }, { timeout: 10_000 });
        const ms = Date.now() - t0;
        assert.equal(r.status, 200, r.text);
        assert.ok(!isHit(r));
        const get = fake.commands().find((c) => c.cmd === 'GET');
        assert.ok(get, 'the GET reached the server');
        assert.deepEqual(get.args, ['GET', `${ns}:${cacheKey(r)}`]);
        assert.ok(ms >= 180, `the lookup waited for the command timeout (${ms} ms)`);
        assert.ok(ms < 3000, `and no longer (${ms} ms)`);
        assert.equal((await mock.requests({ contains: m })).length, 1);
    });

    it('max_pending bounds the commands outstanding; the stalled connection is replaced', T, async () => {
        const m = marker('redis-pending');
        for (let i = 0; i < 4; i++) {
            const r = await chat(gw, { model: 'gpt-mock', messages: userMessage(`pending ${i} ${m}`) }, { timeout: 10_000 });
            assert.equal(r.status, 200, r.text);
        }
        const perConn = new Map();
        for (const c of fake.commands()) {
            if (c.cmd === 'GET' || c.cmd === 'SET') perConn.set(c.conn, (perConn.get(c.conn) ?? 0) + 1);
        }
        for (const [conn, n] of perConn) assert.ok(n <= 2, `connection ${conn} got ${n} commands with max_pending 2`);
        const set = fake.commands().find((c) => c.cmd === 'SET');
        assert.ok(set, 'a store was sent');
        assert.equal(set.args[3], 'EX');
        assert.equal(set.args[4], '600', 'the default ttl');
        /* No reply for max(connect_timeout, 5 x command_timeout) = 1 s: the watchdog reconnects. */
        await waitFor(() => fake.connections() >= 2, { timeout: 5000, what: 'a new connection' });
        assert.match(gw.stderr(), /no reply for 1000 ms with \d+ commands outstanding/);
        assert.equal(count(gw.stderr(), /is unavailable/), 0, 'a replaced connection that reconnects at once is no outage');
    });
});

describe('redis cache: configuration errors', () => {
    function check(config) {
        const dir = tempDir('gantry-redis-conf-');
        const file = path.join(dir, 'gantry.yaml');
        writeFileSync(file, toYaml({
            model_list: [{ model_name: 'fake', litellm_params: { model: 'fake/fake-1' } }],
            plugins: { load: [{ plugin: 'redis', config }] },
        }));
        return new Promise((resolve) => {
            execFile(GANTRY_BIN, ['--check', '--config', file], { encoding: 'utf8', timeout: 10_000 },
                     (err, stdout, stderr) => {
                         rmSync(dir, { recursive: true, force: true });
                         resolve({ code: err ? err.code : 0, out: stdout + stderr });
                     });
        });
    }

    for (const [name, config, re] of [
        ['tls: true (hiredis 0.14 has no TLS)', { tls: true }, /gantry\.yaml:\d+:\d+.*tls: true.*not supported.*hiredis 0\.14.*no TLS/],
        ['a port that is not a number', { port: 'sixty' }, /gantry\.yaml:\d+:\d+.*`port` must be a port number/],
        ['a port out of range', { port: 70000 }, /`port` must be between 1 and 65535/],
        ['username without password', { username: 'bob' }, /`username` needs a `password`/],
        ['a zero command timeout', { command_timeout: 0 }, /`command_timeout` must be from 0\.001/],
        ['an unknown key', { hots: 'x' }, /hots/],
    ]) {
        it(`--check refuses ${name}`, T, async () => {
            const r = await check(config);
            assert.equal(r.code, 1, r.out);
            assert.match(r.out, re);
        });
    }

    it('--check accepts a full config (the port as a string, as LiteLLM configs carry it)', T, async () => {
        const r = await check({
            host: 'localhost', port: '6390', password: 'x', username: 'u', db: 2, tls: false, namespace: 'n',
            ttl: 5, connect_timeout: 2, command_timeout: 0.05, max_pending: 10,
        });
        assert.equal(r.code, 0, r.out);
    });
});
