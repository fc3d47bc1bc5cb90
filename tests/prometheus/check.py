"""The Prometheus half of tests/prometheus/run.sh (standard library only).

    python3 check.py PROMETHEUS_URL DASHBOARD_DIR JOBS_JSON COUNTS_FILE

JOBS_JSON: {"job": {"namespaces": [...], "accumulates": bool}, ...}, the
scrape jobs run.sh configured and the namespaces each one's workload uses.

1. Waits until every job's target is `up` (/api/v1/targets).
2. Evaluates every PromQL `expr` of DASHBOARD_DIR/*.json through
   /api/v1/query, with Grafana's template variables substituted as Grafana
   would: `$namespace` (multi-value, "All") as the regex of the values its own
   query (`label_values(...)`, asked through /api/v1/label/.../values) finds,
   and once more per job with that job's namespaces only, as a user picking
   one service's namespaces does. Each evaluation must return at least one
   series; queries still empty at the deadline are reported per file.
3. Checks that each job's workload moved the counters the dashboards read
   (through Prometheus, with the job's label), and for the cluster job that
   every node has its `cachekit_redis_node_up`.

Writes "PASSED EVALUATED SERIES FAILURES" (queries that returned series,
queries evaluated, series returned, failures) to COUNTS_FILE; exits 1 on any failure.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PROM, DASHBOARDS, JOBS, COUNTS = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3]), Path(sys.argv[4])

# Grafana's interval variables, for a data source scraped every second
# (Grafana's $__rate_interval is at least four scrape intervals).
INTERVALS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
}
DEADLINE = 45.0  # seconds for targets to come up and queries to have data


def api(path: str, **params: str) -> dict:
    url = f"{PROM}{path}?{urllib.parse.urlencode(params)}" if params else f"{PROM}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.load(resp)
    except urllib.error.HTTPError as e:  # a bad query: Prometheus says why in the body
        doc = json.loads(e.read() or b"{}")
        raise RuntimeError(doc.get("error", str(e))) from None
    if doc.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {doc}")
    return doc["data"]


def query(expr: str) -> list[dict]:
    return api("/api/v1/query", query=expr)["result"]


def wait_for_targets() -> bool:
    start = time.monotonic()
    while True:
        targets = api("/api/v1/targets")["activeTargets"]
        health = {t["labels"]["job"]: (t["health"], t.get("lastError", "")) for t in targets}
        down = {j: health.get(j, ("missing", "not a target")) for j in JOBS if health.get(j, ("",))[0] != "up"}
        if not down:
            print(f"targets up: {', '.join(sorted(JOBS))} ({time.monotonic() - start:.1f} s)")
            return True
        if time.monotonic() - start > DEADLINE:
            for job, (state, err) in sorted(down.items()):
                print(f"FAIL target {job} is {state}: {err}")
            return False
        time.sleep(0.5)


def panels(items: list) -> list[dict]:
    """Panels, including those nested in rows."""
    out = []
    for p in items or []:
        out.append(p)
        out.extend(panels(p.get("panels", [])))
    return out


def grafana_regex(values: list[str]) -> str:
    """A multi-value variable in a regex matcher, as Grafana formats it."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def substitute(expr: str, variables: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in variables:
            raise KeyError(name)
        return variables[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", one, expr)


def label_values(definition: str) -> tuple[str, list[str]]:
    m = re.fullmatch(r"\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*", definition)
    if not m:
        raise ValueError(f"not a label_values() query: {definition}")
    selector, label = m.group(1), m.group(2)
    params = {"match[]": selector} if selector else {}
    return label, api(f"/api/v1/label/{label}/values", **params)


def main() -> int:
    if not wait_for_targets():
        COUNTS.write_text("0 0 0 1\n")
        return 1
    # Two samples of every series at least, so that rate() has something.
    time.sleep(3)
    start = time.monotonic()
    failures: list[str] = []
    evaluated = 0  # queries evaluated
    passed = 0  # of which returned series
    series = 0
    all_namespaces = sorted({ns for j in JOBS.values() for ns in j["namespaces"]})

    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        name = path.name
        # Template variables: each query variable's own query must find the
        # namespaces of every job (Grafana lists them from it).
        variables: dict[str, list[str]] = {}
        for var in board.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            definition = var["query"] if isinstance(var["query"], str) else var["query"].get("query", "")
            while True:
                _, found = label_values(definition)
                missing = [ns for ns in all_namespaces if ns not in found]
                if not missing or time.monotonic() - start > DEADLINE:
                    break
                time.sleep(1)
            evaluated += 1
            if missing:
                failures.append(f"{name}: variable ${var['name']} ({definition}) lacks {missing}")
                print(f"FAIL {name}: ${var['name']} = {definition}: no {missing} among {found}")
            else:
                passed += 1
                series += len(found)
                print(f"ok   {name}: ${var['name']} = {definition}: {len(found)} values")
            variables[var["name"]] = [v for v in found if v in all_namespaces] or found

        exprs = [
            (f'"{p.get("title", "")}" {t.get("refId", "")}', t["expr"])
            for p in panels(board.get("panels", []))
            for t in p.get("targets", [])
            if t.get("expr")
        ]
        if not exprs:
            failures.append(f"{name}: no PromQL expr")
            print(f"FAIL {name}: no PromQL expr in its panels")
        for panel, expr in exprs:
            counts = []
            # (what the namespace variable holds, the job whose series are expected)
            scopes: list[tuple[str, list[str]]] = [("all", variables.get("namespace", all_namespaces))]
            if "namespace" in variables and re.search(r"\$\{?namespace\b|\[\[namespace\]\]", expr):
                scopes += [(job, spec["namespaces"]) for job, spec in sorted(JOBS.items())]
            for scope, values in scopes:
                env = dict(INTERVALS)
                env.update({k: grafana_regex(v) for k, v in variables.items()})
                if "namespace" in variables:
                    env["namespace"] = grafana_regex(values)
                try:
                    promql = substitute(expr, env)
                except KeyError as e:
                    failures.append(f"{name} {panel}: unknown template variable ${e.args[0]} in {expr}")
                    print(f"FAIL {name} {panel}: unknown template variable ${e.args[0]} in: {expr}")
                    break
                while True:
                    try:
                        result, error = query(promql), None
                    except Exception as e:  # a PromQL error is a failure, not a retry
                        result, error = [], str(e)
                    if result or error or time.monotonic() - start > DEADLINE:
                        break
                    time.sleep(1)
                evaluated += 1
                if result:
                    passed += 1
                    series += len(result)
                    counts.append(f"{scope} {len(result)}")
                else:
                    why = f"error: {error}" if error else "no series"
                    failures.append(f"{name} {panel} [{scope}]: {why}: {promql}")
                    print(f"FAIL {name} {panel} [{scope}] {why}: {promql}")
            if counts:
                print(f"ok   {name} {panel}: series for {', '.join(counts)}")

    # The workload of each job moved the counters the dashboards read. PHP's
    # counters live for one request (see router.php): they are checked for a
    # value, the others for an increase between scrapes as well.
    moved = [
        ("get l1_hit", 'redis_cache_operations_total{{job="{j}",operation="get",status="l1_hit"}}'),
        ("get l2_hit", 'redis_cache_operations_total{{job="{j}",operation="get",status="l2_hit"}}'),
        ("get miss", 'redis_cache_operations_total{{job="{j}",operation="get",status="miss"}}'),
        ("set success", 'redis_cache_operations_total{{job="{j}",operation="set",status="success"}}'),
        ("delete success", 'redis_cache_operations_total{{job="{j}",operation="delete",status="success"}}'),
        ("fill lease", 'redis_cache_operations_total{{job="{j}",operation="fill",status="lease"}}'),
        ("L1 hits", 'cachekit_l1_hits_total{{job="{j}"}}'),
        ("L1 misses", 'cachekit_l1_misses_total{{job="{j}"}}'),
        ("L2 get latency", 'redis_cache_operation_duration_seconds_count{{job="{j}",operation="get"}}'),
    ]
    for job, spec in sorted(JOBS.items()):
        checks = [(what, f"sum(max_over_time({sel.format(j=job)}[5m])) > 0") for what, sel in moved]
        checks.append(("L1 entries", f'max_over_time(cachekit_l1_entries{{job="{job}"}}[5m]) > 0'))
        if spec["accumulates"]:
            checks += [(f"{what} increases", f"sum(increase({sel.format(j=job)}[5m])) > 0") for what, sel in moved]
        bad = []
        for what, promql in checks:
            while not (result := query(promql)) and time.monotonic() - start <= DEADLINE:
                time.sleep(1)
            if not result:
                bad.append(f"{what} ({promql})")
        if bad:
            failures += [f"workload of {job}: {b}" for b in bad]
            print(f"FAIL workload of {job} did not move: {'; '.join(bad)}")
        else:
            print(f"ok   workload of {job}: {len(checks)} counters moved")
        if spec.get("cluster_nodes"):
            promql = f'cachekit_redis_node_up{{job="{job}"}} == 1'
            while len(result := query(promql)) < spec["cluster_nodes"] and time.monotonic() - start <= DEADLINE:
                time.sleep(1)
            if len(result) < spec["cluster_nodes"]:
                failures.append(f"{job}: {len(result)} of {spec['cluster_nodes']} cluster nodes up")
                print(f"FAIL {job}: {len(result)} cluster nodes with {promql}, want {spec['cluster_nodes']}")
            else:
                print(f"ok   {job}: {len(result)} cluster nodes report cachekit_redis_node_up 1")

    COUNTS.write_text(f"{passed} {evaluated} {series} {len(failures)}\n")
    if failures:
        print(f"{len(failures)} failure(s):")
        for f in failures:
            print(f"  {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
