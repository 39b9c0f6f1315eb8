// HTTP/2: h2c with prior knowledge on plain listeners (the AWS SDK for JavaScript speaks it by
// default), h2 over TLS through ALPN, and each of them switched off in `server:`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';

import {
    GANTRY_BIN, MASTER_KEY, fakeDeployment, freePort, sleep, startGateway, tempDir, toYaml,
} from './harness.mjs';

// Plain curl: {code, stdout, stderr}, with a bounded run time.
function curl(args) {
    return new Promise((resolve) => {
        execFile('curl', ['--max-time', '10', ...args], { encoding: 'utf8', timeout: 15_000 },
            (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }));
    });
}

const chatBody = (stream = false) => JSON.stringify({
    model: 'fake-model', stream, messages: [{ role: 'user', content: 'hello over h2' }],
});

function baseConfig(server = {}) {
    return {
        model_list: [fakeDeployment({ response: 'Hi there friend' })],
        general_settings: { master_key: MASTER_KEY },
        server,
    };
}

// curl prints the negotiated HTTP version with -w; the body goes to stdout before it.
async function curlVersion(url, extra = []) {
    const r = await curl(['-sS', '-o', '/dev/null', '-w', '%{http_version}', ...extra, url]);
    return r;
}

describe('h2c on a plain listener', () => {
    let gw;
    before(async () => { gw = await startGateway(baseConfig()); });
    after(async () => { await gw?.stop(); });

    it('serves a chat completion over HTTP/2 with prior knowledge', async () => {
        const r = await curl(['-sS', '--http2-prior-knowledge', '-w', '\n%{http_version} %{http_code}',
            '-H', `Authorization: Bearer ${MASTER_KEY}`, '-H', 'Content-Type: application/json',
            '-d', chatBody(), `${gw.url}/v1/chat/completions`]);
        assert.equal(r.code, 0, r.stderr);
        const [body, meta] = r.stdout.split('\n');
        assert.equal(meta, '2 200');
        assert.equal(JSON.parse(body).choices[0].message.content, 'Hi there friend');
    });

    it('streams over HTTP/2', async () => {
        const r = await curl(['-sS', '-N', '--http2-prior-knowledge', '-H', `Authorization: Bearer ${MASTER_KEY}`,
            '-d', chatBody(true), `${gw.url}/v1/chat/completions`]);
        assert.equal(r.code, 0, r.stderr);
        const datas = r.stdout.split('\n').filter((l) => l.startsWith('data: '));
        assert.equal(datas.at(-1), 'data: [DONE]');
        const text = datas.slice(0, -1).map((l) => JSON.parse(l.slice(6)))
            .map((c) => c.choices[0]?.delta?.content ?? '').join('');
        assert.equal(text, 'Hi there friend');
    });

    it('serves many concurrent streams on one connection', async () => {
        const urls = [];
        for (let i = 0; i < 20; i++) urls.push(`${gw.url}/v1/chat/completions`);
        const args = ['-sS', '--http2-prior-knowledge', '--parallel', '--parallel-immediate',
            '-H', `Authorization: Bearer ${MASTER_KEY}`, '-H', 'Content-Type: application/json'];
        for (const u of urls) args.push('-d', chatBody(), '-w', '%{http_version}\n', u);
        const r = await curl(args);
        assert.equal(r.code, 0, r.stderr);
        assert.equal((r.stdout.match(/"Hi there friend"/g) || []).length, 20);
    });
});

describe('h2c switched off', () => {
    let gw;
    before(async () => { gw = await startGateway(baseConfig({ h2c: false })); });
    after(async () => { await gw?.stop(); });

    it('still answers HTTP/1.1 but not HTTP/2 prior knowledge', async () => {
        const v1 = await curlVersion(`${gw.url}/health/liveliness`);
        assert.equal(v1.stdout, '1.1');
        const v2 = await curlVersion(`${gw.url}/health/liveliness`, ['--http2-prior-knowledge', '--max-time', '3']);
        assert.notEqual(v2.stdout, '2', 'an HTTP/2 preface must not be accepted when h2c is off');
    });
});

// A self-signed certificate made for the test with the openssl command line tool.
function makeCert(dir) {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj',
        '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' });
    return { cert, key };
}

// startGateway() polls over plain HTTP, so TLS gateways are started here and polled with curl -k.
async function startTlsGateway(server) {
    const dir = tempDir('gantry-tls-');
    const { cert, key } = makeCert(dir);
    const port = await freePort();
    const cfg = baseConfig({ host: '127.0.0.1', port, workers: 2, tls_cert: cert, tls_key: key, ...server });
    const configPath = path.join(dir, 'gantry.yaml');
    writeFileSync(configPath, toYaml(cfg));
    const child = spawn(GANTRY_BIN, ['--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const url = `https://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    for (;;) {
        const r = await curl(['-sk', '-o', '/dev/null', '-w', '%{http_code}', `${url}/health/liveliness`]);
        if (r.stdout === '200') break;
        if (Date.now() > deadline || child.exitCode !== null) {
            child.kill('SIGKILL');
            throw new Error(`TLS gateway did not start:\n${stderr}`);
        }
        await sleep(50);
    }
    return {
        url,
        async stop() {
            child.kill('SIGTERM');
            const info = await exited;
            rmSync(dir, { recursive: true, force: true });
            assert.equal(info.code, 0, `gateway exit ${JSON.stringify(info)}\n${stderr}`);
        },
    };
}

describe('TLS', () => {
    let gw, gw1;
    before(async () => {
        gw = await startTlsGateway({});
        gw1 = await startTlsGateway({ http2: false });
    });
    after(async () => { await gw?.stop(); await gw1?.stop(); });

    it('negotiates h2 through ALPN and serves a completion', async () => {
        const r = await curl(['-sSk', '--http2', '-w', '\n%{http_version} %{http_code}',
            '-H', `Authorization: Bearer ${MASTER_KEY}`, '-d', chatBody(), `${gw.url}/v1/chat/completions`]);
        assert.equal(r.code, 0, r.stderr);
        const [body, meta] = r.stdout.split('\n');
        assert.equal(meta, '2 200');
        assert.equal(JSON.parse(body).choices[0].message.content, 'Hi there friend');
    });

    it('still speaks HTTP/1.1 over TLS to clients that ask for it', async () => {
        const r = await curlVersion(`${gw.url}/health/liveliness`, ['-k', '--http1.1']);
        assert.equal(r.stdout, '1.1');
    });

    it('offers only HTTP/1.1 when http2 is off', async () => {
        const r = await curlVersion(`${gw1.url}/health/liveliness`, ['-k', '--http2']);
        assert.equal(r.stdout, '1.1');
    });
});
