#!/usr/bin/env python3
"""Re-runs the abuse scenarios of the hardening work against a running `shopkeep serve` on
loopback and prints one figure per scenario. Standard library only. Every loop is bounded in
count and time, and every request goes to the given loopback address only.

    shopkeep serve --demo --port 18500 --data-dir /tmp/attack   # with the env below
    scripts/attack-checks.py http://127.0.0.1:18500 [--pid PID] [--desk-password PW]

The server is expected to run with SHOPKEEP_POLICY=tau-retail (email-only identity: the
privacy scenario needs it), SHOPKEEP_ADMIN_TOKEN set (passed here as SHOPKEEP_ADMIN_TOKEN too),
SHOPKEEP_EMAIL_STORE_ADDRESS and SHOPKEEP_EMAIL_INBOUND_SECRET (passed here too) and a desk user
agent@example.com with --desk-password.
"""
import argparse, http.client, json, os, socket, sys, threading, time, urllib.error, urllib.parse, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("--pid", type=int, help="the server's pid, to read its resident memory")
ap.add_argument("--desk-password", default="")
args = ap.parse_args()
base = args.url.rstrip("/")
host, port = urllib.parse.urlparse(base).hostname, urllib.parse.urlparse(base).port
assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
admin = os.environ.get("SHOPKEEP_ADMIN_TOKEN", "")
inbound = os.environ.get("SHOPKEEP_EMAIL_INBOUND_SECRET", "")


def post(path, body, headers=None, timeout=30, source=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"content-type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=data, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}"), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"{}"), dict(e.headers)
        except ValueError:
            return e.code, {"raw": raw[:200].decode("latin1")}, dict(e.headers)


