/*
 * The command line: --version, --help, --check (config errors name file:line:col), and graceful
 * shutdown on SIGTERM.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mockContent } from '../mock/openai-mock.mjs';
import {
    GANTRY_BIN, MASTER_KEY, REPO_ROOT, UPSTREAM_KEY, chat, curl, marker, mockDeployment, parseSSE, startGateway,
    startMock, tempDir, userMessage, waitFor,
} from './harness.mjs';

const T = { timeout: 20_000 };

/* Runs the binary to completion (bounded); resolves {code, signal, stdout, stderr}. */
function run(args, { env = {} } = {}) {
    const fullEnv = { ...process.env, UPSTREAM_KEY, ...env };
    delete fullEnv.MISSING_VAR;
    return new Promise((resolve) => {
        execFile(GANTRY_BIN, args, { env: fullEnv, timeout: 10_000, encoding: 'utf8' }, (error, stdout, stderr) => {
            resolve({
                code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
                signal: error?.signal ?? null,
                spawnError: error && typeof error.code === 'string' ? error.code : null,
                stdout,
                stderr,
            });
        });
    });
}

const GOOD = `model_list:
  - model_name: gpt-mock
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:9/v1
      api_key: os.environ/UPSTREAM_KEY
      timeout: 30
    model_info:
      id: dep-1
  - model_name: fake-model
    litellm_params:
      model: fake/fake-1
      response: "Hello there"
general_settings:
  master_key: sk-test
server:
  host: 127.0.0.1
  port: 4000
  workers: 2
`;

/* 1-based line of the only line containing `needle`. */
function lineOf(text, needle) {
    const lines = text.split('\n');
    const hits = lines.flatMap((l, i) => (l.includes(needle) ? [i + 1] : []));
    assert.equal(hits.length, 1, `test bug: ${JSON.stringify(needle)} must occur on exactly one line`);
    return hits[0];
}

