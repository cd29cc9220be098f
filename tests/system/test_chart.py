# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run chart in a real headless Chromium: a frame whose controller is killed, recovered and rerun; the page
loads with no console error, has one bar per attempt in its job's row, ordered by the jobs' own clocks, the
controller loss and the recovery marked. A screenshot is kept in .tmp/artifacts/run-chart.png."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from frames import kill9, ledger_dir, snapshot, start_playbook, wait_for, write_frame

DATE = '2026-11-27'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


def chromium(*args, timeout=120):
    argv = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run',
            '--enable-logging=stderr', '--v=0'] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason='chromium is installed by hack/setup.sh')
def test_run_chart_shows_every_attempt_recovery_and_rerun_in_chromium(testenv, tmp_path, run_playbook):
    flags = ledger_dir()
    gate, ok = flags / 'gate', flags / 'ok'
    url = 'sqlite:///%s' % (tmp_path / 'state.db')
    env = {'JOBNET_STORE': url, 'JOBNET_CHART_DIR': str(tmp_path / 'charts')}
    frame = {'frame': 'charted', 'jobs': [
        {'name': 'a', 'host': 'agent1', 'shell': 'sleep 1'},
        {'name': 'b', 'host': 'agent2', 'after': ['a'],
         'shell': 'i=0; while [ ! -f %s ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done' % gate},
        {'name': 'c', 'host': 'agent3', 'after': ['a'], 'shell': 'sleep 1; [ -f %s ] || exit 4' % ok},
        {'name': 'd', 'host': 'localhost', 'after': ['b', 'c'], 'shell': 'sleep 1'}]}
    path = write_frame(tmp_path, frame)
    iid = 'charted@%s' % DATE
    proc = start_playbook(testenv, ['jobnet.scheduler.run', '-e', 'frame_file=%s' % path,
                                    '-e', 'operation_date=%s' % DATE], str(tmp_path / 'run.log'), env=env)
    try:
        wait_for('b running and c ended', lambda: (snapshot(url, iid)['b']['state'] == 'running'
                                                   and snapshot(url, iid)['c']['state'] == 'abnormal_end'))
    finally:
        kill9(proc)
    gate.write_text('')
    out = run_playbook(['jobnet.scheduler.recover', '-e', 'operation_date=%s' % DATE], env=env, timeout=300)
    assert out.returncode == 2, out.stdout[-3000:]   # c is still abnormal_end
    ok.write_text('')
    out = run_playbook(['jobnet.scheduler.rerun', '-e', 'frame=charted', '-e', 'operation_date=%s' % DATE],
                       env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    # every driving playbook wrote the chart in chart_dir; the chart playbook writes it where asked
    assert (tmp_path / 'charts' / ('%s.html' % iid)).exists()
    page = tmp_path / 'chart.html'
    out = run_playbook(['jobnet.scheduler.chart', '-e', 'frame=charted', '-e', 'chart_html=%s' % page], env=env)
    assert out.returncode == 0 and 'run chart of %s' % iid in out.stdout, out.stdout[-3000:]
    html = page.read_text()
    assert 'http://' not in html.replace('http://www.w3.org/2000/svg', '') and 'https://' not in html
    assert '<script' not in html and 'http-equiv="refresh"' not in html   # the frame is over: no reload

    shot = os.path.join(REPO, '.tmp', 'artifacts', 'run-chart.png')
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    res = chromium('--window-size=1400,400', '--screenshot=%s' % shot, page.as_uri())
    assert res.returncode == 0 and os.path.getsize(shot) > 5000, res.stderr[-2000:]
    res = chromium('--dump-dom', page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if 'CONSOLE' in line or 'Uncaught' in line]
    assert not console, console
    dom = res.stdout

    bars = re.findall(r'<g class="bar" data-attempt="([^"]+)" data-path="([^"]+)" data-state="([^"]+)" '
                      r'data-start="([^"]*)" data-end="([^"]*)"><title>[^<]*</title><rect x="([\d.]+)" y="(\d+)"', dom)
    snap = snapshot(url, iid)
    expected = sorted('%s:%d' % (p, n) for p in 'abcd' for n in range(1, snap[p]['attempt'] + 1))
    assert sorted('%s:%s' % (b[1], b[0].rsplit('.', 1)[1]) for b in bars) == expected == \
        ['a:1', 'b:1', 'c:1', 'c:2', 'd:1']
    states = {(b[1], b[0].rsplit('.', 1)[1]): b[2] for b in bars}
    assert states[('c', '1')] == 'abnormal_end' and states[('c', '2')] == 'normal_end', states
    rows = {}
    for _aid, p, _st, start, _end, x, y in bars:
        rows.setdefault(p, set()).add(y)
    assert all(len(ys) == 1 for ys in rows.values()) and len({min(ys) for ys in rows.values()}) == 4, rows
    # left to right in the order the jobs started (their own clocks)
    by_start = sorted(bars, key=lambda b: b[3])
    xs = [float(b[5]) for b in by_start]
    assert xs == sorted(xs) and 300 <= xs[0] < xs[-1] <= 1300, by_start
    assert float([b for b in bars if b[1] == 'd'][0][5]) > float([b for b in bars if b[0].endswith('c.1')][0][5])
    assert dom.count('class="mark" data-kind="recovery"') == 1
    assert dom.count('class="mark" data-kind="controller-lost"') == 1
    assert dom.count('class="dep"') == 4   # a->b, a->c, b->d, c->d