def get(path, timeout=30):
    req = urllib.request.Request(base + path, headers={"authorization": f"Bearer {admin}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {}


def open_handoffs():
    status, body = get("/v1/handoffs?status=open")
    return len(body.get("handoffs", [])) if status == 200 else None


def rss_kb():
    if not args.pid:
        return None
    with open(f"/proc/{args.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def fd_count():
    return len(os.listdir(f"/proc/{args.pid}/fd")) if args.pid else None


def say(message, conversation=None, forwarded=None):
    body = {"message": message}
    if conversation:
        body["conversation_id"] = conversation
    return post("/v1/answer", body)


def report(name, figure):
    print(f"{name:<34} {figure}", flush=True)


# 1. Another customer's order in a hand-off packet (email-only identity).
s, a, _ = say("Where is order LF-100005? my email is maya.chen@example.com")
conversation = a.get("conversation_id")
s2, b, _ = say("I want to talk to a person", conversation)
hid = (b.get("handoff") or {}).get("id") or (a.get("handoff") or {}).get("id")
status, h = get(f"/v1/handoffs/{hid}") if hid else (None, {})
packet = h.get("packet", {})
order = packet.get("order") or {}
report("1 privacy: packet order", f"identity {packet.get('identity', {}).get('customer_id')}, order {order.get('number')} of {order.get('customer_id')} (hand-off {hid})")

# 5 (run before 2, whose guesses leave this client limited). The weak factor: one common postcode against 200 order numbers.
opened = 0
limited = 0
for i in range(1, 201):
    s, a, _ = say(f"status of order LF-{100000 + i}, zip 97210")
    opened += bool(a.get("order"))
    limited += s == 429
report("5 postcode guessing (200 orders)", f"opened {opened}, refused 429 {limited}")

# 2. Flooding the human queue.
before = open_handoffs()
codes = {}
for i in range(300):
    s, _, _ = say(f"where is order LF-1{i:05d}? my email is guess{i}@example.com")
    codes[s] = codes.get(s, 0) + 1
after = open_handoffs()
report("2a 300 refused lookups", f"statuses {codes}; hand-offs opened {after - before if None not in (before, after) else '?'}")
before = after
codes = {}
for i in range(31):
    s, _, _ = say("I want to talk to a human")
    codes[s] = codes.get(s, 0) + 1
after = open_handoffs()
report("2b 31 'talk to a human'", f"statuses {codes}; hand-offs opened {after - before if None not in (before, after) else '?'}")

# 3. Slow clients: 48 slow bodies, then real customers; idle sockets; per-address cap.
slow = []
for _ in range(48):
    c = socket.create_connection((host, port))
    c.sendall(b"POST /v1/answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    slow.append(c)
time.sleep(0.5)
ok = 0
t0 = time.time()
for _ in range(20):
    s, _, _ = say("How long do refunds take?")
    ok += s == 200
report("3a 48 slow bodies: real answers", f"{ok}/20 answered 200 in {time.time() - t0:.2f} s")
t0 = time.time()
answered_408 = 0
for c in slow:
    c.settimeout(30)
    try:
        data = c.recv(64)
        answered_408 += data.startswith(b"HTTP/1.1 408")
    except OSError:
        pass
    c.close()
report("3b slow bodies cut off", f"{answered_408}/48 got 408 within {time.time() - t0:.1f} s")
idle = []
fds_before = fd_count()
for _ in range(2000):
    try:
        idle.append(socket.create_connection((host, port)))
    except OSError:
        break
time.sleep(0.5)
t0 = time.time()
# Another client (another loopback address): the idle sockets' address is at its cap.
other = http.client.HTTPConnection(host, port, timeout=10, source_address=("127.0.0.2", 0))
other.request("GET", "/healthz")
s = other.getresponse().status
other.close()
report("3c 2000 idle sockets, one address", f"opened {len(idle)}; server fds {fds_before} -> {fd_count()}; /healthz from 127.0.0.2: {s} in {1000 * (time.time() - t0):.0f} ms")
deadline = time.time() + 30
closed = 0
for c in idle:
    c.settimeout(max(0.1, deadline - time.time()))
    try:
        closed += c.recv(1) == b""
    except OSError:
        pass
    c.close()
report("3d idle sockets closed by server", f"{closed}/{len(idle)} within {time.time() - (deadline - 30):.1f} s; server fds now {fd_count()}")

# 4. Desk login: parallel wrong passwords; memory.
if args.desk_password:
    def login(password, out):
        # The login form needs its CSRF cookie and field.
        try:
            with urllib.request.urlopen(base + "/admin/login", timeout=30) as r:
                page = r.read().decode()
                cookie = r.headers.get("set-cookie", "").split(";")[0]
            csrf = page.split('name="csrf" value="')[1].split('"')[0]
            body = urllib.parse.urlencode({"email": "agent@example.com", "password": password, "csrf": csrf}).encode()
            req = urllib.request.Request(base + "/admin/login", data=body, headers={"content-type": "application/x-www-form-urlencoded", "cookie": cookie}, method="POST")
            opener = urllib.request.build_opener(NoRedirect)
            with opener.open(req, timeout=60) as r:
                out.append(r.status)
        except urllib.error.HTTPError as e:
            out.append(e.code)
        except Exception as e:  # noqa: BLE001 - a figure, not a test
            out.append(str(e)[:40])

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    for n in (100,):
        rss0 = rss_kb()
        out = []
        threads = [threading.Thread(target=login, args=("wrong password!!", out)) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = {}
        for c in out:
            counts[c] = counts.get(c, 0) + 1
        report(f"4 {n} parallel wrong logins", f"statuses {counts}; RSS {rss0} -> {rss_kb()} kB")
        time.sleep(1)

# 6. Email HTML nested deep, and a huge References header.
if inbound:
    for depth in (16_000, 64_000, 100_000):
        html = "<div>" * depth + "Where is my order?" + "</div>" * depth
        mail = (f"From: deep@example.com\r\nTo: support@shop.test\r\nSubject: q\r\nMessage-ID: <deep{depth}.{time.time()}@example.com>\r\n"
                f"Content-Type: text/html\r\n\r\n{html}\r\n").encode()
        t0 = time.time()
        s, _, _ = post("/v1/email/inbound", mail, {"content-type": "message/rfc822", "x-shopkeep-key": inbound}, timeout=120)
        report(f"6 html {depth} deep ({len(mail) // 1024} KB)", f"{s} in {time.time() - t0:.2f} s")
    refs = " ".join(f"<r{i}@example.com>" for i in range(50_000))
    mail = f"From: refs@example.com\r\nTo: support@shop.test\r\nSubject: q\r\nMessage-ID: <refs.{time.time()}@example.com>\r\nReferences: {refs}\r\n\r\nWhere is my order?\r\n".encode()
    t0 = time.time()
    s, _, _ = post("/v1/email/inbound", mail, {"content-type": "message/rfc822", "x-shopkeep-key": inbound}, timeout=120)
    report("6 50,000 References", f"{s} in {time.time() - t0:.2f} s")

# 7. A client-chosen conversation id.
s, body, _ = say("hello", "c_" + "1" * 32)
report("7 chosen conversation id", f"{s} {body.get('error', {}).get('code')}")