function replaced(text, from, to) {
    assert.ok(text.includes(from), `test bug: ${JSON.stringify(from)} not in the base config`);
    return text.replace(from, to);
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('command line', () => {
    let dir;

    before(() => {
        dir = tempDir('gantry-cli-');
    });
    after(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    function writeConfig(name, text) {
        const p = path.join(dir, name);
        writeFileSync(p, text);
        return p;
    }

    it('--version prints the version and exits 0', T, async () => {
        const r = await run(['--version']);
        assert.equal(r.spawnError, null, `cannot run ${GANTRY_BIN}: ${r.spawnError}`);
        assert.equal(r.code, 0, r.stderr);
        const version = /version:\s*'([^']+)'/.exec(readFileSync(path.join(REPO_ROOT, 'meson.build'), 'utf8'))[1];
        assert.ok(r.stdout.includes(version), `--version output ${JSON.stringify(r.stdout)} lacks ${version}`);
    });

    it('--help exits 0 and documents --config', T, async () => {
        const r = await run(['--help']);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(`${r.stdout}`.includes('--config'), `--help on stdout mentions --config: ${r.stdout}`);
    });

    it('--check accepts a good config', T, async () => {
        const file = writeConfig('good.yaml', GOOD);
        const r = await run(['--check', '--config', file]);
        assert.equal(r.code, 0, `stderr: ${r.stderr}`);
    });

    const BAD = [
        {
            name: 'unknown top-level key',
            text: `${GOOD}bogus_section:\n  x: 1\n`,
            at: 'bogus_section',
            mentions: ['bogus_section'],
        },
        {
            name: 'typo inside litellm_params',
            text: replaced(GOOD, '      timeout: 30', '      timeot: 30'),
            at: 'timeot',
            mentions: ['timeot'],
        },
        {
            name: 'wrong type (port: "abc")',
            text: replaced(GOOD, '  port: 4000', '  port: "abc"'),
            at: 'port: "abc"',
            mentions: ['port'],
        },
        {
            name: 'missing model_name',
            text: replaced(GOOD, '  - model_name: fake-model\n    litellm_params:', '  - litellm_params:'),
            at: '  - litellm_params:',
            mentions: ['model_name'],
        },
        {
            name: 'unknown provider prefix',
            text: replaced(GOOD, 'model: fake/fake-1', 'model: nosuch/x'),
            at: 'nosuch/x',
            mentions: ['nosuch'],
        },
        {
            name: 'missing environment variable',
            text: replaced(GOOD, 'api_key: os.environ/UPSTREAM_KEY', 'api_key: os.environ/MISSING_VAR'),
            at: 'MISSING_VAR',
            mentions: ['MISSING_VAR'],
        },
        {
            name: 'missing environment variable in ${...}',
            text: replaced(GOOD, 'api_base: http://127.0.0.1:9/v1', 'api_base: http://${MISSING_VAR}:9/v1'),
            at: '${MISSING_VAR}',
            mentions: ['MISSING_VAR'],
        },
    ];

    for (const [i, bad] of BAD.entries()) {
        it(`--check rejects: ${bad.name} → exit 1 with file:line:col`, T, async () => {
            const file = writeConfig(`bad-${i}.yaml`, bad.text);
            const line = lineOf(bad.text, bad.at);
            const r = await run(['--check', '--config', file]);
            assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
            assert.match(r.stderr, new RegExp(`${escapeRe(file)}:${line}:\\d+`),
                         `stderr must name ${file}:${line}:<col>; got:\n${r.stderr}`);
            for (const word of bad.mentions) {
                assert.ok(r.stderr.includes(word), `stderr should mention ${word}:\n${r.stderr}`);
            }
        });
    }

    it('--check on a typo\'d key suggests the key that was meant', T, async () => {
        const text = replaced(GOOD, '      timeout: 30', '      timeot: 30');
        const file = writeConfig('typo-hint.yaml', text);
        const r = await run(['--check', '--config', file]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /timeot[^\n]*timeout|timeout[^\n]*timeot/,
                     `a typo'd key should point at the intended 'timeout' (e.g. "did you mean"):\n${r.stderr}`);
    });

    describe('SIGTERM', () => {
        let mock;
        const gateways = [];
        before(async () => {
            mock = await startMock({ requireKey: UPSTREAM_KEY });
        });
        after(async () => {
            try {
                for (const gw of gateways) await gw.stop();
            } finally {
                await mock?.stop();
            }
        });

        async function gateway() {
            const gw = await startGateway({
                model_list: [mockDeployment(mock)],
                general_settings: { master_key: MASTER_KEY },
            });
            gateways.push(gw);
            return gw;
        }

        async function exitOf(gw) {
            const exit = await Promise.race([
                gw.exited,
                new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref()),
            ]);
            assert.notEqual(exit, 'timeout', 'the gateway did not exit within 10 s of SIGTERM');
            return { code: exit.code, signal: exit.signal };
        }

        it('an in-flight slow request completes, then the process exits 0', T, async () => {
            const gw = await gateway();
            const m = marker('drain');
            const pending = chat(gw, { model: 'gpt-mock', messages: userMessage(`[[delay:1500]] ${m}`) });
            await mock.waitForRequest(m);
            gw.child.kill('SIGTERM');
            const r = await pending;
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.choices[0].message.content, mockContent(3));
            assert.deepEqual(await exitOf(gw), { code: 0, signal: null },
                             `exit after SIGTERM; stderr:\n${gw.stderr().slice(-3000)}`);
        });

        it('an in-flight stream completes with [DONE]; new connections are refused meanwhile', T, async () => {
            const gw = await gateway();
            const m = marker('drain-stream');
            const pending = chat(gw, {
                model: 'gpt-mock', messages: userMessage(`[[chunks:10]][[chunk_delay:150]] ${m}`), stream: true,
            });
            await mock.waitForRequest(m);
            gw.child.kill('SIGTERM');
            /* "SIGTERM stops accepting connections": a fresh connection must be refused while the stream drains. */
            await waitFor(async () => {
                const probe = await curl([`${gw.url}/health/liveliness`], { timeout: 1000 }).catch((e) => e);
                return probe instanceof Error && /refused|Couldn't connect/i.test(probe.message);
            }, { timeout: 1000, interval: 50, what: 'new connections to be refused after SIGTERM' });
            const r = await pending;
            assert.equal(r.status, 200, r.text);
            assert.ok(r.text.endsWith('data: [DONE]\n\n'), `the stream finished: ${JSON.stringify(r.text.slice(-200))}`);
            const content = parseSSE(r.text).filter((e) => e.data !== '[DONE]')
                .map((e) => JSON.parse(e.data).choices?.[0]?.delta?.content ?? '').join('');
            assert.equal(content, mockContent(10));
            assert.deepEqual(await exitOf(gw), { code: 0, signal: null },
                             `exit after SIGTERM; stderr:\n${gw.stderr().slice(-3000)}`);
        });
    });
});
