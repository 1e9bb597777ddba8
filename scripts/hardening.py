#!/usr/bin/env python3
"""Load for the hardening scripts (scripts/slow-client.sh, outage.sh,
mixed-load.sh): Python's standard library only. Each command prints its
figures as `name: value` lines.

    hardening.py seed COMPANIES SESSIONS          the import lines, to stdout
    hardening.py slow ADDR KEY SECRET SECONDS SLOW
    hardening.py outage ADDR TOKEN KEY SECRET EVENTS_OUT CONTROL_FIFO
    hardening.py writers ADDR TOKEN SECONDS WRITERS FIRST_COMPANY COMPANIES SESSIONS [EVENTS_OUT]
    hardening.py idle COMPANY SESSIONS             import lines of sessions due for deactivation
"""

import base64
import datetime
import http.client
import json
import os
import socket
import sys
import threading
import time

MONTH = "2026-01-01"


def session_id(company, n):
    return company * 100_000 + n


def participation_id(company, n):
    """Far above the sessions, ten apart: the host's own participation
    takes the next id after each session's guest."""
    return 10_000_000_000 + session_id(company, n) * 10


def seed(companies, sessions):
    """Companies 1..N, one host each, SESSIONS sessions in January 2026."""
    for company in range(1, companies + 1):
        print(json.dumps({"Type": "Company", "CompanyId": company, "Name": f"Load {company}",
                          "IncludedSessionsPerMonth": 10, "OveragePriceCents": 500}))
        user = company * 100_000
        print(json.dumps({"Type": "User", "CompanyId": company, "UserId": user,
                          "FullName": f"Host {company}", "EmailAddress": f"host{company}@load.example"}))
        for n in range(1, sessions + 1):
            day = 1 + n % 28
            print(json.dumps({
                "Type": "Session", "CompanyId": company, "SessionId": session_id(company, n),
                "UserId": user, "ScheduleTs": f"2026-01-{day:02d}T10:00:00", "ScheduleType": "Scheduled",
                "Participants": [{"ParticipationId": participation_id(company, n),
                                  "ParticipantFullName": f"Guest {n}",
                                  "ParticipantEmailAddress": f"guest{n}@load.example"}]}))
        # A 25-minute call in each: every session is in the month's History.
        for n in range(1, sessions + 1):
            day = 1 + n % 28
            sid = session_id(company, n)
            for kind, minute in (("Connect", "01"), ("Disconnect", "26")):
                ts = f"2026-01-{day:02d}T10:{minute}:00"
                print(json.dumps({"Type": kind, "EventId": f"seed-{sid}-h-{kind}", "SessionId": sid,
                                  "Party": "Host", "CallId": f"seed-{sid}-h", "Ts": ts}))
                print(json.dumps({"Type": kind, "EventId": f"seed-{sid}-p-{kind}", "SessionId": sid,
                                  "Party": "Participant", "ParticipationId": participation_id(company, n),
                                  "CallId": f"seed-{sid}-p", "Ts": ts}))


