#!/usr/bin/env python3
"""Spend routes at scale: fills a Gantry database with N spend log rows (default 1,000,000) and
their daily aggregates, starts the gateway on it, and prints how long each spend route takes.

    bench/spend.py [--rows N] [--build build]

It is not a test: it prints figures and fails only when something does not work at all.  The rows
are written straight into SQLite (the schema comes from the gateway's own migrations, run by a
first start), spread over 10,000 keys, 1,000 users, 100 teams, 5 models and 30 days."""
import argparse, json, os, random, signal, socket, sqlite3, subprocess, sys, tempfile, time, urllib.request

p = argparse.ArgumentParser()
p.add_argument('--rows', type=int, default=1_000_000)
p.add_argument('--build', default=os.environ.get('BUILD_DIR', 'build'))
a = p.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
gantry = os.path.join(root, a.build, 'gantry')
tmp = tempfile.mkdtemp(prefix='gantry-spend-')
db = os.path.join(tmp, 'gantry.db')
master = 'sk-bench-master'

def free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close(); return port

def start():
    port = free_port()
    cfg = os.path.join(tmp, 'gantry.yaml')
    with open(cfg, 'w') as f:
        f.write(f"""model_list:
  - model_name: m0
    litellm_params: {{model: fake/m0}}
general_settings: {{master_key: {master}, database_url: "sqlite:///gantry.db"}}
server: {{host: 127.0.0.1, port: {port}, workers: 2}}
""")
    proc = subprocess.Popen([gantry, '--config', cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(200):
        try:
            urllib.request.urlopen(f'http://127.0.0.1:{port}/health/liveliness', timeout=1).read()
            return proc, port
        except Exception:
            time.sleep(0.05)
    proc.kill(); sys.exit('gantry did not start: ' + proc.stderr.read().decode()[-2000:])

def stop(proc):
    proc.send_signal(signal.SIGTERM); proc.wait(timeout=30)

proc, _ = start(); stop(proc)  # migrations

rnd = random.Random(7)
day0 = int(time.time() * 1000) - 30 * 86400_000
keys = [f'{i:064x}' for i in range(10000)]
models = [f'model-{i}' for i in range(5)]
t = time.time()
con = sqlite3.connect(db)
con.execute('PRAGMA journal_mode=WAL'); con.execute('PRAGMA synchronous=OFF')
daily = {}
def rows():
    for i in range(a.rows):
        k = rnd.randrange(10000); m = models[rnd.randrange(5)]
        start_ms = day0 + rnd.randrange(30 * 86400_000)
        pt, ct = rnd.randrange(10, 2000), rnd.randrange(10, 800)
        cost = pt * 2500 + ct * 10000
        user, team = f'user-{k % 1000}', f'team-{k % 100}'
        day = time.strftime('%Y-%m-%d', time.gmtime(start_ms / 1000))
        for kind, ident in (('key', keys[k]), ('user', user), ('team', team), ('all', '')):
            d = daily.setdefault((day, kind, ident, m), [0, 0, 0, 0])
            d[0] += 1; d[1] += pt; d[2] += ct; d[3] += cost
        yield (f'req-{i:09d}', start_ms, keys[k], user, team, m, 'dep-0', 'fake', pt, ct, cost, 200, 150, 0)
con.executemany('INSERT INTO spend_logs(request_id, start_ms, key_hash, user_id, team_id, model_group, '
                'deployment, provider, prompt_tokens, completion_tokens, cost, status, latency_ms, '
                'cache_hit) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)', rows())
con.executemany('INSERT INTO spend_daily(day, kind, id, model, requests, failed, prompt_tokens, '
                'completion_tokens, cost) VALUES (?,?,?,?,?,0,?,?,?)',
                ((d, k, i, m, v[0], v[1], v[2], v[3]) for (d, k, i, m), v in daily.items()))
totals = {}
for (d, k, i, m), v in daily.items():
    if k != 'all':
        totals[(k, i)] = totals.get((k, i), 0) + v[3]
con.executemany('INSERT INTO gov_spend(kind, id, spend, total) VALUES (?,?,?,?)',
                ((k, i, c, c) for (k, i), c in totals.items()))
con.commit(); con.close()
print(f'{a.rows} spend rows and {len(daily)} daily aggregate rows written in {time.time() - t:.1f} s; '
      f'database {os.path.getsize(db) / 1e6:.0f} MB')

proc, port = start()
def timed(path, n=5):
    best = None
    for _ in range(n):
        t = time.perf_counter()
        req = urllib.request.Request(f'http://127.0.0.1:{port}{path}', headers={'Authorization': f'Bearer {master}'})
        body = urllib.request.urlopen(req, timeout=60).read()
        dt = (time.perf_counter() - t) * 1000
        best = dt if best is None or dt < best else best
    return best, len(body)
print(f'\n| route | best of 5, ms | response bytes |\n|---|---:|---:|')
for path in [f'/spend/logs?api_key={keys[42]}', f'/spend/logs?request_id=req-{a.rows // 2:09d}',
             '/spend/logs?limit=100', f'/spend/logs?user_id=user-7&limit=100', '/global/spend',
             '/global/spend/keys?limit=100', '/global/spend/teams?limit=100', '/global/spend/models',
             '/user/daily/activity?user_id=user-7', '/team/daily/activity?team_id=team-3']:
    ms, size = timed(path)
    print(f'| `{path}` | {ms:.1f} | {size} |')
stop(proc)
subprocess.run(['rm', '-rf', tmp])