def idle(company, sessions):
    """A company whose SESSIONS sessions were scheduled three days ago and
    recorded ten days ago: all due for automatic deactivation."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    long_ago = (now - datetime.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S")
    day = (now - datetime.timedelta(days=3)).strftime("%Y-%m-%d")
    user = company * 100_000
    print(json.dumps({"Type": "Company", "CompanyId": company, "Name": f"Idle {company}",
                      "RecordedTs": long_ago}))
    print(json.dumps({"Type": "User", "CompanyId": company, "UserId": user,
                      "FullName": f"Host {company}", "EmailAddress": f"host{company}@idle.example",
                      "RecordedTs": long_ago}))
    for n in range(1, sessions + 1):
        print(json.dumps({"Type": "Session", "CompanyId": company, "SessionId": session_id(company, n),
                          "UserId": user, "ScheduleTs": f"{day}T10:00:00", "RecordedTs": long_ago}))


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def request(host, port, method, path, headers=None, body=None, timeout=30, connection=None):
    """One request: (status, body, seconds); status 0 on a failure."""
    started = time.monotonic()
    own = connection is None
    try:
        if own:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        status = response.status
    except Exception as error:  # noqa: BLE001 (a failure is a figure)
        data = str(error).encode()
        status = 0
        if not own:
            connection.close()
    finally:
        if own and connection is not None:
            connection.close()
    return status, data, time.monotonic() - started


def basic(key, secret):
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def slow(addr, key, secret, seconds, count):
    """COUNT slow connections (headers trickled a byte a second, reopened
    when the server closes them) while a normal client reads every 20 ms on
    a new connection each time."""
    host, port = addr.split(":")
    port = int(port)
    stop = time.monotonic() + seconds
    state = {"open_peak": 0, "opened": 0, "closed_by_server": 0, "connect_failures": 0}

    def attacker():
        sockets = []

        def open_one():
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect_ex((host, port))
            except OSError:
                state["connect_failures"] += 1
                s.close()
                return
            sockets.append([s, False])
            state["opened"] += 1

        while time.monotonic() < stop:
            while len(sockets) < count:
                open_one()
            state["open_peak"] = max(state["open_peak"], len(sockets))
            survivors = []
            for entry in sockets:
                s, started = entry
                try:
                    s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " if not started else b"a")
                    entry[1] = True
                    try:
                        if s.recv(1024) == b"":
                            raise ConnectionError("closed")
                    except (BlockingIOError, InterruptedError):
                        pass
                    survivors.append(entry)
                except (BlockingIOError, InterruptedError):
                    survivors.append(entry)
                except OSError:
                    state["closed_by_server"] += 1
                    s.close()
            sockets[:] = survivors
            time.sleep(1)
        for s, _ in sockets:
            s.close()

    thread = threading.Thread(target=attacker, daemon=True)
    thread.start()
    time.sleep(3)  # let the slow connections pile up first
    latencies, failures, statuses = [], 0, {}
    auth = {"Authorization": basic(key, secret)}
    while time.monotonic() < stop:
        status, _, took = request(host, port, "GET", "/user", auth, timeout=10)
        statuses[status] = statuses.get(status, 0) + 1
        if status != 200:
            failures += 1
        latencies.append(took)
        time.sleep(0.02)
    thread.join()
    print(f"slow_connections_target: {count}")
    print(f"slow_connections_open_peak: {state['open_peak']}")
    print(f"slow_connections_opened: {state['opened']}")
    print(f"slow_connections_closed_by_server: {state['closed_by_server']}")
    print(f"normal_requests: {len(latencies)}")
    print(f"normal_statuses: {json.dumps(statuses)}")
    print(f"normal_failures: {failures}")
    print(f"normal_p50_ms: {percentile(latencies, 0.5) * 1000:.1f}")
    print(f"normal_p99_ms: {percentile(latencies, 0.99) * 1000:.1f}")
    print(f"normal_max_ms: {max(latencies) * 1000:.1f}")


def host_events(company, writer, batch, size, sessions):
    """SIZE events: calls connected and disconnected in the writer's company."""
    events = []
    for n in range(size // 2):
        session = session_id(company, 1 + (batch * 7 + n) % sessions)
        call = f"w{writer}-b{batch}-c{n}"
        day = 1 + ((session % 100_000) % 28)
        for kind, minute in (("Connect", "05"), ("Disconnect", "35")):
            events.append({"EventId": f"{call}-{kind}", "SessionId": session, "Type": kind,
                           "Party": "Host", "CallId": call, "Ts": f"2026-01-{day:02d}T10:{minute}:00"})
    return events


def writers(addr, token, seconds, count, first_company, companies, sessions, events_out=None):
    """COUNT writers posting batches of 20 events into their own companies
    (FIRST_COMPANY onwards) for SECONDS; prints what they managed, and
    writes the events of acknowledged batches to EVENTS_OUT if given, one
    `COMPANY EVENTID` a line (EventIds are unique within a company)."""
    host, port = addr.split(":")
    port = int(port)
    stop = time.monotonic() + seconds
    totals = {"batches": 0, "failures": 0, "events": 0}
    lock = threading.Lock()
    acknowledged = []

    def writer(index):
        company = first_company + index % companies
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        batch = 0
        while time.monotonic() < stop:
            events = host_events(company, index, batch, 20, sessions)
            body = json.dumps(events)
            status, data, _ = request(host, port, "POST", "/operator/events", headers, body,
                                      connection=connection)
            if status == 0:
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
            with lock:
                if status == 200:
                    totals["batches"] += 1
                    totals["events"] += json.loads(data).get("Accepted", 0)
                    acknowledged.extend(f"{company} {event['EventId']}" for event in events)
                else:
                    totals["failures"] += 1
                    if totals["failures"] < 4:
                        print(f"writer_failure: {status} {data[:200]!r}", file=sys.stderr)
            batch += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"writer_batches: {totals['batches']}")
    print(f"writer_events_accepted: {totals['events']}")
    print(f"writer_failures: {totals['failures']}")
    print(f"writer_batches_per_s: {totals['batches'] / seconds:.1f}")
    print(f"writer_events_per_s: {totals['batches'] * 20 / seconds:.1f}")
    if events_out:
        with open(events_out, "w") as out:
            out.writelines(f"{event}\n" for event in acknowledged)


def outage(addr, token, key, secret, events_out, control):
    """Load through an outage: 4 writers (event batches, EventIds recorded
    when acknowledged), 4 readers, and /readyz every 100 ms, until a line
    comes on CONTROL. Marks ("stop", "start") come on CONTROL too."""
    host, port = addr.split(":")
    port = int(port)
    done = threading.Event()
    lock = threading.Lock()
    log = []  # (time, kind, status, seconds)
    acknowledged = []
    marks = {}

    def record(kind, status, took):
        with lock:
            log.append((time.monotonic(), kind, status, took))

    def writer(index):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        batch = 0
        while not done.is_set():
            events = host_events(1, index, batch, 10, 200)
            status, _, took = request(host, port, "POST", "/operator/events", headers,
                                      json.dumps(events), timeout=60)
            record("write", status, took)
            if status == 200:
                with lock:
                    acknowledged.extend(f"{company} {event['EventId']}" for event in events)
            batch += 1
            time.sleep(0.02)

    def reader():
        auth = {"Authorization": basic(key, secret)}
        while not done.is_set():
            status, _, took = request(host, port, "GET", f"/history?month={MONTH}", auth, timeout=60)
            record("read", status, took)
            time.sleep(0.02)

    def ready():
        while not done.is_set():
            status, _, took = request(host, port, "GET", "/readyz", timeout=60)
            record("readyz", status, took)
            time.sleep(0.1)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    threads.append(threading.Thread(target=ready))
    for thread in threads:
        thread.start()
    with open(control) as commands:
        for line in commands:
            word = line.strip()
            if word == "end":
                break
            marks[word] = time.monotonic()
    done.set()
    for thread in threads:
        thread.join()
    with open(events_out, "w") as out:
        out.write("\n".join(acknowledged) + "\n")

    stopped, started = marks.get("stop"), marks.get("start")
    by_status = {}
    for _, kind, status, _ in log:
        by_status.setdefault(kind, {}).setdefault(status, 0)
        by_status[kind][status] += 1
    print(f"statuses: {json.dumps(by_status, sort_keys=True)}")
    print(f"answers_500: {sum(1 for e in log if e[2] == 500)}")
    print(f"answers_failed_connection: {sum(1 for e in log if e[2] == 0)}")
    during = [e for e in log if stopped and started and stopped <= e[0] - e[3] and e[0] <= started]
    print(f"requests_during_outage: {len(during)}")
    print(f"slowest_answer_during_outage_ms: {max((e[3] for e in during), default=0) * 1000:.0f}")
    print(f"slowest_answer_overall_ms: {max((e[3] for e in log), default=0) * 1000:.0f}")
    first_503 = min((e[0] for e in log if e[2] == 503 and stopped and e[0] >= stopped), default=None)
    if first_503 is not None:
        print(f"first_503_after_stop_ms: {(first_503 - stopped) * 1000:.0f}")
    readyz_503 = min((e[0] for e in log if e[1] == "readyz" and e[2] == 503 and e[0] >= stopped), default=None)
    if readyz_503 is not None:
        print(f"readyz_503_after_stop_ms: {(readyz_503 - stopped) * 1000:.0f}")
    down = marks.get("stopped")
    if down is not None:
        print(f"server_shutdown_took_ms: {(down - stopped) * 1000:.0f}")
        readyz_down = min((e[0] for e in log if e[1] == "readyz" and e[2] == 503 and e[0] >= down),
                          default=None)
        if readyz_down is not None and readyz_503 is not None:
            print(f"readyz_503_after_shutdown_done_ms: {max(0, readyz_503 - down) * 1000:.0f}")
    ready_again = min((e[0] for e in log if e[1] == "readyz" and e[2] == 200 and started and e[0] >= started),
                      default=None)
    if ready_again is not None:
        print(f"readyz_200_after_start_ms: {(ready_again - started) * 1000:.0f}")
    ok_after = sum(1 for e in log if started and e[0] - e[3] >= started + 5 and e[2] == 200)
    bad_after = sum(1 for e in log if started and e[0] - e[3] >= started + 5 and e[2] != 200)
    print(f"ok_from_5s_after_start: {ok_after}")
    print(f"not_ok_from_5s_after_start: {bad_after}")
    print(f"events_acknowledged: {len(acknowledged)}")


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "seed":
        seed(int(args[0]), int(args[1]))
    elif command == "slow":
        slow(args[0], args[1], args[2], float(args[3]), int(args[4]))
    elif command == "writers":
        writers(args[0], args[1], float(args[2]), int(args[3]), int(args[4]), int(args[5]), int(args[6]),
                args[7] if len(args) > 7 else None)
    elif command == "idle":
        idle(int(args[0]), int(args[1]))
    elif command == "outage":
        outage(*args[:6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
